/*
 * outbox.c: one run of mdir-outbox over its outboxes: for each entry, the
 * message made ready (message.c), signed (dkim.c), handed to sendmail
 * (send.c) and filed by the result; main.c only parses the options.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <syslog.h>
#include <unistd.h>

#include <gmime/gmime.h>

#include "outbox.h"


/* What outbox_sync() does with the store's whole-file-system flushes. */
typedef enum {
	SYNC_NOW,  /* made now, with whatever is owed */
	SYNC_ONCE, /* made now, with whatever is owed; the next ones are owed */
	SYNC_OWE,  /* owed: made by the next flush made */
} SyncMode;

struct Outbox {
	MdirConfig *config;
	MdirStore *store;
	MdirFolder *outbox;
	DkimKey *rsa;
	DkimKey *ed25519;
	gboolean dry_run;
	gboolean verbose;
	/* the outbox at hand: mdir's own, or the outbox of an account */
	gboolean own;
	char *account;
	guint sent, deferred, failed;
	/* the store's whole-file-system flushes (outbox_sync) */
	SyncMode sync_mode;
	gboolean whole_sync; /* seen one: the file system is synced whole */
	char *sync_owed;     /* a flush owed: a path on the file system to sync */
	/* an entry sent and filed in SMTP/Sent, removed from r->outbox by the
	 * next flush (outbox_flush) */
	char *sent_name;
	struct stat sent_st; /* the file it was (the entry at hand's, below) */
	/* the entry at hand, as read (entry_known): only that file is removed
	 * from the outbox, never a new one put under its name since */
	struct stat entry_st;
	gboolean entry_known;
	/* inside a call that holds the outbox's lock: a flush made from it
	 * (outbox_sync) must not remove sent_name, which takes that lock */
	guint outbox_held;
	GHashTable *dests; /* folders filed into (dest_folder()), by name */
};

static void G_GNUC_PRINTF(2, 3)
say(const Outbox *r, const char *format, ...)
{
	g_autofree char *line = NULL;
	va_list ap;

	va_start(ap, format);
	line = g_strdup_vprintf(format, ap);
	va_end(ap);
	/* -v shows it on stderr through the log; -n shows it on stdout */
	mdir_log(LOG_INFO, "%s", line);
	if (r->dry_run && !r->verbose)
		printf("%s\n", line);
}

/* sendmail's status when it did not run */
#define NOT_RUN (-2)

/*
 * The line logged for each message, in Postfix's key=value manner: what
 * an admin greps for (the Message-ID, a recipient) and what became of it.
 */
static void
log_outcome(const Outbox *r, const char *name, const Message *m, const char *status,
    int code, const char *said)
{
	g_autoptr(GString) to = g_string_new(NULL);
	g_autofree char *sendmail = code == NOT_RUN ? g_strdup("") :
	    g_strdup_printf(" sendmail=%d", code);

	for (guint i = 0; m && i < m->rcpts->len; i++)
		g_string_append_printf(to, "%s<%s>", i ? "," : "", (char *)m->rcpts->pdata[i]);
	say(r, "message-id=<%s> from=<%s> to=%s status=%s%s signed=%s entry=%s/%s (%s)",
	    m ? m->message_id : "", m ? m->sender : "", to->str, status, sendmail,
	    m && m->signed_with ? m->signed_with : "no", mdir_folder_name(r->outbox), name,
	    said && *said ? said : "-");
}

static gboolean
same_fs(const char *a, const char *b)
{
	struct stat sa, sb;

	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev;
}

/*
 * Entry @name removed from the outbox, or its record saved, with
 * outbox_held set while the folder's lock is held (outbox_flush()).
 */
static gboolean
outbox_remove(Outbox *r, const char *name, const struct stat *was, GError **error)
{
	gboolean replaced = FALSE;
	gboolean ok;

	r->outbox_held++;
	ok = was ? mdir_folder_remove_same(r->outbox, name, was->st_dev, was->st_ino, &replaced,
	    NULL, error) : mdir_folder_remove(r->outbox, name, NULL, error);
	r->outbox_held--;
	if (ok && replaced)
		say(r, "%s: a new file took its name meanwhile: it stays, to be sent as a "
		    "message of its own", name);
	return ok;
}

/* The entry at hand, if it was read: to remove it, and nothing else. */
static const struct stat *
entry_read(const Outbox *r)
{
	return r->entry_known ? &r->entry_st : NULL;
}

static gboolean
outbox_save_record(Outbox *r, const char *name, const MdirRecord *rec, GError **error)
{
	gboolean ok;

	r->outbox_held++;
	ok = mdir_folder_save_record(r->outbox, name, rec, error);
	r->outbox_held--;
	return ok;
}

