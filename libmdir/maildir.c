/*
 * maildir.c: the Maildir view of the accounts, for Dovecot ([access]
 * maildir, DESIGN §4 "Mail access", mdird(8)).
 *
 * Each account folder SMTP/Accounts/ADDRESS, and each folder below it,
 * has a Maildir++ folder: the account's own is the template's directory
 * (the template's %a the address), a subfolder A/B is its .A.B.  Every
 * entry that is a whole message (part 0) is a hard link there, in new/,
 * to the stored raw message: never a copy (a link that cannot be made is
 * logged and left out).  Each Maildir folder keeps a file "mdir-map": the
 * folder's version it mirrors, then "entry<TAB>maildir name" a line.  A
 * sync replays the folder's .changes after that version, so whoever made
 * a change (rules, mstore rm or mv) it is mirrored; with no map, or a
 * version gone backwards (fsck restarted the log), it compares the whole
 * folder with the map.  What Dovecot does to the files (flags renamed
 * into cur/, expunges) stays Dovecot's: a message it removed is not put
 * back.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#include "mdir.h"
#include "private.h"

#define ACCOUNTS "SMTP/Accounts"
#define MAP_FILE "mdir-map"
/* Folders below an account deeper than this are not mirrored. */
#define MAX_DEPTH 32

typedef struct {
	guint64 version;
	gboolean found;	   /* the map file existed */
	GHashTable *names; /* entry -> maildir name */
	GHashTable *used;  /* maildir names given */
} Map;

static void
map_clear(Map *m)
{
	g_clear_pointer(&m->names, g_hash_table_unref);
	g_clear_pointer(&m->used, g_hash_table_unref);
}

gint64
mdir_maildir_time(const char *path, const MdirRecord *record)
{
	const char *at = record ? mdir_record_get(record, "received-at") : NULL;
	g_autoptr(GDateTime) dt = at ? g_date_time_new_from_iso8601(at, NULL) : NULL;
	struct stat st;

	if (dt)
		return g_date_time_to_unix(dt);
	return stat(path, &st) == 0 ? (gint64)st.st_mtime : (gint64)time(NULL);
}

/*
 * Made from the message itself (when it arrived, its hash), so that an
 * export finds what it wrote before; ",S=" lets Dovecot skip a stat.
 */
char *
mdir_maildir_name(const char *path, const MdirRecord *record, guint n)
{
	const char *sha = record ? mdir_record_get(record, "sha256") : NULL;
	g_autofree char *sum = NULL;
	g_autofree char *nth = n > 1 ? g_strdup_printf("_%u", n) : g_strdup("");
	struct stat st;

	if (sha == NULL || strlen(sha) < 32)
		sha = sum = mdir_sha256_file(path, NULL);
	return g_strdup_printf("%lld.H%.32s%s.mdir,S=%lld",
	    (long long)mdir_maildir_time(path, record), sha ? sha : "0", nth,
	    stat(path, &st) == 0 ? (long long)st.st_size : 0LL);
}

/* The template's directory for @address; NULL if the template has no %a. */
static char *
expand(const char *template, const char *address)
{
	g_autoptr(GString) s = g_string_new(NULL);
	gboolean had = FALSE;

	for (const char *p = template; *p; p++) {
		if (p[0] == '%' && p[1] == 'a') {
			g_string_append(s, address);
			had = TRUE;
			p++;
		} else if (p[0] == '%' && p[1] == '%') {
			g_string_append_c(s, '%');
			p++;
		} else {
			g_string_append_c(s, *p);
		}
	}
	return had ? g_string_free(g_steal_pointer(&s), FALSE) : NULL;
}

static gboolean
bad_name(GError **error, const char *folder, const char *why)
{
	g_set_error(error, MDIR_ERROR, MDIR_ERROR_BAD_NAME, "%s: %s", folder, why);
	return FALSE;
}

/*
 * The account's Maildir (@top) and, for a folder below it, its Maildir++
 * name there (@sub, "" for the account's own).  FALSE without @error:
 * no view for @folder.
 */
