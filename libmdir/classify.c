/*
 * classify.c: filing the queued header batches into folders by their
 * rules (DESIGN §4 mdird, mdir(5) STATES AND INVARIANTS, mdir-rules(5)).
 *
 * A round plans every batch first: the account folder's rules, and the
 * rules of each folder they file into, decide where each part goes.  A
 * batch whose plan touches a folder holding .hold is left where it is.
 * Then the round claims the planned batches by renaming them from
 * .mdird/queue into .mdird/work and makes the claim durable; files every
 * entry of the plans (a hard link and the record, with a "batch" field
 * naming the batch); makes all of that durable with one sync; tells the
 * watchers; releases the batches by unlinking them from work; and only
 * then runs the programs (notify, pipe).  So:
 * - a batch in queue has filed nothing;
 * - a batch in work may have filed some of its entries: after a crash it
 *   is filed again "carefully", skipping each entry a folder already
 *   holds from that batch (its record names the batch, the part and, for
 *   a forward, the address); a refiling that files nothing new runs no
 *   effects (they ran before the crash), unless this process's own failed
 *   round left the batch there (owe(): they never ran);
 * - a batch gone from work is filed whole.
 * Filing a batch twice therefore changes nothing, and a crash at any point
 * loses nothing.  A batch that cannot be read, or whose account is gone,
 * is set aside in .mdird/failed with a log line: never lost, never retried
 * in a loop.  Rules are plain functions of the record, so a replay plans
 * what the first try planned, unless someone edited the rules in between.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <glib.h>

#include "mdir.h"
#include "private.h"
#include "classify.h"

/*
 * A round files batches in slices of SLICE entries, the slices of
 * several batches together in turns of about TURN entries, and starts no
 * turn after ROUND_US (but always one), so that one message of 100,000 parts
 * neither makes the mail queued behind it wait nor SIGTERM (the loop gets
 * back between rounds).  A batch partly filed stays claimed in work, its
 * plan kept in memory for the next round; after a crash it is refiled
 * carefully like any other.
 */
#define SLICE 100
#define TURN 1000
#define ROUND_US (200 * G_TIME_SPAN_MILLISECOND)

static void
cached_free(gpointer p)
{
	Cached *c = p;

	mdir_rules_free(c->rules);
	g_free(c);
}

static void batch_free(gpointer p);

MdirClassifier *
mdir_classifier_new(MdirStore *store)
{
	MdirClassifier *c = g_new0(MdirClassifier, 1);

	c->store = store;
	c->rules = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, cached_free);
	c->ongoing = g_ptr_array_new_with_free_func(batch_free);
	c->folders = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
	    (GDestroyNotify)mdir_folder_free);
	c->max_new_folders = 20;
	c->owed = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	c->owed_changes = g_ptr_array_new_with_free_func(g_free);
	return c;
}

void
mdir_classifier_free(MdirClassifier *classifier)
{
	if (classifier == NULL)
		return;
	g_hash_table_unref(classifier->rules);
	g_ptr_array_unref(classifier->ongoing);
	g_hash_table_unref(classifier->folders);
	g_hash_table_unref(classifier->owed);
	g_ptr_array_unref(classifier->owed_changes);
	g_free(classifier);
}

void
mdir_classifier_set_max_new_folders(MdirClassifier *classifier, guint max)
{
	classifier->max_new_folders = max;
}

void
mdir_classifier_reload(MdirClassifier *classifier)
{
	g_hash_table_remove_all(classifier->rules);
}

static void
filing_free(gpointer p)
{
	Filing *f = p;

	g_free(f->folder);
	g_free(f->src);
	mdir_record_free(f->record);
	g_free(f->name);
	g_free(f->forward_to);
	g_free(f);
}

static void
later_free(gpointer p)
{
	Later *l = p;

	g_free(l->folder);
	g_free(l->src);
	mdir_record_free(l->record);
	g_strfreev(l->argv);
	g_free(l);
}

static void
batch_free(gpointer p)
{
	Batch *b = p;

	if (b == NULL)
		return;
	g_free(b->name);
	g_free(b->dir);
	g_ptr_array_unref(b->filings);
	g_ptr_array_unref(b->later);
	g_hash_table_unref(b->folders);
	g_hash_table_unref(b->planned);
	g_hash_table_unref(b->seen);
	g_ptr_array_unref(b->actions);
	g_free(b->message_id);
	g_free(b->account);
	if (b->recs)
		g_ptr_array_unref(b->recs);
	if (b->shared)
		g_hash_table_unref(b->shared);
	g_free(b);
}