/*
 * The flush owed, made now: the removal of the entry last sent from its
 * outbox, whose own flush (mdir_folder_remove()) covers its file system,
 * then a syncfs of @path and of the owed path where that did not cover
 * them.  Everything written before the call is durable when it returns.
 */
static gboolean
outbox_flush(Outbox *r, const char *path, GError **error)
{
	g_autofree char *owed = g_steal_pointer(&r->sync_owed);
	g_autofree char *sent = g_steal_pointer(&r->sent_name);
	const char *done = NULL;
	g_autoptr(GError) e = NULL;

	if (sent && r->outbox_held) {
		/* under the outbox's lock: removed by a flush made outside it */
		r->sent_name = g_steal_pointer(&sent);
	} else if (sent && outbox_remove(r, sent, &r->sent_st, &e)) {
		done = mdir_folder_path(r->outbox);
	} else if (sent) {
		/* the mark stays, and SMTP/Sent has its token: the next run removes it */
		mdir_log(LOG_ERR, "%s: sent and in SMTP/Sent, but not removed from %s: %s", sent,
		    mdir_folder_name(r->outbox), e ? e->message : "?");
	}
	if (path && !(done && same_fs(done, path))) {
		if (!mdir_syncfs(path, error))
			return FALSE;
		done = path;
	}
	if (owed && !(done && same_fs(done, owed)) && !mdir_syncfs(owed, error))
		return FALSE;
	return TRUE;
}

/*
 * The store's whole-file-system flushes (mdir_store_set_sync_func()); per
 * file ([mdir] sync = fsync), the store and folders fsync their own files
 * and this is never called.  SYNC_OWE owes a flush instead of making it;
 * the next one made, or outbox_flush(), pays it.  A message sent costs one
 * flush (send_entry()): the one before its copy's rename in the store, which
 * makes durable its in-flight mark, written just before, and the previous
 * message's move to SMTP/Sent and copy's rename, written just after that
 * message's sendmail.
 */
static gboolean
outbox_sync(const char *path, gpointer data, GError **error)
{
	Outbox *r = data;

	r->whole_sync = TRUE;
	if (r->sync_mode == SYNC_OWE) {
		/* one file system in all but odd set-ups: another's paid now */
		if (r->sync_owed && !same_fs(r->sync_owed, path) && !outbox_flush(r, NULL, error))
			return FALSE;
		if (r->sync_owed == NULL)
			r->sync_owed = g_strdup(path);
		return TRUE;
	}
	if (r->sync_mode == SYNC_ONCE)
		r->sync_mode = SYNC_OWE;
	return outbox_flush(r, path, error);
}

/*
 * The in-flight mark gone from @rec: its token, and what names the copy
 * going out in the store (the Message-ID it is stored under and its
 * SHA-256: mdir_store_lookup()).
 */
static void
clear_mark(MdirRecord *rec)
{
	mdir_record_remove(rec, "outbox-in-flight");
	mdir_record_remove(rec, "outbox-in-flight-id");
	mdir_record_remove(rec, "outbox-in-flight-sha256");
	mdir_record_remove(rec, "outbox-in-flight-entry");
}

/* The entry a mark was made for (its device and inode), if it says. */
static gboolean
mark_entry(const MdirRecord *rec, struct stat *st)
{
	const char *v = mdir_record_get(rec, "outbox-in-flight-entry");
	guint64 dev, ino;

	if (v == NULL || sscanf(v, "%" G_GUINT64_FORMAT ":%" G_GUINT64_FORMAT, &dev, &ino) != 2)
		return FALSE;
	st->st_dev = (dev_t)dev;
	st->st_ino = (ino_t)ino;
	return TRUE;
}

/* Whom a notice about an entry goes to: the account, or mdir's sender. */
static const char *
notice_to(const Outbox *r, const MdirRecord *rec)
{
	return r->own ? mdir_record_get(rec, "outbox-sender") : r->account;
}

static gint
compare_strings(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}




/*
 * Folder @to (SMTP/Sent, SMTP/Failed), made if missing, opened once a run:
 * not resolved, opened and its .meta and .lock opened again a message.
 * Transfer none.
 */
static MdirFolder *
dest_folder(Outbox *r, const char *to, GError **error)
{
	MdirFolder *f = g_hash_table_lookup(r->dests, to);

	if (f)
		return f;
	f = mdir_folder_open(r->store, to, MDIR_FOLDER_CREATE, error);
	if (f)
		g_hash_table_insert(r->dests, g_strdup(to), f);
	return f;
}

/* @file filed under @to as @name with @rec, not flushed on a file system synced whole. */
static gboolean
file_into(Outbox *r, const char *name, const char *file, const MdirRecord *rec,
    const char *to, GError **error)
{
	MdirFolder *dest = dest_folder(r, to, error);
	MdirFolderEntry e = { file, rec, name, NULL, 0 };
	gboolean ok;

	if (dest == NULL)
		return FALSE;
	ok = mdir_folder_add_entries(dest, &e, 1, FALSE, error);
	g_free(e.used);
	return ok;
}

