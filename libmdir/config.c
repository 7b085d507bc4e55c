/*
 * config.c: mdir.conf(5), read with GKeyFile (DESIGN §5).  Every known key
 * has a type and a default in one table; values are checked when the file
 * is loaded, so a bad value stops a program at start with "FILE:LINE: ..."
 * rather than in the middle of a delivery.  Unknown keys are warnings:
 * a typo must be seen, but must not stop the mail.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "mdir.h"
#include "private.h"

#define SYSTEM_CONFIG "/etc/mdir/mdir.conf"

typedef enum {
	T_STRING,
	T_PATH,
	T_LIST,
	T_DURATION,
	T_SIZE,
	T_INT,
	T_BOOL,
	T_LEVEL,
	T_LISTEN,
	T_RATIO,
	T_DURATIONS,
	T_SYNC,
	T_MODE,
	T_PATHS,
} KeyType;

typedef struct {
	const char *section;
	const char *key;
	KeyType type;
	const char *fallback; /* NULL: unset; "@ROOT/..." is under the root */
} KeyDef;

static const KeyDef keys[] = {
	{ "mdir", "root", T_PATH, NULL },
	{ "mdir", "socket", T_PATH, "@ROOT/.mdird/mdird.sock" },
	{ "mdir", "log_level", T_LEVEL, "info" },
	{ "mdir", "log_file", T_PATH, NULL },
	{ "mdir", "umask", T_MODE, "0007" },
	{ "mdir", "lock_timeout", T_DURATION, "30s" },
	{ "mdir", "sync", T_SYNC, "auto" },
	{ "receive", "local_domains", T_LIST, "" },
	{ "receive", "role_accounts", T_BOOL, "true" },
	{ "receive", "recipient_delimiter", T_STRING, "+" },
	{ "receive", "max_size", T_SIZE, "0" },
	{ "receive", "max_depth", T_INT, "64" },
	{ "receive", "max_parts", T_INT, "10000" },
	{ "receive", "deadline", T_DURATION, "300s" },
	{ "receive", "lmtp_max_sessions", T_INT, "20" },
	{ "receive", "lmtp_user", T_STRING, "postfix" },
	{ "receive", "lmtp_timeout", T_DURATION, "300s" },
	{ "receive", "lmtp_max_message_size", T_SIZE, "1G" },
	{ "receive", "lmtp_group_commit", T_BOOL, "true" },
	{ "outbox", "sendmail", T_PATH, "/usr/sbin/sendmail" },
	{ "outbox", "sender", T_STRING, NULL },
	{ "outbox", "dkim_domain", T_STRING, NULL },
	{ "outbox", "dkim_selector", T_STRING, NULL },
	{ "outbox", "dkim_key", T_PATH, NULL },
	{ "outbox", "dkim_ed25519_key", T_PATH, NULL },
	{ "outbox", "dkim_ed25519_selector", T_STRING, NULL },
	{ "outbox", "retry_schedule", T_DURATIONS, "1m;5m;30m;2h;6h" },
	{ "outbox", "give_up_after", T_DURATION, "5d" },
	{ "outbox", "timeout", T_DURATION, "5m" },
	{ "outbox", "admin", T_STRING, NULL },
	{ "stats", "database", T_PATH, "@ROOT/.stats/stats.db" },
	{ "stats", "policy_listen", T_LISTEN, "inet:127.0.0.1:10040" },
	{ "stats", "greylist_delay", T_DURATION, "5m" },
	{ "stats", "greylist_expire", T_DURATION, "35d" },
	{ "stats", "blacklist_threshold", T_INT, "10" },
	{ "stats", "spam_ratio_threshold", T_RATIO, "0.8" },
	{ "stats", "spam_action", T_STRING, "defer" },
	{ "stats", "spam_min_messages", T_INT, "3" },
	{ "stats", "blacklist_time", T_DURATION, "1d" },
	{ "stats", "whitelist_after", T_INT, "5" },
	{ "stats", "whitelist_domain_networks", T_INT, "3" },
	{ "stats", "policy_user", T_STRING, "postfix" },
	{ "stats", "policy_max_connections", T_INT, "100" },
	{ "mdird", "drain_interval", T_DURATION, "1m" },
	{ "mdird", "round_size", T_INT, "100" },
	{ "mdird", "pipe_timeout", T_DURATION, "60s" },
	{ "mdird", "max_children", T_INT, "8" },
	{ "mdird", "group", T_STRING, NULL },
	{ "mdird", "max_clients", T_INT, "64" },
	{ "mdird", "max_clients_per_uid", T_INT, "16" },
	{ "mdird", "max_new_folders", T_INT, "20" },
	{ "rules", "programs", T_PATHS, "" },
	{ "notify", "command", T_STRING, NULL },
	{ "notify", "timeout", T_DURATION, "30s" },
	{ "access", "maildir", T_PATH, NULL },
	/* mdir-command(1); auth is checked by the program (totp, smime, both) */
	{ "command", "address", T_STRING, NULL },
	{ "command", "subject", T_STRING, "mailcom" },
	{ "command", "auth", T_STRING, "totp" },
	{ "command", "plugins", T_PATH, "/usr/lib/mdir/commands" },
	{ "command", "totp_secrets", T_PATH, "@ROOT/.command/totp-secrets" },
	{ "command", "replay_db", T_PATH, "@ROOT/.command/command.db" },
	{ "command", "admin", T_STRING, NULL },
	{ "command", "timeout", T_DURATION, "30s" },
	{ "command", "max_output", T_SIZE, "64k" },
	{ "command", "max_failures", T_INT, "5" },
	{ "command", "failure_window", T_DURATION, "15m" },
	{ "command", "ca_file", T_PATH, NULL },
	{ "command", "crl_file", T_PATH, NULL },
	{ "command", "certs_dir", T_PATH, NULL },
	{ "command", "server_cert", T_PATH, NULL },
	{ "command", "server_key", T_PATH, NULL },
	{ "command", "max_signature_age", T_DURATION, "1d" },
	{ "web", "listen", T_LISTEN, "inet:127.0.0.1:8025" },
	{ "web", "users", T_PATH, "@ROOT/.web/users" },
	{ "web", "session_lifetime", T_DURATION, "8h" },
	{ "web", "secure_cookies", T_BOOL, "false" },
	{ "web", "allow_remote", T_BOOL, "false" },
};

