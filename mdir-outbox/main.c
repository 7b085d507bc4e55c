/*
 * mdir-outbox: sends the messages of SMTP/Outbox through sendmail, from
 * cron, every minute (DESIGN §4, mdir-outbox(1)).
 *
 * For each message: the envelope from its own headers, a DKIM signature
 * (or two), sendmail -i -f SENDER -- RCPT..., and by its exit code the
 * message moves to SMTP/Sent, stays for a later try, or moves to
 * SMTP/Failed with a notice to its sender (send.c has the at-most-once
 * rule).  It does not queue or retry within a run (sendmail's MTA does
 * that once it has the message), and it never mails a notice.  Quiet when
 * there is nothing to do: cron mails whatever it prints.  One run at a
 * time: a second one exits 0 at once.
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

typedef struct {
	MdirConfig *config;
	MdirStore *store;
	MdirFolder *outbox;
	char *tmpdir;
	DkimKey *rsa;
	DkimKey *ed25519;
	gboolean dry_run;
	gboolean verbose;
	guint sent, deferred, failed;
} Run;

static void G_GNUC_PRINTF(2, 3)
say(const Run *r, const char *format, ...)
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

/* Moves entry @name with @rec (and, if given, @file as its content) to @to. */
static gboolean
move_to(const Run *r, const char *name, const char *file, const MdirRecord *rec,
    const char *to, GError **error)
{
	g_autoptr(MdirFolder) dest = mdir_folder_open(r->store, to, MDIR_FOLDER_CREATE, error);
	g_autofree char *src = mdir_folder_entry_path(r->outbox, name);
	g_autofree char *used = NULL;

	MdirFolderEntry e = { file ? file : src, rec, name, NULL, 0 };
	gboolean ok;

	if (dest == NULL)
		return FALSE;
	/* one flush for both: the removal's sync makes the addition durable
	 * too on a file system synced whole; per file, each is synced anyway */
	ok = mdir_folder_add_entries(dest, &e, 1, FALSE, error) &&
	    mdir_folder_remove(r->outbox, name, NULL, error);
	g_free(e.used);
	return ok;
}

static void
fail(Run *r, const char *name, MdirRecord *rec, const char *sender, const char *subject,
    const char *why)
{
	g_autofree char *stamp = send_stamp();
	g_autofree char *src = mdir_folder_entry_path(r->outbox, name);
	g_autoptr(GError) e = NULL;

	r->failed++;
	say(r, "%s: failed: %s", name, why);
	if (r->dry_run)
		return;
	mdir_record_remove(rec, "outbox-in-flight");
	mdir_record_set(rec, "outbox-failed-at", stamp);
	mdir_record_set(rec, "outbox-failure", why);
	notice_file(r->store, r->config, r->tmpdir, src, sender, subject, why);
	if (!move_to(r, name, NULL, rec, "SMTP/Failed", &e))
		mdir_log(LOG_ERR, "%s: cannot move to SMTP/Failed: %s", name, e->message);
}

/* Whether SMTP/Sent holds the copy sent under @token. */
static gboolean
in_sent(const Run *r, const char *token)
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

/* A mark left by a crash between sendmail and the result: never resend. */
static void
leftover(Run *r, const char *name, MdirRecord *rec)
{
	const char *token = mdir_record_get(rec, "outbox-in-flight");
	g_autoptr(GError) e = NULL;

	if (in_sent(r, token)) {
		say(r, "%s: sent before a crash (in SMTP/Sent); removed from the outbox", name);
		if (!r->dry_run && !mdir_folder_remove(r->outbox, name, NULL, &e))
			mdir_log(LOG_ERR, "%s: %s", name, e->message);
		return;
	}
	fail(r, name, rec, mdir_record_get(rec, "outbox-sender"), mdir_record_get(rec, "subject"),
	    "possibly sent: a run stopped after handing it to sendmail and before "
	    "recording the result; not sent again");
}

/* The message with its signatures, in tmp.  NULL and @error: key trouble. */
static char *
prepare(Run *r, const Message *m, GError **error)
{
	const char *domain = mdir_config_get(r->config, "outbox", "dkim_domain");
	g_autofree char *path = g_strdup_printf("%s/outbox.%08x", r->tmpdir, g_random_int());
	g_autoptr(GString) sigs = g_string_new(NULL);
	DkimKey *keys[] = { r->ed25519, r->rsa }; /* RSA on top: read first */

	if (r->rsa || r->ed25519) {
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
		}
	}
	if (!message_write(m, sigs->str, path, error))
		return NULL;
	return g_steal_pointer(&path);
}

/* For smtp-stats: an event per recipient, with its domain. */
static void
record_events(const Run *r, const Message *m, const char *kind)
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