/* Moves entry @name to @to: @file (ours, never the entry's path) with @rec. */
static gboolean
move_to(Outbox *r, const char *name, const char *file, const MdirRecord *rec,
    const char *to, GError **error)
{
	/* one flush for both: the removal's sync makes the addition durable
	 * too on a file system synced whole; per file, each is synced anyway */
	return file_into(r, name, file, rec, to, error) &&
	    outbox_remove(r, name, entry_read(r), error);
}

static void
fail(Outbox *r, const char *name, const char *file, MdirRecord *rec, const Message *m,
    int code, const char *why)
{
	const char *subject = m ? m->subject : mdir_record_get(rec, "subject");
	static const char *const store_fields[] = { "url", "anchor", "part", "parts", "size",
		"sha256" };
	g_autofree char *stamp = send_stamp();
	g_autofree char *filed = NULL;
	g_autoptr(GError) e = NULL;

	r->failed++;
	log_outcome(r, name, m, "failed", code, why);
	if (r->dry_run)
		return;
	clear_mark(rec);
	mdir_record_set(rec, "outbox-failed-at", stamp);
	mdir_record_set(rec, "outbox-failure", why);
	/* what is filed is the copy read: no longer the stored part it was */
	if (mdir_record_get(rec, "url"))
		mdir_record_set(rec, "original-url", mdir_record_get(rec, "url"));
	for (gsize i = 0; i < G_N_ELEMENTS(store_fields); i++)
		mdir_record_remove(rec, store_fields[i]);
	/* a copy in memory has no inode to link: made a file first, which
	 * the notice reads too (it opens what it attaches without following
	 * a link) */
	filed = outbox_copy_to_file(file, r->store, &e);
	notice_file(r->store, r->config, filed ? filed : file, notice_to(r, rec), subject, why);
	if (filed == NULL || !move_to(r, name, filed, rec, "SMTP/Failed", &e))
		mdir_log(LOG_ERR, "%s: cannot move to SMTP/Failed: %s", name, e->message);
	if (filed && outbox_copy_in_memory(file))
		unlink(filed);
}

/* The signature fields of @m ("" unsigned).  NULL and @error: key trouble. */
static char *
prepare(Outbox *r, Message *m, GError **error)
{
	const char *domain = mdir_config_get(r->config, "outbox", "dkim_domain");
	g_autoptr(GString) sigs = g_string_new(NULL);
	g_autoptr(GString) with = g_string_new(NULL);
	g_autoptr(GString) sels = g_string_new(NULL);
	DkimKey *keys[] = { r->ed25519, r->rsa }; /* RSA on top: read first */

	if ((r->rsa || r->ed25519) && !policy_may_sign(r->config, m))
		mdir_log(LOG_INFO, "<%s>: From <%s>, not a local domain: not signed", m->message_id,
		    m->from);
	else if (r->rsa || r->ed25519) {
		DkimBody *b = dkim_body_new();
		g_autofree char *bh = NULL;
		FILE *fp = fopen(m->body_path, "re");
		char buf[65536];
		size_t n;

		if (fp && fseeko(fp, m->body_at, SEEK_SET) == 0)
			while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
				dkim_body_update(b, buf, n);
		if (fp)
			fclose(fp);
		bh = dkim_body_finish(b);
		for (gsize i = 0; i < G_N_ELEMENTS(keys); i++) {
			g_autofree char *sig = NULL;

			if (keys[i] == NULL)
				continue;
			g_autofree char *selector = outbox_selector(r->config, keys[i] == r->ed25519);

			sig = dkim_sign(keys[i], domain, selector, m->fields, bh,
			    g_get_real_time() / G_USEC_PER_SEC, error);
			if (sig == NULL)
				return NULL;
			g_string_prepend(sigs, sig);
			g_string_prepend(with, keys[i] == r->ed25519 ? ",ed25519-sha256" :
			    ",rsa-sha256");
			g_string_prepend(sels, selector);
			g_string_prepend_c(sels, ',');
		}
	}
	if (with->len > 0)
		m->signed_with = g_strdup_printf("%s d=%s s=%s", with->str + 1, domain,
		    sels->str + 1);
	return g_string_free(g_steal_pointer(&sigs), FALSE);
}

/* For smtp-stats: an event per recipient, with its domain. */
static void
record_events(const Outbox *r, const Message *m, const char *kind)
{
	struct stat st;
	g_autofree char *size = g_strdup_printf("%" G_GINT64_FORMAT,
	    stat(m->path, &st) == 0 ? (gint64)st.st_size : (gint64)0);

	for (guint i = 0; i < m->rcpts->len; i++) {
		const char *rcpt = m->rcpts->pdata[i];
		const char *at = strrchr(rcpt, '@');

		mdir_events_record(r->config, kind, "sender", m->sender, "rcpt", rcpt, "domain",
		    at ? at + 1 : NULL, "size", size, "message_id", m->message_id, NULL);
	}
}