/* Filing ------------------------------------------------------------------------ */

/* Whether the entry @name of @folder is the stored part @src (a link). */
static gboolean
same_file(MdirFolder *folder, const char *name, const char *src)
{
	g_autofree char *p = mdir_folder_entry_path(folder, name);
	struct stat a, b;

	return lstat(p, &a) == 0 && stat(src, &b) == 0 && a.st_ino == b.st_ino &&
	    a.st_dev == b.st_dev;
}

/*
 * What @folder holds from batch @b already, as "url\tforward-to" keys,
 * after a crash.  An entry linked without its record (the crash fell
 * between the two) gets its record now; every one found is made sure to
 * be in .changes (mdir_folder_adopt()).
 */
static GHashTable *
filed_from(MdirFolder *folder, Batch *b, GError **error)
{
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_autoptr(GPtrArray) names = mdir_folder_list(folder, error);
	g_autoptr(GPtrArray) found = g_ptr_array_new();

	if (names == NULL)
		return NULL;
	for (guint i = 0; i < names->len; i++) {
		const char *n = names->pdata[i];
		g_autoptr(MdirRecord) r = mdir_folder_load_record(folder, n, NULL);
		const char *fw;

		for (guint j = 0; r == NULL && j < b->filings->len; j++) {
			Filing *fi = b->filings->pdata[j];

			if (fi->forward_to || strcmp(fi->folder, mdir_folder_name(folder)) != 0 ||
			    !same_file(folder, n, fi->src))
				continue;
			/* through the folder's verb: under its lock, no link followed */
			if (!mdir_folder_save_record(folder, n, fi->record, error))
				return NULL;
			r = mdir_record_copy(fi->record);
		}
		if (r == NULL || g_strcmp0(mdir_record_get(r, "batch"), b->name) != 0)
			continue;
		fw = mdir_record_get(r, "forward-to");
		g_hash_table_add(seen, g_strdup_printf("%s\t%s", mdir_record_get(r, "url"),
		    fw ? fw : ""));
		g_ptr_array_add(found, names->pdata[i]);
	}
	if (!mdir_folder_adopt(folder, found, error))
		return NULL;
	return g_steal_pointer(&seen);
}

/*
 * A forward's file: Resent-* fields (RFC 5322 §3.6.6) on top of the raw
 * message, with its line ends, in the store's tmp.  Transfer full.
 */
static char *
wrap_forward(MdirClassifier *c, const Filing *fi, GError **error)
{
	g_autofree char *unique = mdir_unique_name();
	g_autofree char *path = NULL;
	g_autofree char *date = mdir_time_now(MDIR_TIME_RFC5322);
	const char *account = mdir_record_get(fi->record, "account");
	g_autofree char *from = account ? g_path_get_basename(account) : g_strdup("mdird");
	g_autoptr(GString) head = g_string_new(NULL);
	char buf[65536];
	const char *eol;
	ssize_t got;
	int in, out;

	in = open(fi->src, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		mdir_set_errno(error, errno, fi->src);
		return NULL;
	}
	got = read(in, buf, sizeof(buf) - 1);
	buf[got > 0 ? got : 0] = '\0';
	eol = strstr(buf, "\r\n") ? "\r\n" : "\n";
	g_string_printf(head, "Resent-From: %s%sResent-To: %s%sResent-Date: %s%s"
			      "Resent-Message-ID: <%s@mdird>%s",
	    from, eol, fi->forward_to, eol, date, eol, unique, eol);
	out = mdir_store_tmp_open(c->store, MDIR_FILE_MODE, &path, error);
	if (out < 0) {
		close(in);
		return NULL;
	}
	gboolean ok = write(out, head->str, head->len) == (ssize_t)head->len;

	while (ok && got > 0) {
		ok = write(out, buf, got) == got;
		got = read(in, buf, sizeof(buf));
	}
	if (!ok || got < 0) {
		mdir_set_errno(error, errno ? errno : EIO, path);
		close(in);
		close(out);
		unlink(path);
		return NULL;
	}
	close(in);
	close(out);
	return g_steal_pointer(&path);
}