static gboolean
view_names(const MdirConfig *config, const char *folder, char **top, char **sub,
    GError **error)
{
	const char *template = mdir_config_get(config, "access", "maildir");
	g_auto(GStrv) parts = NULL;
	g_autoptr(GString) s = g_string_new(NULL);
	guint n;

	if (template == NULL || !g_str_has_prefix(folder, ACCOUNTS "/"))
		return FALSE;
	parts = g_strsplit(folder + strlen(ACCOUNTS "/"), "/", -1);
	n = g_strv_length(parts);
	/* every component a plain name: no way out of the template's directory */
	for (guint i = 0; i < n; i++)
		if (!mdir_name_is_safe(parts[i]) || mdir_name_is_reserved(parts[i]))
			return bad_name(error, folder, "a name the Maildir view cannot use");
	if (n == 0 || n > MAX_DEPTH)
		return bad_name(error, folder, "not an account's folder the Maildir view mirrors");
	*top = expand(template, parts[0]);
	if (*top == NULL) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_CONFIG,
		    "[access] maildir: '%s' has no %%a", template);
		return FALSE;
	}
	/* Maildir++: ".A.B"; a dot inside a name would be a level, so '_' */
	for (guint i = 1; i < n; i++) {
		g_string_append_c(s, '.');
		for (const char *p = parts[i]; *p; p++)
			g_string_append_c(s, *p == '.' ? '_' : *p);
	}
	*sub = g_string_free(g_steal_pointer(&s), FALSE);
	return TRUE;
}

char *
mdir_maildir_path(const MdirConfig *config, const char *folder, GError **error)
{
	g_autofree char *top = NULL;
	g_autofree char *sub = NULL;

	if (!view_names(config, folder, &top, &sub, error))
		return NULL;
	return *sub ? g_build_filename(top, sub, NULL) : g_steal_pointer(&top);
}

/*
 * One Maildir folder, opened following no link from the account's
 * directory down: whoever can write the view (Dovecot's users) cannot
 * send a link or a file anywhere else.
 */
typedef struct {
	char *path; /* for messages */
	int dir;
	int new;
	int cur;
} View;