struct MdirConfig {
	char *file;
	GKeyFile *kf;
	char *root;
	GHashTable *values; /* "section.key" -> resolved string value */
	GPtrArray *warnings;
};

static const KeyDef *
find_key(const char *section, const char *key)
{
	for (gsize i = 0; i < G_N_ELEMENTS(keys); i++)
		if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].key, key) == 0)
			return &keys[i];
	return NULL;
}

static gboolean
section_known(const char *section)
{
	for (gsize i = 0; i < G_N_ELEMENTS(keys); i++)
		if (strcmp(keys[i].section, section) == 0)
			return TRUE;
	return FALSE;
}

typedef struct {
	const char *suffix;
	gint64 scale;
} Unit;

/* A whole number followed by one of @units (the first is the default). */
static gint64
parse_scaled(const char *text, const Unit *units, const char *what, GError **error)
{
	g_autofree char *t = g_strstrip(g_strdup(text));
	char *end = NULL;
	guint64 n;

	errno = 0;
	n = g_ascii_strtoull(t, &end, 10);
	if (end != t && errno == 0 && g_ascii_isdigit(t[0]))
		for (const Unit *u = units; u->suffix; u++)
			if (g_ascii_strcasecmp(end, u->suffix) == 0 &&
			    n <= (guint64)(G_MAXINT64 / u->scale))
				return (gint64)n * u->scale;
	g_set_error(error, MDIR_ERROR, MDIR_ERROR_CONFIG, "'%s' is not %s", text, what);
	return -1;
}

gint64
mdir_parse_duration_ms(const char *text, GError **error)
{
	static const Unit units[] = {
		{ "", 1000 }, { "s", 1000 }, { "ms", 1 }, { "m", 60000 }, { "h", 3600000 },
		{ "d", 86400000 }, { "w", 7 * 86400000LL }, { NULL, 0 },
	};

	return parse_scaled(text, units, "a duration (like 90s, 5m, 2h, 5d)", error);
}

gint64
mdir_parse_size(const char *text, GError **error)
{
	static const Unit units[] = {
		{ "", 1 }, { "k", 1024 }, { "kb", 1024 }, { "m", 1 << 20 }, { "mb", 1 << 20 },
		{ "g", 1 << 30 }, { "gb", 1 << 30 }, { NULL, 0 },
	};

	return parse_scaled(text, units, "a size (like 4096, 10k, 50M, 1G)", error);
}