static void
shared_free(gpointer p)
{
	if (p != NULL)
		unlink(p);
	g_free(p);
}

/* b->shared made: a NULL value for each part filed into more than one folder. */
static void
count_shared(Batch *b)
{
	g_autoptr(GHashTable) once = g_hash_table_new(g_str_hash, g_str_equal);

	b->shared = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, shared_free);
	for (guint i = 0; i < b->filings->len; i++) {
		Filing *fi = b->filings->pdata[i];
		const char *url = mdir_record_get(fi->record, "url");

		if (fi->forward_to || url == NULL)
			continue;
		if (!g_hash_table_add(once, (gpointer)(guintptr)url))
			g_hash_table_insert(b->shared, g_strdup(url), NULL);
	}
}

/*
 * The record of @fi written once into the store's tmp, if its part goes
 * to more than one folder: each folder links it (mdir_folder_add_entries()),
 * a file made once, not one a folder.  It is what each would write: the
 * same record, "batch" included.  NULL: write it in each (a part filed
 * once, a forward, trouble here).  Removed with the batch; one a crash
 * leaves is litter of .mstore/tmp.
 */
static const char *
shared_record(MdirClassifier *c, Batch *b, const Filing *fi)
{
	const char *url = mdir_record_get(fi->record, "url");
	g_autofree char *text = NULL;
	char *path = NULL;
	gsize len;
	gboolean ok;
	int fd;

	if (b->shared == NULL)
		count_shared(b);
	if (fi->forward_to || url == NULL || !g_hash_table_contains(b->shared, url))
		return NULL;
	if ((path = g_hash_table_lookup(b->shared, url)) != NULL)
		return path;
	fd = mdir_store_tmp_open(c->store, MDIR_FILE_MODE, &path, NULL);
	if (fd < 0)
		return NULL;
	text = mdir_record_to_string(fi->record, &len);
	/* per file, made durable here once; a whole-fs sync covers it later */
	ok = write(fd, text, len) == (ssize_t)len &&
	    (mdir_store_whole_sync(c->store) || fsync(fd) == 0);
	if (close(fd) < 0 || !ok) {
		unlink(path);
		g_free(path);
		g_hash_table_remove(b->shared, url); /* written in each, then */
		return NULL;
	}
	g_hash_table_insert(b->shared, g_strdup(url), path);
	return path;
}

/* An entry of a turn: a filing and its batch. */
typedef struct {
	Batch *b;
	Filing *fi;
} Item;

/* What @f holds from @b already, after a crash (@b careful); NULL on trouble. */
static GHashTable *
seen_in(MdirFolder *f, Batch *b, const char *name, GError **error)
{
	GHashTable *seen = g_hash_table_lookup(b->seen, name);

	if (seen == NULL && (seen = filed_from(f, b, error)) != NULL)
		g_hash_table_insert(b->seen, g_strdup(name), seen);
	return seen;
}

/*
 * Files @group (Item), entries of one or more batches planned into the
 * folder @name, skipping those a careful batch filed already: under one
 * lock, with one write of .changes and .version for them all.
 */