static void
view_close(View *v)
{
	int fds[] = { v->dir, v->new, v->cur };

	g_free(v->path);
	for (gsize i = 0; i < G_N_ELEMENTS(fds); i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* Maildir++ wants tmp, new and cur, and "maildirfolder" in a subfolder. */
static gboolean
view_open(View *v, const char *top, const char *sub, GError **error)
{
	int tmp;
	int fd;

	v->dir = v->new = v->cur = -1;
	v->path = *sub ? g_build_filename(top, sub, NULL) : g_strdup(top);
	fd = mdir_dir_open_nofollow(top, TRUE, error);
	if (fd < 0)
		return FALSE;
	if (*sub) {
		v->dir = mdir_open_dir_at(fd, sub, TRUE, v->path, error);
		close(fd);
		if (v->dir < 0)
			return FALSE;
		fd = openat(v->dir, "maildirfolder", O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
		    MDIR_FILE_MODE);
		if (fd >= 0)
			close(fd);
	} else {
		v->dir = fd;
	}
	tmp = mdir_open_dir_at(v->dir, "tmp", TRUE, v->path, error);
	if (tmp < 0)
		return FALSE;
	close(tmp);
	v->new = mdir_open_dir_at(v->dir, "new", TRUE, v->path, error);
	v->cur = v->new < 0 ? -1 : mdir_open_dir_at(v->dir, "cur", TRUE, v->path, error);
	return v->cur >= 0;
}

/* The map of @v; an unreadable line is left out (the entry is then new). */
static void
map_load(const View *v, Map *m)
{
	g_autofree char *text = mdir_read_at(v->dir, MAP_FILE, MAP_FILE, NULL, NULL);
	g_auto(GStrv) lines = NULL;

	m->names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	m->used = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	m->version = 0;
	m->found = text != NULL;
	if (text == NULL)
		return;
	lines = g_strsplit(text, "\n", -1);
	if (lines[0] && g_str_has_prefix(lines[0], "version "))
		m->version = g_ascii_strtoull(lines[0] + 8, NULL, 10);
	for (guint i = 1; lines[0] && lines[i]; i++) {
		char *tab = strchr(lines[i], '\t');

		if (tab == NULL || tab == lines[i] || tab[1] == '\0')
			continue;
		*tab = '\0';
		g_hash_table_insert(m->names, g_strdup(lines[i]), g_strdup(tab + 1));
		g_hash_table_add(m->used, g_strdup(tab + 1));
	}
}

static gboolean
map_save(const View *v, const Map *m, GError **error)
{
	g_autoptr(GString) s = g_string_new(NULL);
	g_autoptr(GList) keys = g_hash_table_get_keys(m->names);
	g_autofree char *label = g_build_filename(v->path, MAP_FILE, NULL);

	g_string_printf(s, "version %" G_GUINT64_FORMAT "\n", m->version);
	keys = g_list_sort(keys, (GCompareFunc)strcmp);
	for (GList *l = keys; l; l = l->next)
		g_string_append_printf(s, "%s\t%s\n", (char *)l->data,
		    (char *)g_hash_table_lookup(m->names, l->data));
	return mdir_write_at(v->dir, MAP_FILE, s->str, s->len, TRUE, label, error);
}

/* Links entry @name of @folder into new/ if it is a whole message. */
static void
add_entry(MdirStore *store, MdirFolder *folder, const View *v, Map *m, const char *name,
    guint *added)
{
	g_autoptr(MdirRecord) rec = mdir_folder_load_record(folder, name, NULL);
	const char *url = rec ? mdir_record_get(rec, "url") : NULL;
	g_autofree char *raw = NULL;
	struct timespec ts[2] = { { 0, 0 }, { 0, 0 } };

	if (url == NULL || g_strcmp0(mdir_record_get(rec, "part"), "0") != 0 ||
	    g_hash_table_contains(m->names, name))
		return;
	raw = mdir_store_part_path(store, url, NULL);
	if (raw == NULL)
		return;
	ts[0].tv_sec = ts[1].tv_sec = (time_t)mdir_maildir_time(raw, rec);
	for (guint n = 1; n < 1000; n++) {
		g_autofree char *base = mdir_maildir_name(raw, rec, n);

		if (g_hash_table_contains(m->used, base))
			continue;
		if (linkat(AT_FDCWD, raw, v->new, base, 0) < 0) {
			if (errno == EEXIST)
				continue;
			/* a link or nothing: a copy would double the mail on disk */
			mdir_log(LOG_WARNING, "maildir view: %s/%s: link into %s/new: %s",
			    mdir_folder_name(folder), name, v->path, g_strerror(errno));
			return;
		}
		/* Dovecot takes INTERNALDATE from the file's time */
		if (utimensat(v->new, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
			mdir_log(LOG_WARNING, "maildir view: %s/new/%s: %s", v->path, base,
			    g_strerror(errno));
		g_hash_table_insert(m->names, g_strdup(name), g_strdup(base));
		g_hash_table_add(m->used, g_steal_pointer(&base));
		(*added)++;
		return;
	}
}

/* Removes the Maildir file of @name, in new/ or (renamed with flags) in cur/. */
static void
remove_entry(const View *v, Map *m, const char *name, guint *removed)
{
	const char *base = g_hash_table_lookup(m->names, name);
	struct dirent *de;
	DIR *d;
	gsize len;
	int fd;

	if (base == NULL)
		return;
	len = strlen(base);
	if (unlinkat(v->new, base, 0) == 0)
		(*removed)++;
	fd = dup(v->cur);
	d = fd < 0 ? NULL : fdopendir(fd);
	/* a dup shares the offset: the last removal read it to its end */
	if (d)
		rewinddir(d);
	while (d && (de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, base, len) != 0 ||
		    (de->d_name[len] != '\0' && de->d_name[len] != ':'))
			continue;
		if (unlinkat(v->cur, de->d_name, 0) == 0)
			(*removed)++;
	}
	if (d)
		closedir(d);
	else if (fd >= 0)
		close(fd);
	g_hash_table_remove(m->used, base);
	g_hash_table_remove(m->names, name);
}

/* The whole folder against the map: no map yet, or a log that restarted. */
static gboolean
reconcile(MdirStore *store, MdirFolder *folder, const View *v, Map *m, guint *added,
    guint *removed, GError **error)
{
	g_autoptr(GPtrArray) names = mdir_folder_list(folder, error);
	g_autoptr(GHashTable) have = g_hash_table_new(g_str_hash, g_str_equal);
	g_autoptr(GList) mapped = NULL;

	if (names == NULL)
		return FALSE;
	for (guint i = 0; i < names->len; i++)
		g_hash_table_add(have, names->pdata[i]);
	mapped = g_hash_table_get_keys(m->names);
	for (GList *l = mapped; l; l = l->next) {
		g_autofree char *gone = g_strdup(l->data); /* the map's key goes with it */

		if (!g_hash_table_contains(have, gone))
			remove_entry(v, m, gone, removed);
	}
	for (guint i = 0; i < names->len; i++)
		add_entry(store, folder, v, m, names->pdata[i], added);
	return TRUE;
}

/* The changes after the map's version, in order. */
static gboolean
replay(MdirStore *store, MdirFolder *folder, const View *v, Map *m, guint *added,
    guint *removed, GError **error)
{
	g_autoptr(GPtrArray) changes = mdir_folder_changes(folder, m->version, error);

	if (changes == NULL)
		return FALSE;
	for (guint i = 0; i < changes->len; i++) {
		const MdirChange *c = changes->pdata[i];

		if (c->op == '-')
			remove_entry(v, m, c->name, removed);
		else
			add_entry(store, folder, v, m, c->name, added);
	}
	return TRUE;
}

/* Under the Maildir folder's lock: brings it in step with @folder. */
static gboolean
sync_locked(MdirStore *store, MdirFolder *folder, const View *v, guint *added,
    guint *removed, GError **error)
{
	Map m = { 0 };
	guint64 version;
	guint a = 0;
	guint r = 0;
	gboolean ok;

	/* the version first: a change after it is replayed next time, and
	 * replaying one the listing saw already changes nothing */
	if (!mdir_folder_version(folder, &version, error))
		return FALSE;
	map_load(v, &m);
	if (m.found && m.version == version) {
		map_clear(&m);
		return TRUE;
	}
	if (m.found && m.version < version)
		ok = replay(store, folder, v, &m, &a, &r, error);
	else
		ok = reconcile(store, folder, v, &m, &a, &r, error);
	m.version = version;
	/* the links durable before the map that names them */
	if (ok && a > 0 && fsync(v->new) < 0)
		ok = mdir_set_errno(error, errno, v->path);
	ok = ok && map_save(v, &m, error);
	map_clear(&m);
	if (added)
		*added += a;
	if (removed)
		*removed += r;
	return ok;
}

gboolean
mdir_maildir_sync(MdirStore *store, const MdirConfig *config, MdirFolder *folder,
    guint *added, guint *removed, GError **error)
{
	g_autoptr(GError) e = NULL;
	g_autofree char *top = NULL;
	g_autofree char *sub = NULL;
	View v = { NULL, -1, -1, -1 };
	gboolean ok;

	if (!view_names(config, mdir_folder_name(folder), &top, &sub, &e)) {
		if (e == NULL)
			return TRUE; /* no view, or not an account's folder */
		g_propagate_error(error, g_steal_pointer(&e));
		return FALSE;
	}
	ok = view_open(&v, top, sub, error);
	/* mdird and "mstore export --sync" may meet here */
	if (ok && flock(v.dir, LOCK_EX) < 0)
		ok = mdir_set_errno(error, errno, v.path);
	ok = ok && sync_locked(store, folder, &v, added, removed, error);
	view_close(&v);
	return ok;
}

/* @name in @parent: a real directory, not a link (an alias or a mount). */
static gboolean
is_real_dir(const char *parent, const char *name)
{
	g_autofree char *p = g_build_filename(parent, name, NULL);
	struct stat st;

	return lstat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* @name and every folder below it, each synced; the first error kept. */
static void
sync_tree(MdirStore *store, const MdirConfig *config, const char *name, guint depth,
    guint *added, guint *removed, GError **error)
{
	g_autoptr(GError) e = NULL;
	g_autoptr(MdirFolder) f = mdir_folder_open(store, name, 0, &e);
	g_autoptr(GPtrArray) subs = NULL;

	if (f == NULL || !mdir_maildir_sync(store, config, f, added, removed, &e) ||
	    (subs = mdir_folder_list_folders(f, &e)) == NULL) {
		if (error && *error == NULL)
			g_propagate_error(error, g_steal_pointer(&e));
		return;
	}
	for (guint i = 0; depth < MAX_DEPTH && i < subs->len; i++) {
		g_autofree char *sub = NULL;

		if (!is_real_dir(mdir_folder_path(f), subs->pdata[i]))
			continue;
		sub = g_build_filename(name, subs->pdata[i], NULL);
		sync_tree(store, config, sub, depth + 1, added, removed, error);
	}
}

gboolean
mdir_maildir_sync_all(MdirStore *store, const MdirConfig *config, guint *added,
    guint *removed, GError **error)
{
	g_autofree char *top = g_build_filename(mdir_store_root(store), ACCOUNTS, NULL);
	g_autoptr(GDir) d = NULL;
	g_autoptr(GError) e = NULL;
	const char *n;

	if (mdir_config_get(config, "access", "maildir") == NULL)
		return TRUE;
	d = g_dir_open(top, 0, &e);
	if (d == NULL) {
		if (g_error_matches(e, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			return TRUE;
		g_propagate_error(error, g_steal_pointer(&e));
		return FALSE;
	}
	while ((n = g_dir_read_name(d)) != NULL) {
		g_autofree char *name = NULL;

		/* aliases are links: their mail is their target's */
		if (n[0] == '.' || !is_real_dir(top, n))
			continue;
		name = g_build_filename(ACCOUNTS, n, NULL);
		sync_tree(store, config, name, 1, added, removed, &e);
	}
	if (e) {
		g_propagate_error(error, g_steal_pointer(&e));
		return FALSE;
	}
	return TRUE;
}