/*
 * The signed copy stored as @id filed under SMTP/Sent, the entry removed:
 * on a file system synced whole, by the next flush (outbox_flush()), the
 * next message's before its sendmail or the run's last.  Until then a
 * crash leaves the entry marked, and SMTP/Sent holding its token if the
 * filing was flushed (leftover()): never sent twice.
 */
static gboolean
file_sent(Outbox *r, const char *name, const Message *m, const char *id,
    const MdirRecord *rec, MdirFolder *half_in, const char *half, GError **error)
{
	g_autofree char *part = NULL;
	g_autoptr(MdirRecord) sent = sent_record(r->store, id, m, rec, &part, error);

	if (sent == NULL)
		return FALSE;
	/* a crash left it filed without its record: the record is all it lacks */
	if (half ? !mdir_folder_save_record(half_in, half, sent, error) :
	    !file_into(r, name, part, sent, "SMTP/Sent", error))
		return FALSE;
	if (!r->whole_sync)
		return outbox_remove(r, name, entry_read(r), error);
	if (r->sent_name && !outbox_flush(r, NULL, error))
		return FALSE;
	/* whatever sends has read its entry (one(), leftover()) */
	g_assert(r->entry_known);
	r->sent_name = g_strdup(name);
	r->sent_st = r->entry_st;
	return TRUE;
}

/* @id: the copy that went out, stored by sent_commit() (@kept_new: by this run). */
static void
finish(Outbox *r, const char *name, const Message *m, MdirRecord *rec, const char *id,
    gboolean kept_new, int code, const char *said)
{
	SendOutcome outcome = send_outcome(code);

	record_events(r, m, outcome == SEND_OK ? "sent" : outcome == SEND_LATER ? "deferred" :
	    "failed");
	g_autofree char *stamp = send_stamp();
	g_autoptr(GError) e = NULL;
	gint64 next = 0;

	if (outcome != SEND_OK)
		sent_drop(r->store, id, kept_new);
	switch (outcome) {
	case SEND_OK:
		mdir_record_set(rec, "outbox-id", mdir_record_get(rec, "outbox-in-flight"));
		clear_mark(rec);
		mdir_record_set(rec, "sent-at", stamp);
		mdir_record_set(rec, "sendmail-result", "0 queued by sendmail");
		r->sent++;
		log_outcome(r, name, m, "sent", code, said);
		/* the copy kept is the one that went out, signatures and all */
		if (!file_sent(r, name, m, id, rec, NULL, NULL, &e))
			mdir_log(LOG_CRIT, "%s: sent, but cannot move to SMTP/Sent: %s", name,
			    e->message);
		return;
	case SEND_LATER:
		clear_mark(rec);
		if (!send_schedule(rec, r->config, said, &next)) {
			g_autofree char *why = g_strdup_printf("gave up after %s: %s",
			    mdir_config_get(r->config, "outbox", "give_up_after"), said);

			fail(r, name, m->path, rec, m, code, why);
			return;
		}
		r->deferred++;
		log_outcome(r, name, m, "deferred", code, said);
		if (!outbox_save_record(r, name, rec, &e))
			mdir_log(LOG_ERR, "%s: %s", name, e->message);
		return;
	case SEND_FAILED: {
		g_autofree char *why = g_strdup_printf("sendmail exit %d: %s", code, said);

		fail(r, name, m->path, rec, m, code, why);
	}
	}
}

/*
 * The message of an entry.  In mdir's own outbox the envelope is the
 * record's, written by mdir (a forward's: the rule's address, the
 * account): its headers are a remote sender's and name nobody here.
 */
static Message *
load(const Outbox *r, const char *path, const MdirRecord *rec, GError **error)
{
	g_autofree const char **rcpts = NULL;
	g_autoptr(Message) m = NULL;
	MessageLoad how = {
		.default_sender = mdir_config_get(r->config, "outbox", "sender"),
		.domain = mdir_config_get(r->config, "outbox", "dkim_domain"),
		.store = r->store,
	};

	if (r->own) {
		rcpts = mdir_record_get_all(rec, "outbox-recipient");
		if (rcpts == NULL || rcpts[0] == NULL) {
			g_set_error(error, MDIR_ERROR, MDIR_ERROR_USAGE,
			    "no outbox-recipient in its record: an entry of %s is sent "
			    "only to the recipients its record names",
			    mdir_folder_name(r->outbox));
			return NULL;
		}
		how.rcpts = rcpts;
		how.sender = mdir_record_get(rec, "outbox-sender");
		if (how.sender == NULL)
			how.sender = "";
	}
	m = message_load(path, &how, error);
	if (m && !r->own && !policy_bound(r->store, r->config, r->account, m, error))
		return NULL;
	return g_steal_pointer(&m);
}