static gboolean
file_into(MdirClassifier *c, const char *name, GPtrArray *group, GPtrArray *changes,
    GError **error)
{
	Item *first = group->pdata[0];
	MdirFolder *f = classify_batch_folder(c, first->b, name, TRUE, error);
	g_autoptr(GArray) entries = g_array_new(FALSE, TRUE, sizeof(MdirFolderEntry));
	g_autoptr(GPtrArray) tmps = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) files = g_ptr_array_new(); /* shared records, or NULL */
	g_autoptr(GPtrArray) whose = g_ptr_array_new(); /* the batch of each entry */
	gboolean ok = TRUE;

	if (f == NULL)
		return FALSE;
	for (guint i = 0; i < group->len && ok; i++) {
		Item *it = group->pdata[i];
		Filing *fi = it->fi;
		MdirFolderEntry e = { fi->src, fi->record, fi->name, NULL, 0 };
		const char *record_file = NULL;
		GHashTable *seen = NULL;
		g_autofree char *key = NULL;

		if (it->b->careful && (seen = seen_in(f, it->b, name, error)) == NULL) {
			ok = FALSE; /* and the forwards' files made so far removed */
			break;
		}
		key = g_strdup_printf("%s\t%s", mdir_record_get(fi->record, "url"),
		    fi->forward_to ? fi->forward_to : "");
		if (seen && g_hash_table_contains(seen, key))
			continue;
		if (fi->forward_to) {
			char *wrapped = wrap_forward(c, fi, error);

			ok = wrapped != NULL;
			e.src = wrapped;
			if (wrapped)
				g_ptr_array_add(tmps, wrapped);
		} else {
			record_file = shared_record(c, it->b, fi);
		}
		if (ok) {
			g_array_append_val(entries, e);
			g_ptr_array_add(files, (gpointer)(guintptr)record_file);
			g_ptr_array_add(whose, it->b);
		}
	}
	ok = ok && mdir_folder_add_entries_linked(f, (MdirFolderEntry *)(void *)entries->data,
	    (const char *const *)files->pdata, entries->len, FALSE, error);
	for (guint i = 0; i < entries->len; i++) {
		MdirFolderEntry *e = &g_array_index(entries, MdirFolderEntry, i);
		Batch *b = whose->pdata[i];

		b->filed += e->used != NULL;
		if (e->used)
			g_ptr_array_add(changes, g_strdup_printf("%s\t%" G_GUINT64_FORMAT "\t%s",
			    mdir_folder_name(f), e->version, e->used));
		g_free(e->used);
	}
	for (guint i = 0; i < tmps->len; i++)
		unlink(tmps->pdata[i]);
	return ok;
}

/*
 * Files a turn: the next slice of each batch of @turn, up to SLICE
 * entries each, a folder at a time (in the order the folders first
 * appear), the entries of all of them that go to one folder together.
 */
static gboolean
file_turn(MdirClassifier *c, GPtrArray *turn, GPtrArray *changes, GError **error)
{
	g_autoptr(GHashTable) groups = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
	    (GDestroyNotify)g_ptr_array_unref);
	g_autoptr(GPtrArray) order = g_ptr_array_new();

	for (guint j = 0; j < turn->len; j++) {
		Batch *b = turn->pdata[j];
		guint end = MIN(b->filings->len, b->next + SLICE);

		for (guint i = b->next; i < end; i++) {
			Filing *fi = b->filings->pdata[i];
			GPtrArray *g = g_hash_table_lookup(groups, fi->folder);
			Item *it = g_new(Item, 1);

			if (g == NULL) {
				g = g_ptr_array_new_with_free_func(g_free);
				g_hash_table_insert(groups, fi->folder, g);
				g_ptr_array_add(order, fi->folder);
			}
			it->b = b;
			it->fi = fi;
			g_ptr_array_add(g, it);
		}
	}
	for (guint i = 0; i < order->len; i++)
		if (!file_into(c, order->pdata[i], g_hash_table_lookup(groups, order->pdata[i]),
		    changes, error))
			return FALSE;
	for (guint j = 0; j < turn->len; j++) {
		Batch *b = turn->pdata[j];

		b->next = MIN(b->filings->len, b->next + SLICE);
	}
	return TRUE;
}

/* The round ------------------------------------------------------------------- */

static Batch *
batch_new(const char *name, const char *dir, gboolean careful)
{
	Batch *b = g_new0(Batch, 1);

	b->name = g_strdup(name);
	b->dir = g_strdup(dir);
	b->careful = careful;
	b->claimed = careful;
	b->filings = g_ptr_array_new_with_free_func(filing_free);
	b->later = g_ptr_array_new_with_free_func(later_free);
	b->folders = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	b->planned = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	b->seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
	    (GDestroyNotify)g_hash_table_unref);
	b->actions = g_ptr_array_new_with_free_func(g_free);
	return b;
}

static gboolean
sync_dirs(MdirStore *store, const char *a, const char *b, GError **error)
{
	if (mdir_store_whole_sync(store))
		return mdir_syncfs(a, error);
	return mdir_fsync_dir(a, error) && mdir_fsync_dir(b, error);
}

/* Whether @name is one of @batches. */
static gboolean
listed(GPtrArray *batches, const char *name)
{
	for (guint i = 0; i < batches->len; i++)
		if (strcmp(((Batch *)batches->pdata[i])->name, name) == 0)
			return TRUE;
	return FALSE;
}