static gboolean
check_list(const char *value, gint64 (*parse)(const char *, GError **), GError **error)
{
	g_auto(GStrv) items = g_strsplit(value, ";", -1);

	for (char **p = items; *p; p++)
		if (**p != '\0' && parse(*p, error) < 0)
			return FALSE;
	return TRUE;
}

/* A list of absolute paths (of programs, for [rules] programs). */
static gboolean
check_paths(const char *value, GError **error)
{
	g_auto(GStrv) items = g_strsplit(value, ";", -1);

	for (char **p = items; *p; p++) {
		g_strstrip(*p);
		if (**p != '\0' && **p != '/') {
			g_set_error(error, MDIR_ERROR, MDIR_ERROR_CONFIG,
			    "'%s' is not an absolute path", *p);
			return FALSE;
		}
	}
	return TRUE;
}

static gboolean
check_value(const KeyDef *def, const char *value, GError **error)
{
	gint64 n;
	double d;
	char *end;

	switch (def->type) {
	case T_STRING:
	case T_LIST:
		return TRUE;
	case T_PATH:
		if (value[0] == '/' || g_str_has_prefix(value, "@ROOT/"))
			return TRUE;
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_CONFIG,
		    "'%s' is not an absolute path", value);
		return FALSE;
	case T_DURATION:
		return mdir_parse_duration_ms(value, error) >= 0;
	case T_DURATIONS:
		return check_list(value, mdir_parse_duration_ms, error);
	case T_SIZE:
		return mdir_parse_size(value, error) >= 0;
	case T_INT:
		if (g_ascii_string_to_signed(value, 10, 0, G_MAXINT32, &n, NULL))
			return TRUE;
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_CONFIG,
		    "'%s' is not a whole number", value);
		return FALSE;
	case T_BOOL:
		if (strcmp(value, "true") == 0 || strcmp(value, "false") == 0)
			return TRUE;
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_CONFIG,
		    "'%s' is not true or false", value);
		return FALSE;
	case T_LEVEL:
		if (mdir_log_level_from_string(value) >= 0)
			return TRUE;
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_CONFIG,
		    "'%s' is not a log level (debug, info, notice, warning, err, crit)", value);
		return FALSE;
	case T_LISTEN:
		if ((g_str_has_prefix(value, "unix:") && (value[5] == '/' ||
		    g_str_has_prefix(value + 5, "@ROOT/"))) || g_str_has_prefix(value, "inet:"))
			return TRUE;
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_CONFIG,
		    "'%s' is not unix:/PATH or inet:ADDRESS:PORT", value);
		return FALSE;
	case T_SYNC:
		if (strcmp(value, "auto") == 0 || strcmp(value, "syncfs") == 0 ||
		    strcmp(value, "fsync") == 0)
			return TRUE;
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_CONFIG,
		    "'%s' is not auto, syncfs or fsync", value);
		return FALSE;
	case T_MODE:
		if (g_ascii_string_to_unsigned(value, 8, 0, 0777, NULL, NULL))
			return TRUE;
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_CONFIG,
		    "'%s' is not an octal mode from 0 to 0777", value);
		return FALSE;
	case T_PATHS:
		return check_paths(value, error);
	case T_RATIO:
		d = g_ascii_strtod(value, &end);
		if (end != value && *end == '\0' && d >= 0.0 && d <= 1.0)
			return TRUE;
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_CONFIG,
		    "'%s' is not a ratio between 0 and 1", value);
		return FALSE;
	}
	g_assert_not_reached();
}

/* The line of [section] key in @text, for messages; 0 if not found. */
static guint
find_line(const char *text, const char *section, const char *key)
{
	g_auto(GStrv) lines = g_strsplit(text ? text : "", "\n", -1);
	g_autofree char *want = g_strdup_printf("[%s]", section);
	gboolean in = FALSE;

	for (guint i = 0; lines[i]; i++) {
		char *l = g_strstrip(lines[i]);

		if (l[0] == '[') {
			in = strcmp(l, want) == 0;
			if (in && key == NULL)
				return i + 1;
			continue;
		}
		if (in && key && strncmp(l, key, strlen(key)) == 0 &&
		    strchr("= \t", l[strlen(key)]) != NULL && l[strlen(key)] != '\0')
			return i + 1;
	}
	return 0;
}