/* Whether SMTP/Sent holds the copy sent under @token. */
static gboolean
in_sent(const Outbox *r, const char *token)
{
	g_autoptr(MdirFolder) sent = mdir_folder_open(r->store, "SMTP/Sent", 0, NULL);
	g_autoptr(GPtrArray) names = sent ? mdir_folder_list(sent, NULL) : NULL;

	for (guint i = 0; names && i < names->len; i++) {
		g_autoptr(MdirRecord) rec = mdir_folder_load_record(sent, names->pdata[i], NULL);

		if (rec && g_strcmp0(mdir_record_get(rec, "outbox-id"), token) == 0)
			return TRUE;
	}
	return FALSE;
}

/*
 * The name of the entry of @sent without a record that is a link to the
 * stored copy of @rec's mark: a crash came between its link and its
 * record.  Only a copy sendmail took is filed there, and the mark's token
 * is new: no entry of an earlier sending of the same message lacks it.
 */
static char *
unrecorded(const Outbox *r, MdirFolder *sent, const MdirRecord *rec, char **id)
{
	const char *message_id = mdir_record_get(rec, "outbox-in-flight-id");
	const char *sha = mdir_record_get(rec, "outbox-in-flight-sha256");
	g_autofree char *dir = NULL;
	g_autofree char *part = NULL;
	g_autoptr(GPtrArray) names = NULL;
	struct stat copy, st;

	/* this sending's own copy, by its content: a copy of the same
	 * Message-ID another sending stored is not this one (a mark without
	 * its SHA-256, from an older mdir-outbox, names none) */
	*id = message_id && sha && sent ? mdir_store_lookup(r->store, message_id, sha, NULL) :
	    NULL;
	dir = *id ? mdir_store_message_dir(r->store, *id) : NULL;
	part = dir ? g_build_filename(dir, "0", NULL) : NULL;
	if (part == NULL || stat(part, &copy) != 0)
		return NULL;
	names = mdir_folder_list(sent, NULL);
	for (guint i = 0; names && i < names->len; i++) {
		g_autofree char *path = mdir_folder_entry_path(sent, names->pdata[i]);
		g_autoptr(MdirRecord) had = NULL;

		if (lstat(path, &st) != 0 || st.st_ino != copy.st_ino || st.st_dev != copy.st_dev)
			continue;
		had = mdir_folder_load_record(sent, names->pdata[i], NULL);
		if (had == NULL)
			return g_strdup(names->pdata[i]);
	}
	return NULL;
}

/*
 * Entry @name, sent before a crash as stored copy @id, filed as @half in
 * @sent without its record: given the record finish() would have written.
 * FALSE if the message cannot be read again (the caller files it as
 * possibly sent).
 */
static gboolean
refile(Outbox *r, const char *name, MdirRecord *rec, const char *file, MdirFolder *sent,
    const char *half, const char *id)
{
	g_autoptr(GError) e = NULL;
	g_autoptr(Message) m = load(r, file, rec, &e);

	if (m == NULL)
		return FALSE;
	r->sent++;
	say(r, "%s: sent before a crash (in SMTP/Sent as %s, without its record); filed "
	    "again, removed from the outbox", name, half);
	if (r->dry_run)
		return TRUE;
	mdir_record_set(rec, "outbox-id", mdir_record_get(rec, "outbox-in-flight"));
	clear_mark(rec);
	mdir_record_set(rec, "sendmail-result", "0 queued by sendmail (filed after a crash)");
	if (!file_sent(r, name, m, id, rec, sent, half, &e))
		mdir_log(LOG_ERR, "%s: sent, but cannot be filed in SMTP/Sent: %s", name,
		    e->message);
	return TRUE;
}