/* Moves batch @b from the queue to work; FALSE on trouble. */
static gboolean
claim(Batch *b, const char *queue, const char *work, GError **error)
{
	g_autofree char *from = g_build_filename(queue, b->name, NULL);
	g_autofree char *to = g_build_filename(work, b->name, NULL);

	if (rename(from, to) < 0) {
		if (errno == ENOENT) { /* someone else took it */
			g_clear_pointer(&b->dir, g_free);
			return TRUE;
		}
		mdir_set_errno(error, errno, from);
		return FALSE;
	}
	g_free(b->dir);
	b->dir = g_strdup(work);
	b->claimed = TRUE;
	return TRUE;
}

/*
 * The batches of a round, planned: those a crash left in work, those whose
 * planning earlier rounds began, then up to @max new from the queue; those
 * planned whole are claimed into work.  Held ones are counted and left.
 * Batches being filed in slices are not among them.
 */
static GPtrArray *
take(MdirClassifier *c, guint max, guint *held, GError **error)
{
	g_autofree char *queue = mdir_queue_dir(c->store);
	g_autofree char *work = classify_mdird_dir(c->store, "work");
	g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(batch_free);
	g_autoptr(GPtrArray) names = NULL;
	g_autoptr(GDir) d = NULL;
	const char *n;
	guint fresh = 0;

	if (!mdir_mkdir_durable(work, error) || !mdir_mkdir_durable(queue, error))
		return NULL;
	d = g_dir_open(work, 0, NULL);
	while (d && (n = g_dir_read_name(d)) != NULL)
		if (n[0] != '.' && !listed(c->ongoing, n))
			g_ptr_array_add(out, batch_new(n, work, TRUE));
	for (guint i = 0; i < c->ongoing->len;)
		if (((Batch *)c->ongoing->pdata[i])->planning)
			g_ptr_array_add(out, g_ptr_array_steal_index(c->ongoing, i));
		else
			i++;
	names = mdir_queue_list(c->store, error);
	if (names == NULL)
		return NULL;
	/* as many batches as a round takes may be under way, not more */
	max = c->ongoing->len + out->len < max ? max - c->ongoing->len - out->len : 0;
	for (guint i = 0; i < names->len && fresh < max; i++)
		if (!listed(c->ongoing, names->pdata[i]) && !listed(out, names->pdata[i]) &&
		    ++fresh)
			g_ptr_array_add(out, batch_new(names->pdata[i], queue, FALSE));
	fresh = 0;
	for (guint i = 0; i < out->len; i++) {
		Batch *b = out->pdata[i];
		Route how = classify_plan(c, b, error);

		if (how == FAILED)
			return NULL;
		b->planning = how == PLANNING;
		if (how == HELD) {
			(*held)++;
			g_clear_pointer(&b->dir, g_free);
		}
		if (how != ROUTED || b->dir == NULL || b->claimed)
			continue;
		if (!claim(b, queue, work, error))
			return NULL;
		fresh += b->claimed;
	}
	/* the claim is durable before anything is filed: otherwise a crash
	 * could put a half-filed batch back in the queue, to be filed whole */
	c->claim_sync_us = g_get_monotonic_time();
	if (fresh > 0 && !sync_dirs(c->store, work, queue, error))
		return NULL;
	c->claim_sync_us = g_get_monotonic_time() - c->claim_sync_us;
	return g_steal_pointer(&out);
}

/* @s with control characters made '?', for one log line. */
static void
log_safe(GString *s)
{
	for (gsize i = 0; i < s->len; i++)
		if ((guchar)s->str[i] < 0x20 || s->str[i] == 0x7f)
			s->str[i] = '?';
}

/*
 * One line a batch filed, at info, in Postfix's manner: what an admin
 * greps for when asked "where did that message go?".
 */