static char *
expand_root(const MdirConfig *c, const char *value)
{
	if (value == NULL)
		return NULL;
	if (g_str_has_prefix(value, "@ROOT/"))
		return g_build_filename(c->root, value + 6, NULL);
	if (g_str_has_prefix(value, "unix:@ROOT/"))
		return g_strconcat("unix:", c->root, "/", value + 11, NULL);
	return g_strdup(value);
}

static gboolean
check_file_keys(MdirConfig *c, const char *text, GError **error)
{
	g_auto(GStrv) groups = g_key_file_get_groups(c->kf, NULL);

	for (char **g = groups; *g; g++) {
		g_auto(GStrv) names = g_key_file_get_keys(c->kf, *g, NULL, NULL);

		if (!section_known(*g)) {
			g_ptr_array_add(c->warnings, g_strdup_printf("%s:%u: unknown section [%s]",
			    c->file, find_line(text, *g, NULL), *g));
			continue;
		}
		for (char **k = names; k && *k; k++) {
			const KeyDef *def = find_key(*g, *k);
			g_autofree char *v = NULL;
			GError *e = NULL;

			if (def == NULL) {
				g_ptr_array_add(c->warnings,
				    g_strdup_printf("%s:%u: unknown key '%s' in [%s]", c->file,
				    find_line(text, *g, *k), *k, *g));
				continue;
			}
			/* GLib returns a value and an error both for a bad escape
			 * ("\\q"): the error decides */
			v = g_key_file_get_string(c->kf, *g, *k, &e);
			if (v == NULL || e != NULL || !check_value(def, g_strstrip(v), &e)) {
				g_set_error(error, MDIR_ERROR, MDIR_ERROR_CONFIG, "%s:%u: %s: %s",
				    c->file, find_line(text, *g, *k), *k, e->message);
				g_error_free(e);
				return FALSE;
			}
		}
	}
	return TRUE;
}

static gboolean
resolve_root(MdirConfig *c, GError **error)
{
	const char *env = g_getenv("MDIR_ROOT");
	g_autofree char *v = NULL;

	if (env && *env)
		v = g_strdup(env);
	else if (c->kf)
		v = g_key_file_get_string(c->kf, "mdir", "root", NULL);
	if (v)
		g_strstrip(v);
	if (v == NULL || *v == '\0') {
		g_free(v);
		v = g_build_filename(g_get_user_data_dir(), "mdir", NULL);
	}
	if (!g_path_is_absolute(v)) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_CONFIG,
		    "root '%s' is not an absolute path", v);
		return FALSE;
	}
	c->root = g_canonicalize_filename(v, NULL);
	return TRUE;
}

static void
fill_values(MdirConfig *c)
{
	for (gsize i = 0; i < G_N_ELEMENTS(keys); i++) {
		const KeyDef *d = &keys[i];
		g_autofree char *v = NULL;

		if (c->kf)
			v = g_key_file_get_string(c->kf, d->section, d->key, NULL);
		if (v)
			g_strstrip(v);
		g_hash_table_insert(c->values, g_strdup_printf("%s.%s", d->section, d->key),
		    expand_root(c, v ? v : d->fallback));
	}
	g_hash_table_replace(c->values, g_strdup("mdir.root"), g_strdup(c->root));
	g_ptr_array_add(c->warnings, NULL);
}

static MdirConfig *
config_new(void)
{
	MdirConfig *c = g_new0(MdirConfig, 1);

	c->values = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	c->warnings = g_ptr_array_new_with_free_func(g_free);
	return c;
}

MdirConfig *
mdir_config_new_default(const char *root)
{
	MdirConfig *c = config_new();

	if (root)
		c->root = g_canonicalize_filename(root, NULL);
	else if (!resolve_root(c, NULL))
		c->root = g_build_filename(g_get_user_data_dir(), "mdir", NULL);
	fill_values(c);
	return c;
}

/*
 * What belongs to the process and is the same for every program, set
 * where the configuration is read, so that no program can forget it: the
 * modes of what mdir writes must not depend on who ran first (Postfix's
 * umask is 077, cron's 022).
 */
static void
apply_process(MdirConfig *c)
{
	const char *file = mdir_config_get(c, "mdir", "log_file");
	guint64 mask = 07;
	g_autoptr(GError) e = NULL;

	g_ascii_string_to_unsigned(mdir_config_get(c, "mdir", "umask"), 8, 0, 0777, &mask, NULL);
	umask((mode_t)mask);
	mdir_log_set_level(mdir_log_level_from_string(mdir_config_get(c, "mdir", "log_level")));
	if (file && !mdir_log_set_file(file, &e))
		g_ptr_array_insert(c->warnings, c->warnings->len - 1,
		    g_strdup_printf("[mdir] log_file: %s; logging to syslog", e->message));
}