/* A mark left by a crash between sendmail and the result: never resend. */
static void
leftover(Outbox *r, const char *name, MdirRecord *rec)
{
	const char *token = mdir_record_get(rec, "outbox-in-flight");
	g_autoptr(GError) e = NULL;
	char *file = NULL;
	g_autoptr(MdirFolder) sent = NULL;
	g_autofree char *half = NULL;
	g_autofree char *id = NULL;
	struct stat marked = { 0 }, now;

	/* the file the mark was made for, which alone may be removed */
	r->entry_known = mark_entry(rec, &marked);
	r->entry_st = marked;
	if (in_sent(r, token)) {
		say(r, "%s: sent before a crash (in SMTP/Sent); removed from the outbox", name);
		if (!r->dry_run && !outbox_remove(r, name, entry_read(r), &e))
			mdir_log(LOG_ERR, "%s: %s", name, e->message);
		return;
	}
	file = outbox_entry_copy(r->outbox, name, r->store, &now, &e);
	if (file == NULL) {
		mdir_log(LOG_ERR, "%s: %s", name, e->message);
		return;
	}
	if (r->entry_known && (now.st_dev != marked.st_dev || now.st_ino != marked.st_ino)) {
		/* never handed to sendmail: the mark was the other file's */
		say(r, "%s: the file marked before a crash was replaced by a new one; its mark "
		    "dropped, the new one to be sent as a message of its own", name);
		if (!r->dry_run && !outbox_remove(r, name, &marked, &e))
			mdir_log(LOG_ERR, "%s: %s", name, e->message);
		outbox_copy_free(file);
		return;
	}
	r->entry_st = now;
	r->entry_known = TRUE;
	sent = mdir_folder_open(r->store, "SMTP/Sent", 0, NULL);
	half = unrecorded(r, sent, rec, &id);
	if (half && refile(r, name, rec, file, sent, half, id)) {
		outbox_copy_free(file);
		return;
	}
	fail(r, name, file, rec, NULL, NOT_RUN, "possibly sent: a run stopped after handing it to sendmail and before "
	    "recording the result; not sent again");
	outbox_copy_free(file);
}

/* The mark of an entry that was not sent after all, removed (durably). */
static void
unmark(Outbox *r, const char *name, MdirRecord *rec)
{
	g_autoptr(GError) e = NULL;

	clear_mark(rec);
	if (!outbox_save_record(r, name, rec, &e))
		mdir_log(LOG_ERR, "%s: %s (a next run files it as possibly sent)", name,
		    e->message);
}

/* An entry due, read into @copy; FALSE only for trouble that stops the run. */
static gboolean
send_entry(Outbox *r, const char *name, MdirRecord *rec, const char *copy, GError **error)
{
	g_autoptr(Message) m = NULL;
	g_autoptr(GError) e = NULL;
	g_autofree char *sigs = NULL;
	g_autofree char *file = NULL;
	g_autofree char *said = NULL;
	g_autofree char *token = NULL;
	g_autofree char *entry = NULL;
	g_autofree char *kept = NULL;
	gboolean kept_new = FALSE;
	g_autoptr(MdirStoreTxn) txn = NULL;
	gboolean marked = FALSE, durable;
	int code;

	m = load(r, copy, rec, &e);
	if (m == NULL) {
		if (!g_error_matches(e, MDIR_ERROR, MDIR_ERROR_USAGE)) {
			mdir_log(LOG_ERR, "%s: %s; left for the next run", name, e->message);
			return TRUE;
		}
		fail(r, name, copy, rec, NULL, NOT_RUN, e->message);
		return TRUE;
	}
	sigs = prepare(r, m, error);
	if (sigs == NULL)
		return FALSE;
	if (r->dry_run) {
		g_autofree char *to = NULL;

		g_ptr_array_add(m->rcpts, NULL);
		to = g_strjoinv(" ", (char **)m->rcpts->pdata);
		say(r, "%s: would send: from <%s> to %s%s", name, m->sender, to,
		    m->signed_with ? ", signed" : "");
		g_ptr_array_remove_index(m->rcpts, m->rcpts->len - 1);
		return TRUE;
	}
	token = g_strdup_printf("%" G_GINT64_MODIFIER "x.%d.%08x", g_get_real_time(),
	    (int)getpid(), g_random_int());
	entry = g_strdup_printf("%" G_GUINT64_FORMAT ":%" G_GUINT64_FORMAT,
	    (guint64)r->entry_st.st_dev, (guint64)r->entry_st.st_ino);
	/*
	 * The copy that goes out, written; the mark, naming it by its
	 * content; then the copy published as a message of its own: the
	 * store's flush before its rename makes the mark durable too, before
	 * sendmail runs (outbox_sync); the rename's is owed, for the next
	 * flush.  A copy stored before makes no flush: the mark's is made
	 * here.  Per file, each is durable on its own.
	 */
	r->sync_mode = SYNC_OWE;
	txn = sent_write(r->store, m, sigs, error);
	if (txn) {
		mdir_record_set(rec, "outbox-in-flight", token);
		mdir_record_set(rec, "outbox-in-flight-id", m->message_id);
		mdir_record_set(rec, "outbox-in-flight-sha256",
		    mdir_record_get(mdir_store_txn_record(txn, 0), "sha256"));
		mdir_record_set(rec, "outbox-in-flight-entry", entry);
		mdir_record_set(rec, "outbox-sender", m->sender);
		if (mdir_record_get(rec, "subject") == NULL)
			mdir_record_set(rec, "subject", m->subject);
		marked = outbox_save_record(r, name, rec, error);
	}
	r->sync_mode = SYNC_ONCE;
	if (marked)
		kept = sent_commit(r->store, txn, m, &kept_new, &file, error);
	durable = kept && (r->sync_mode == SYNC_OWE || outbox_flush(r, NULL, error));
	r->sync_mode = SYNC_NOW;
	if (!durable) {
		if (kept)
			sent_drop(r->store, kept, kept_new);
		if (marked)
			unmark(r, name, rec);
		return FALSE; /* not durably marked: not sent */
	}
	/* sendmail reads the stored copy: the one kept is the one that went out */
	code = send_run(mdir_config_get(r->config, "outbox", "sendmail"), m, file,
	    mdir_config_get_duration_ms(r->config, "outbox", "timeout"), &said);
	finish(r, name, m, rec, kept, kept_new, code, said);
	return TRUE;
}