static void
finish(Run *r, const char *name, const Message *m, MdirRecord *rec, const char *file,
    int code, const char *said)
{
	SendOutcome outcome = send_outcome(code);

	record_events(r, m, outcome == SEND_OK ? "sent" : outcome == SEND_LATER ? "deferred" :
	    "failed");
	g_autofree char *stamp = send_stamp();
	g_autoptr(GError) e = NULL;
	gint64 next = 0;

	switch (outcome) {
	case SEND_OK:
		mdir_record_set(rec, "outbox-id", mdir_record_get(rec, "outbox-in-flight"));
		mdir_record_remove(rec, "outbox-in-flight");
		mdir_record_set(rec, "sent-at", stamp);
		mdir_record_set(rec, "sendmail-result", "0 queued by sendmail");
		r->sent++;
		say(r, "%s: sent: message-id=<%s> from=<%s> rcpts=%u", name, m->message_id,
		    m->sender, m->rcpts->len);
		/* the copy kept is the one that went out, signatures and all */
		if (!move_to(r, name, file, rec, "SMTP/Sent", &e))
			mdir_log(LOG_CRIT, "%s: sent, but cannot move to SMTP/Sent: %s", name,
			    e->message);
		return;
	case SEND_LATER:
		mdir_record_remove(rec, "outbox-in-flight");
		if (!send_schedule(rec, r->config, said, &next)) {
			g_autofree char *why = g_strdup_printf("gave up after %s: %s",
			    mdir_config_get(r->config, "outbox", "give_up_after"), said);

			fail(r, name, rec, m->sender, m->subject, why);
			return;
		}
		r->deferred++;
		say(r, "%s: deferred: message-id=<%s> rcpts=%u exit=%d: %s", name, m->message_id,
		    m->rcpts->len, code, said);
		if (!mdir_folder_save_record(r->outbox, name, rec, &e))
			mdir_log(LOG_ERR, "%s: %s", name, e->message);
		return;
	case SEND_FAILED: {
		g_autofree char *why = g_strdup_printf("sendmail exit %d: %s", code, said);

		fail(r, name, rec, m->sender, m->subject, why);
	}
	}
}

/* One entry of the outbox; FALSE only for trouble that stops the run. */
static gboolean
one(Run *r, const char *name, GError **error)
{
	g_autoptr(MdirRecord) rec = mdir_folder_load_record(r->outbox, name, NULL);
	g_autofree char *path = mdir_folder_entry_path(r->outbox, name);
	g_autoptr(Message) m = NULL;
	g_autoptr(GError) e = NULL;
	g_autofree char *file = NULL;
	g_autofree char *said = NULL;
	g_autofree char *token = NULL;
	int code;

	if (rec == NULL)
		rec = mdir_record_new(); /* dropped in by a sync client */
	if (mdir_record_get(rec, "outbox-in-flight")) {
		leftover(r, name, rec);
		return TRUE;
	}
	if (!send_due(rec))
		return TRUE;
	m = message_load(path, mdir_config_get(r->config, "outbox", "sender"),
	    mdir_config_get(r->config, "outbox", "dkim_domain"), r->tmpdir, &e);
	if (m == NULL) {
		if (!g_error_matches(e, MDIR_ERROR, MDIR_ERROR_USAGE)) {
			mdir_log(LOG_ERR, "%s: %s; left for the next run", name, e->message);
			return TRUE;
		}
		fail(r, name, rec, NULL, mdir_record_get(rec, "subject"), e->message);
		return TRUE;
	}
	file = prepare(r, m, error);
	if (file == NULL)
		return FALSE;
	if (r->dry_run) {
		g_autofree char *to = NULL;

		g_ptr_array_add(m->rcpts, NULL);
		to = g_strjoinv(" ", (char **)m->rcpts->pdata);
		say(r, "%s: would send: from <%s> to %s%s", name, m->sender, to,
		    r->rsa || r->ed25519 ? ", signed" : "");
		g_ptr_array_remove_index(m->rcpts, m->rcpts->len - 1);
		unlink(file);
		return TRUE;
	}
	token = g_strdup_printf("%" G_GINT64_MODIFIER "x.%d.%08x", g_get_real_time(),
	    (int)getpid(), g_random_int());
	mdir_record_set(rec, "outbox-in-flight", token);
	mdir_record_set(rec, "outbox-sender", m->sender);
	if (mdir_record_get(rec, "subject") == NULL)
		mdir_record_set(rec, "subject", m->subject);
	if (!mdir_folder_save_record(r->outbox, name, rec, error)) {
		unlink(file);
		return FALSE; /* not marked: not sent */
	}
	code = send_run(mdir_config_get(r->config, "outbox", "sendmail"), m, file,
	    mdir_config_get_duration_ms(r->config, "outbox", "timeout"), &said);
	finish(r, name, m, rec, file, code, said);
	unlink(file);
	return TRUE;
}