static void
log_batch(const Batch *b)
{
	g_autoptr(GString) s = g_string_new(NULL);
	g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
	g_autofree char *addr = b->account ? g_path_get_basename(b->account) : NULL;

	g_string_printf(s, "batch=%s, message-id=<%s>, account=%s, entries=%u, folders=", b->name,
	    b->message_id ? b->message_id : "", addr ? addr : "", b->filed);
	for (guint i = 0; i < b->filings->len; i++) {
		const Filing *fi = b->filings->pdata[i];

		if (g_hash_table_add(seen, fi->folder))
			g_string_append_printf(s, "%s%s", g_hash_table_size(seen) > 1 ? ";" : "",
			    fi->folder);
	}
	g_string_append(s, ", actions=");
	for (guint i = 0; i < b->actions->len; i++)
		g_string_append_printf(s, "%s%s", i ? ";" : "", (char *)b->actions->pdata[i]);
	if (b->actions->len == 0)
		g_string_append(s, "none");
	if (s->len > 2000)
		g_string_truncate(s, 2000);
	log_safe(s);
	mdir_log(LOG_INFO, "%s", s->str);
}

/* The changes of the round, to the watchers: durable, the batches not yet released. */
static void
tell_changes(GPtrArray *changes, MdirEffectFunc func, gpointer data)
{
	for (guint i = 0; i < changes->len; i++) {
		g_auto(GStrv) f = g_strsplit(changes->pdata[i], "\t", 3);
		MdirEffect e = { .kind = MDIR_EFFECT_CHANGE, .folder = f[0], .op = '+',
			.name = f[2], .version = g_ascii_strtoull(f[1], NULL, 10) };

		func(&e, data);
	}
}

/*
 * The programs of the batches the round finished, released.  A careful
 * refiling that filed nothing new skips them: they ran before the crash
 * that left it in work, unless this process's own failed round left it
 * there (@owed), before any ran.
 */
static void
tell_later(GHashTable *owed, GPtrArray *finished, MdirEffectFunc func, gpointer data)
{
	for (guint i = 0; i < finished->len; i++) {
		Batch *b = finished->pdata[i];
		gboolean was_owed = g_hash_table_remove(owed, b->name);

		if (func == NULL || (b->careful && b->filed == 0 && !was_owed))
			continue;
		for (guint j = 0; b->dir && j < b->later->len; j++) {
			Later *l = b->later->pdata[j];
			MdirEffect e = { .kind = l->kind, .folder = l->folder, .record = l->record,
				.path = l->src, .argv = (const char *const *)l->argv };

			func(&e, data);
		}
	}
}

/* Whether @b has entries to file now. */
static gboolean
to_file(const Batch *b)
{
	return b->dir != NULL && !b->planning && b->next < b->filings->len;
}

/*
 * Files the batches of @round a slice each in turn, round and round while
 * the round is young (one turn at least): a batch of a few entries is
 * filed whole in the first turn whatever is queued with it.  A turn takes
 * the slices of as many batches as make TURN entries (a careful one ends
 * it), and files all it has for one folder at once: one lock, one .changes
 * and .version write a folder a turn, not one a batch.  FALSE on I/O
 * trouble.
 */
static gboolean
file_round(MdirClassifier *c, GPtrArray *round, GPtrArray *changes, GError **error)
{
	gint64 end = g_get_monotonic_time() + ROUND_US;
	g_autoptr(GPtrArray) turn = g_ptr_array_new();
	gboolean more = TRUE;
	guint size = 0;

	while (more) {
		more = FALSE;
		for (guint i = 0; i <= round->len; i++) {
			Batch *b = i < round->len ? round->pdata[i] : NULL;

			if (b && to_file(b)) {
				g_ptr_array_add(turn, b);
				size += MIN(SLICE, b->filings->len - b->next);
			}
			/* a turn is full, or the last of this pass; a careful
			 * batch (refiled after a crash) reads what its folders
			 * hold first, a long look: it ends its turn */
			if (turn->len == 0 || (size < TURN && b != NULL && !b->careful))
				continue;
			if (!file_turn(c, turn, changes, error))
				return FALSE;
			g_ptr_array_set_size(turn, 0);
			size = 0;
			if (g_get_monotonic_time() > end)
				return TRUE;
		}
		for (guint i = 0; i < round->len; i++)
			more |= to_file(round->pdata[i]);
	}
	return TRUE;
}

/*
 * A round failed: the batches it claimed or filed in part stay in work, to
 * be refiled carefully, and their effects and its changes are owed.  A
 * careful batch that filed nothing here was left by a crash: its own
 * rule stands (tell()).
 */