MdirConfig *
mdir_config_load(const char *path, GError **error)
{
	g_autoptr(MdirConfig) c = config_new();
	g_autofree char *text = NULL;
	GError *e = NULL;

	if (path == NULL)
		path = g_getenv("MDIR_CONF");
	if (path == NULL || *path == '\0') {
		if (access(SYSTEM_CONFIG, F_OK) != 0) {
			MdirConfig *d = mdir_config_new_default(NULL);

			apply_process(d);
			return d;
		}
		path = SYSTEM_CONFIG;
	}
	c->file = g_strdup(path);
	text = mdir_read_small_file(path, NULL, error);
	if (text == NULL)
		return NULL;
	c->kf = g_key_file_new();
	g_key_file_set_list_separator(c->kf, ';');
	if (!g_key_file_load_from_data(c->kf, text, -1, G_KEY_FILE_NONE, &e)) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_CONFIG, "%s: %s", path, e->message);
		g_error_free(e);
		return NULL;
	}
	if (!check_file_keys(c, text, error) || !resolve_root(c, error))
		return NULL;
	fill_values(c);
	apply_process(c);
	return g_steal_pointer(&c);
}

void
mdir_config_free(MdirConfig *config)
{
	if (config == NULL)
		return;
	g_free(config->file);
	g_clear_pointer(&config->kf, g_key_file_free);
	g_free(config->root);
	g_hash_table_unref(config->values);
	g_ptr_array_unref(config->warnings);
	g_free(config);
}

const char *
mdir_config_file(const MdirConfig *config)
{
	return config->file;
}

const char *const *
mdir_config_warnings(const MdirConfig *config)
{
	return (const char *const *)config->warnings->pdata;
}

const char *
mdir_config_root(const MdirConfig *config)
{
	return config->root;
}

const char *
mdir_config_get(const MdirConfig *config, const char *section, const char *key)
{
	g_autofree char *k = g_strdup_printf("%s.%s", section, key);

	g_return_val_if_fail(find_key(section, key) != NULL, NULL);
	return g_hash_table_lookup(config->values, k);
}

char **
mdir_config_get_list(const MdirConfig *config, const char *section, const char *key)
{
	const char *v = mdir_config_get(config, section, key);
	g_autoptr(GPtrArray) out = g_ptr_array_new();
	g_auto(GStrv) items = g_strsplit(v ? v : "", ";", -1);

	for (char **p = items; *p; p++) {
		g_strstrip(*p);
		if (**p)
			g_ptr_array_add(out, g_strdup(*p));
	}
	g_ptr_array_add(out, NULL);
	return (char **)g_ptr_array_free(g_steal_pointer(&out), FALSE);
}

gint64
mdir_config_get_duration_ms(const MdirConfig *config, const char *section, const char *key)
{
	const char *v = mdir_config_get(config, section, key);

	return v ? mdir_parse_duration_ms(v, NULL) : -1;
}

gint64
mdir_config_get_int(const MdirConfig *config, const char *section, const char *key)
{
	const char *v = mdir_config_get(config, section, key);

	return v ? mdir_parse_size(v, NULL) : -1;
}

gboolean
mdir_config_get_bool(const MdirConfig *config, const char *section, const char *key)
{
	const char *v = mdir_config_get(config, section, key);

	return v != NULL && strcmp(v, "true") == 0;
}

char *
mdir_config_dump(const MdirConfig *config, gboolean only_set)
{
	GString *out = g_string_new(NULL);
	const char *section = NULL;

	for (gsize i = 0; i < G_N_ELEMENTS(keys); i++) {
		const KeyDef *d = &keys[i];
		g_autofree char *set = NULL;
		const char *v;

		if (config->kf)
			set = g_key_file_get_value(config->kf, d->section, d->key, NULL);
		if (only_set && set == NULL)
			continue;
		v = only_set ? g_strstrip(set) : mdir_config_get(config, d->section, d->key);
		if (section == NULL || strcmp(section, d->section) != 0)
			g_string_append_printf(out, "%s[%s]\n", section ? "\n" : "", d->section);
		section = d->section;
		g_string_append_printf(out, "%s =%s%s\n", d->key, v && *v ? " " : "", v ? v : "");
	}
	return g_string_free(out, FALSE);
}