/* One entry of the outbox; FALSE only for trouble that stops the run. */
static gboolean
one(Outbox *r, const char *name, GError **error)
{
	g_autoptr(MdirRecord) rec = mdir_folder_load_record(r->outbox, name, NULL);
	g_autoptr(GError) e = NULL;
	char *copy = NULL;
	gboolean ok;

	if (rec == NULL)
		rec = mdir_record_new(); /* dropped in by a sync client */
	r->entry_known = FALSE;
	if (mdir_record_get(rec, "outbox-in-flight")) {
		leftover(r, name, rec);
		return TRUE;
	}
	if (!send_due(rec))
		return TRUE;
	copy = outbox_entry_copy(r->outbox, name, r->store, &r->entry_st, &e);
	if (copy == NULL) {
		mdir_log(LOG_ERR, "%s/%s: %s; not sent", mdir_folder_name(r->outbox), name,
		    e->message);
		return TRUE;
	}
	r->entry_known = TRUE;
	ok = send_entry(r, name, rec, copy, error);
	outbox_copy_free(copy);
	return ok;
}


static gboolean
load_keys(Outbox *r, GError **error)
{
	const char *rsa = mdir_config_get(r->config, "outbox", "dkim_key");
	const char *ed = mdir_config_get(r->config, "outbox", "dkim_ed25519_key");

	if (rsa == NULL && ed == NULL)
		return TRUE;
	if (mdir_config_get(r->config, "outbox", "dkim_domain") == NULL ||
	    mdir_config_get(r->config, "outbox", "dkim_selector") == NULL) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_CONFIG,
		    "[outbox] a DKIM key needs dkim_domain and dkim_selector");
		return FALSE;
	}
	if (rsa && (r->rsa = dkim_key_load(rsa, FALSE, error)) == NULL)
		return FALSE;
	if (ed && (r->ed25519 = dkim_key_load(ed, TRUE, error)) == NULL)
		return FALSE;
	return TRUE;
}

/* The TXT records to publish, one a key, in zone-file form. */
static void
print_records(const Outbox *r)
{
	const char *domain = mdir_config_get(r->config, "outbox", "dkim_domain");
	const DkimKey *keys[] = { r->rsa, r->ed25519 };

	for (gsize i = 0; i < G_N_ELEMENTS(keys); i++) {
		g_autofree char *rec = keys[i] ? dkim_key_record(keys[i]) : NULL;
		g_autofree char *sel = keys[i] ? outbox_selector(r->config, i == 1) : NULL;
		gsize len;

		if (rec == NULL)
			continue;
		printf("%s._domainkey.%s. IN TXT (", sel, domain);
		/* a TXT string holds 255 bytes at most: split the key */
		len = strlen(rec);
		for (gsize at = 0; at < len; at += 250)
			printf(" \"%.250s\"", rec + at);
		printf(" )\n");
	}
}

/*
 * One run at a time: a lock in mdir's own outbox, held until the run ends;
 * -1 and no error if another run holds it, -1 and an error if it cannot
 * be opened (a link there is refused, never followed).
 */
static int
lock_outbox(const MdirFolder *own, GError **error)
{
	g_autofree char *p = g_build_filename(mdir_folder_path(own), ".outbox.lock", NULL);
	int fd = mdir_file_open_nofollow(p, O_RDWR | O_CREAT, error);

	if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0)
		return fd;
	if (fd >= 0)
		close(fd);
	return -1;
}

Outbox *
outbox_open(MdirConfig *config, OutboxFlags flags, GError **error)
{
	g_autoptr(Outbox) r = g_new0(Outbox, 1);

	r->config = config;
	r->dry_run = (flags & OUTBOX_DRY_RUN) != 0;
	r->verbose = (flags & OUTBOX_VERBOSE) != 0;
	r->dests = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
	    (GDestroyNotify)mdir_folder_free);
	/* the DNS records need the keys only: no store to reach, or to fail on */
	if (!(flags & OUTBOX_KEYS_ONLY) &&
	    (r->store = mdir_store_open_config(config, error)) == NULL)
		return NULL;
	if (r->store)
		mdir_store_set_sync_func(r->store, outbox_sync, r);
	if (!load_keys(r, error))
		return NULL;
	return g_steal_pointer(&r);
}