static void
owe(MdirClassifier *c, GPtrArray *round, GPtrArray *changes)
{
	for (guint i = 0; i < round->len; i++) {
		Batch *b = round->pdata[i];

		if (b->claimed && b->dir != NULL && (!b->careful || b->filed > 0))
			g_hash_table_add(c->owed, g_strdup(b->name));
	}
	/* moved, @changes left empty */
	g_ptr_array_extend_and_steal(c->owed_changes, g_ptr_array_ref(changes));
}

static gint
drain_round(MdirClassifier *classifier, guint max, MdirEffectFunc func, gpointer user_data,
    guint *held, GError **error)
{
	MdirStore *store = classifier->store;
	g_autoptr(GPtrArray) changes = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) round = NULL;
	g_autoptr(GPtrArray) finished = g_ptr_array_new_with_free_func(batch_free);
	g_autoptr(GPtrArray) going = g_ptr_array_new_with_free_func(batch_free);
	guint held_here = 0;
	gint n = 0;
	gint64 t[5];

	t[0] = g_get_monotonic_time();
	classifier->claim_sync_us = 0;
	round = take(classifier, max, &held_here, error);
	if (held)
		*held = held_here;
	if (round == NULL)
		return -1;
	/* the new batches first, then those under way: a big batch does not
	 * keep ordinary mail waiting behind it */
	while (classifier->ongoing->len > 0)
		g_ptr_array_add(round, g_ptr_array_steal_index(classifier->ongoing, 0));
	/* what a failed round filed, told once this round's sync covers it */
	g_ptr_array_extend_and_steal(changes, g_steal_pointer(&classifier->owed_changes));
	classifier->owed_changes = g_ptr_array_new_with_free_func(g_free);
	t[1] = g_get_monotonic_time();
	if (!file_round(classifier, round, changes, error)) {
		owe(classifier, round, changes);
		return -1; /* under way or not, all are refiled carefully */
	}
	/* one sync for every entry of every batch of the round */
	t[2] = g_get_monotonic_time();
	if (changes->len > 0 && mdir_store_whole_sync(store) &&
	    !mdir_syncfs(mdir_store_root(store), error)) {
		owe(classifier, round, changes);
		return -1;
	}
	/* watchers hear at once: what they are told is durable */
	t[3] = g_get_monotonic_time();
	if (func)
		tell_changes(changes, func, user_data);
	t[4] = g_get_monotonic_time();
	for (guint i = 0; i < round->len; i++) {
		Batch *b = g_steal_pointer(&round->pdata[i]);
		g_autofree char *p = NULL;

		if (b->dir != NULL && (b->planning || b->next < b->filings->len)) {
			g_ptr_array_add(going, b);
			continue;
		}
		g_ptr_array_add(finished, b);
		n++;
		if (b->dir == NULL)
			continue;
		log_batch(b);
		/* no sync: a release lost in a crash is a careful refiling of nothing */
		p = g_build_filename(b->dir, b->name, NULL);
		unlink(p);
	}
	g_ptr_array_extend_and_steal(classifier->ongoing, g_steal_pointer(&going));
	tell_later(classifier->owed, finished, func, user_data);
	if (changes->len > 0)
		mdir_log(LOG_DEBUG, "round: %u batches, %u entries; microseconds: take %" G_GINT64_FORMAT
		    " (its claim's sync %" G_GINT64_FORMAT "), file %" G_GINT64_FORMAT ", sync %"
		    G_GINT64_FORMAT ", tell %" G_GINT64_FORMAT ", release and programs %"
		    G_GINT64_FORMAT, round->len, changes->len, t[1] - t[0],
		    classifier->claim_sync_us, t[2] - t[1], t[3] - t[2], t[4] - t[3],
		    g_get_monotonic_time() - t[4]);
	return n - (gint)held_here;
}

gint
mdir_classifier_drain(MdirClassifier *classifier, guint max, MdirEffectFunc func,
    gpointer user_data, guint *held, GError **error)
{
	gint n;

	classifier->drains++; /* each folder's .rules and .hold looked at again */
	n = drain_round(classifier, max, func, user_data, held, error);
	/* the folders stay open while a batch is under way, no longer: one
	 * renamed or removed meanwhile is opened again by its name */
	if (classifier->ongoing->len == 0)
		g_hash_table_remove_all(classifier->folders);
	return n;
}

guint
mdir_classifier_pending(const MdirClassifier *classifier)
{
	return classifier->ongoing->len;
}