static gboolean
load_keys(Run *r, GError **error)
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
print_records(const Run *r)
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

/* One run at a time: a lock beside the outbox, held until exit. */
static int
lock_outbox(const Run *r)
{
	g_autofree char *p = g_build_filename(mdir_folder_path(r->outbox), ".outbox.lock", NULL);
	int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0660);

	if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0)
		return fd;
	if (fd >= 0)
		close(fd);
	return -1;
}

static int
run(Run *r, const char *folder, gboolean record_only)
{
	g_autoptr(GError) e = NULL;
	g_autoptr(GPtrArray) names = NULL;
	int lock;

	r->store = mdir_store_open_config(r->config, &e);
	if (r->store == NULL || !load_keys(r, &e))
		goto out;
	if (record_only) {
		if (r->rsa == NULL && r->ed25519 == NULL)
			g_set_error(&e, MDIR_ERROR, MDIR_ERROR_CONFIG, "no [outbox] DKIM key");
		else
			print_records(r);
		goto out;
	}
	r->outbox = mdir_folder_open(r->store, folder, MDIR_FOLDER_CREATE, &e);
	if (r->outbox == NULL)
		goto out;
	lock = lock_outbox(r);
	if (lock < 0) {
		mdir_log(LOG_INFO, "another run holds %s; this one stops", folder);
		if (r->verbose || isatty(STDERR_FILENO))
			fprintf(stderr, "mdir-outbox: another run holds %s\n", folder);
		goto out;
	}
	r->tmpdir = g_build_filename(mdir_store_root(r->store), ".mstore", "tmp", NULL);
	names = mdir_folder_list(r->outbox, &e);
	for (guint i = 0; names && i < names->len && !e; i++)
		one(r, names->pdata[i], &e);
	if (r->sent + r->deferred + r->failed > 0)
		mdir_log(LOG_INFO, "%s: %u sent, %u deferred, %u failed", folder, r->sent,
		    r->deferred, r->failed);
	close(lock);
out:
	if (e)
		mdir_log(e->domain == MDIR_ERROR && e->code == MDIR_ERROR_CONFIG ? LOG_CRIT :
		    LOG_ERR, "%s", e->message);
	dkim_key_free(r->rsa);
	dkim_key_free(r->ed25519);
	mdir_folder_free(r->outbox);
	mdir_store_free(r->store);
	g_free(r->tmpdir);
	return mdir_exit_code(e, MDIR_EXIT_TOOL);
}

int
main(int argc, char **argv)
{
	gboolean record = FALSE;
	Run r = { 0 };
	GOptionEntry entries[] = {
		{ "dry-run", 'n', 0, G_OPTION_ARG_NONE, &r.dry_run,
		    "show what would be sent; send nothing, move nothing", NULL },
		{ "verbose", 'v', 0, G_OPTION_ARG_NONE, &r.verbose, "say what is done", NULL },
		{ "dkim-record", 0, 0, G_OPTION_ARG_NONE, &record,
		    "print the DNS records of the DKIM keys", NULL },
		{ NULL, 0, 0, 0, NULL, NULL, NULL },
	};
	g_autoptr(MdirOptions) opts = NULL;
	g_autoptr(GError) e = NULL;
	int rc;

	g_set_prgname("mdir-outbox");
	g_mime_init(); /* addresses are parsed, and 8-bit mail re-encoded, by GMime */
	opts = mdir_options_new("mdir-outbox", "[FOLDER]", "Send the outbox (FOLDER, "
	    "SMTP/Outbox by default); see mdir-outbox(1).", 0);
	mdir_options_add(opts, entries);
	switch (mdir_options_parse(opts, &argc, &argv, 0, 1, &e)) {
	case 0:
		return EX_OK;
	case -1:
		fprintf(stderr, "mdir-outbox: %s\n", e->message);
		return EX_USAGE;
	}
	mdir_log_open(MDIR_LOG_SYSLOG | MDIR_LOG_STDERR);
	/* cron mails what we print: only warnings and worse on stderr */
	mdir_log_set_level(r.verbose ? LOG_INFO : LOG_WARNING);
	r.config = mdir_config_load(mdir_options_config(opts), &e);
	if (r.config == NULL) {
		mdir_log(LOG_CRIT, "%s", e->message);
		return mdir_exit_code(e, MDIR_EXIT_TOOL);
	}
	rc = run(&r, argc > 1 ? argv[1] : "SMTP/Outbox", record);
	mdir_config_free(r.config);
	return rc;
}