void
outbox_free(Outbox *r)
{
	if (r == NULL)
		return;
	dkim_key_free(r->rsa);
	dkim_key_free(r->ed25519);
	mdir_folder_free(r->outbox);
	if (r->dests)
		g_hash_table_unref(r->dests);
	g_free(r->account);
	g_free(r->sync_owed);
	g_free(r->sent_name);
	mdir_store_free(r->store);
	g_free(r);
}

gboolean
outbox_print_records(Outbox *r, GError **error)
{
	if (r->rsa == NULL && r->ed25519 == NULL) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_CONFIG, "no [outbox] DKIM key");
		return FALSE;
	}
	print_records(r);
	return TRUE;
}



/* Sends what is due in one outbox. */
static gboolean
send_folder(Outbox *r, const char *folder, GError **error)
{
	g_autoptr(GPtrArray) names = NULL;
	GError *e = NULL;

	r->outbox = mdir_folder_open(r->store, folder, 0, error);
	if (r->outbox == NULL)
		return FALSE;
	r->own = strcmp(mdir_folder_name(r->outbox), OWN_OUTBOX) == 0;
	r->account = policy_outbox_account(mdir_folder_name(r->outbox));
	if (!r->own && r->account == NULL)
		g_set_error(&e, MDIR_ERROR, MDIR_ERROR_USAGE,
		    "%s: not an outbox (" OWN_OUTBOX " or " ACCOUNTS "/ADDRESS/Outbox)", folder);
	else if (!r->own || policy_own_outbox_private(mdir_folder_path(r->outbox), &e))
		names = mdir_folder_list(r->outbox, &e);
	for (guint i = 0; names && i < names->len && !e; i++)
		one(r, names->pdata[i], &e);
	/* the last message's move and copy flushed, its entry removed */
	if (r->sent_name || r->sync_owed)
		outbox_flush(r, NULL, e ? NULL : &e);
	g_clear_pointer(&r->outbox, mdir_folder_free);
	g_clear_pointer(&r->account, g_free);
	if (e) {
		g_propagate_error(error, e);
		return FALSE;
	}
	return TRUE;
}

/* mdir's own outbox, then each account's that has one (aliases are links: skipped). */
static GPtrArray *
list_outboxes(const Outbox *r)
{
	g_autofree char *accounts = g_build_filename(mdir_store_root(r->store), ACCOUNTS, NULL);
	g_autoptr(GDir) d = g_dir_open(accounts, 0, NULL);
	GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	const char *n;

	g_ptr_array_add(out, g_strdup(OWN_OUTBOX));
	while (d && (n = g_dir_read_name(d)) != NULL) {
		g_autofree char *acct = g_build_filename(accounts, n, NULL);
		g_autofree char *box = g_build_filename(acct, "Outbox", NULL);
		struct stat st;

		if (n[0] != '.' && lstat(acct, &st) == 0 && S_ISDIR(st.st_mode) &&
		    lstat(box, &st) == 0 && S_ISDIR(st.st_mode))
			g_ptr_array_add(names, g_strdup(n));
	}
	g_ptr_array_sort(names, compare_strings);
	for (guint i = 0; i < names->len; i++)
		g_ptr_array_add(out, g_strconcat(ACCOUNTS "/", names->pdata[i], "/Outbox", NULL));
	return out;
}

gboolean
outbox_run(Outbox *r, const char *folder, GError **error)
{
	g_autoptr(MdirFolder) own = mdir_folder_open(r->store, OWN_OUTBOX, MDIR_FOLDER_CREATE,
	    error);
	g_autoptr(GPtrArray) boxes = NULL;
	GError *e = NULL;
	int lock;

	if (own == NULL)
		return FALSE;
	lock = lock_outbox(own, &e);
	if (lock < 0 && e) {
		g_propagate_error(error, e);
		return FALSE;
	}
	if (lock < 0) {
		mdir_log(LOG_INFO, "another run holds %s; this one stops", OWN_OUTBOX);
		if (r->verbose || isatty(STDERR_FILENO))
			fprintf(stderr, "mdir-outbox: another run holds %s\n", OWN_OUTBOX);
		return TRUE;
	}
	if (folder) {
		boxes = g_ptr_array_new_with_free_func(g_free);
		g_ptr_array_add(boxes, g_strdup(folder));
	} else {
		boxes = list_outboxes(r);
	}
	for (guint i = 0; i < boxes->len && !e; i++)
		send_folder(r, boxes->pdata[i], &e);
	if (r->sent + r->deferred + r->failed > 0)
		mdir_log(LOG_INFO, "%u sent, %u deferred, %u failed", r->sent, r->deferred,
		    r->failed);
	close(lock);
	if (e) {
		g_propagate_error(error, e);
		return FALSE;
	}
	return TRUE;
}
