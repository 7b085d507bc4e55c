/*
 * auth.c: who may use mdir-web.  The users file ([web] users) holds a
 * line "NAME:HASH" per admin, HASH a yescrypt one from libcrypt; it is
 * replaced whole (a temporary file, fsync, rename), mode 0600.  Sessions
 * live in memory only: a restart logs everyone out, which is the safe
 * side.  Failed logins are counted per client address and per name, so
 * that neither one address guessing many names nor many addresses
 * guessing one name get more than WEB_MAX_FAILURES tries a window.
 */
#include <crypt.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <termios.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "mdir.h"
#include "web.h"

/* a hash to check against when the name is unknown: the same time spent */
#define DUMMY_HASH "$y$j9T$d5oIjD3Ho2K.bzofn35CT/$WOP6OiJym5pvUXSYjadz.S1JrHTTb7UjlKUpQSec3R6"

static gboolean
name_ok(const char *name)
{
	gsize n = strlen(name);

	if (n == 0 || n > 64)
		return FALSE;
	for (const char *p = name; *p; p++)
		if (!g_ascii_isalnum(*p) && strchr("._-@", *p) == NULL)
			return FALSE;
	return TRUE;
}

/* The file's lines but @name's.  Transfer full. */
static GString *
others(const char *users, const char *name, GError **error)
{
	g_autofree char *text = NULL;
	g_auto(GStrv) lines = NULL;
	GString *out = g_string_new(NULL);
	g_autoptr(GError) e = NULL;
	gsize n = strlen(name);

	if (!g_file_get_contents(users, &text, NULL, &e)) {
		if (g_error_matches(e, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			return out;
		g_propagate_error(error, g_steal_pointer(&e));
		g_string_free(out, TRUE);
		return NULL;
	}
	lines = g_strsplit(text, "\n", -1);
	for (char **l = lines; *l; l++)
		if (**l && !(strncmp(*l, name, n) == 0 && (*l)[n] == ':'))
			g_string_append_printf(out, "%s\n", *l);
	return out;
}

gboolean
web_passwd_set(const char *users, const char *name, const char *password, GError **error)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data cd;
	g_autoptr(GString) text = NULL;
	g_autofree char *dir = g_path_get_dirname(users);

	if (!name_ok(name)) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_USAGE, "'%s': not a user name (letters, "
		    "digits, '.', '_', '-', '@'; at most 64)", name);
		return FALSE;
	}
	if (*password == '\0') {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_USAGE, "an empty password");
		return FALSE;
	}
	if (crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof salt) == NULL) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_FAILED, "crypt_gensalt: %s",
		    g_strerror(errno));
		return FALSE;
	}
	memset(&cd, 0, sizeof cd);
	if (crypt_r(password, salt, &cd) == NULL || cd.output[0] == '*') {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_FAILED, "crypt: %s", g_strerror(errno));
		return FALSE;
	}
	if ((text = others(users, name, error)) == NULL)
		return FALSE;
	g_string_append_printf(text, "%s:%s\n", name, cd.output);
	explicit_bzero(&cd, sizeof cd);
	if (g_mkdir_with_parents(dir, 0700) != 0) {
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "%s: %s", dir,
		    g_strerror(errno));
		return FALSE;
	}
	return g_file_set_contents_full(users, text->str, (gssize)text->len,
	    G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE, 0600, error);
}

/* @name's hash in @users.  Transfer full; NULL if none. */
static char *
hash_of(const char *users, const char *name)
{
	g_autofree char *text = NULL;
	g_auto(GStrv) lines = NULL;
	gsize n = strlen(name);

	if (!name_ok(name) || !g_file_get_contents(users, &text, NULL, NULL))
		return NULL;
	lines = g_strsplit(text, "\n", -1);
	for (char **l = lines; *l; l++)
		if (strncmp(*l, name, n) == 0 && (*l)[n] == ':')
			return g_strdup(*l + n + 1);
	return NULL;
}

static gboolean
same(const char *a, const char *b)
{
	gsize na = strlen(a), nb = strlen(b);
	guchar d = na != nb;

	for (gsize i = 0; i < na; i++)
		d |= (guchar)(a[i] ^ b[i % (nb ? nb : 1)]);
	return d == 0;
}

gboolean
web_passwd_check(const char *users, const char *name, const char *password)
{
	g_autofree char *hash = hash_of(users, name);
	struct crypt_data cd;
	gboolean ok;

	memset(&cd, 0, sizeof cd);
	if (crypt_r(password, hash ? hash : DUMMY_HASH, &cd) == NULL || cd.output[0] == '*')
		return FALSE;
	ok = same(cd.output, hash ? hash : DUMMY_HASH) && hash != NULL;
	explicit_bzero(&cd, sizeof cd);
	return ok;
}

/* A line of @in without its line end; NULL at the end. */
static char *
read_line(FILE *in)
{
	char buf[1024];
	gsize n;

	if (fgets(buf, sizeof buf, in) == NULL)
		return NULL;
	n = strcspn(buf, "\r\n");
	buf[n] = '\0';
	return g_strdup(buf);
}

static char *
prompt(const char *text, gboolean tty)
{
	struct termios old, quiet;
	char *line;

	if (!tty)
		return read_line(stdin);
	fputs(text, stderr);
	tcgetattr(STDIN_FILENO, &old);
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	line = read_line(stdin);
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	fputs("\n", stderr);
	return line;
}

char *
web_passwd_read(GError **error)
{
	gboolean tty = isatty(STDIN_FILENO);
	g_autofree char *a = prompt("New password: ", tty);
	g_autofree char *b = a ? prompt("Again: ", tty) : NULL;

	if (a == NULL || b == NULL || strcmp(a, b) != 0) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_USAGE, "%s", a && b ?
		    "the two passwords differ" : "two lines expected: the password twice");
		return NULL;
	}
	return g_steal_pointer(&a);
}

/* The failures of @key within the window, older ones dropped. */
static GArray *
recent(Web *w, const char *key)
{
	GArray *times = g_hash_table_lookup(w->failures, key);
	gint64 now = g_get_monotonic_time();

	if (times == NULL) {
		times = g_array_new(FALSE, FALSE, sizeof(gint64));
		g_hash_table_insert(w->failures, g_strdup(key), times);
	}
	while (times->len > 0 && g_array_index(times, gint64, 0) < now - WEB_FAILURE_WINDOW)
		g_array_remove_index(times, 0);
	return times;
}

static gboolean
failures_old(gpointer key, gpointer value, gpointer now)
{
	GArray *times = value;

	(void)key;
	return times->len == 0 ||
	    g_array_index(times, gint64, times->len - 1) < *(gint64 *)now - WEB_FAILURE_WINDOW;
}

static gboolean
session_old(gpointer key, gpointer value, gpointer now)
{
	(void)key;
	return ((WebSession *)value)->expires < *(gint64 *)now;
}

/* Forgets expired sessions and failures, so that neither table grows. */
static void
sweep(Web *w)
{
	gint64 now = g_get_monotonic_time();

	g_hash_table_foreach_remove(w->failures, failures_old, &now);
	g_hash_table_foreach_remove(w->sessions, session_old, &now);
}

gboolean
web_throttled(Web *w, const char *key)
{
	return recent(w, key)->len >= WEB_MAX_FAILURES;
}

void
web_failure(Web *w, const char *key)
{
	gint64 now = g_get_monotonic_time();

	sweep(w);
	g_array_append_val(recent(w, key), now);
}

char *
web_random_id(void)
{
	guchar bytes[32];
	GString *out = g_string_sized_new(64);

	if (getrandom(bytes, sizeof bytes, 0) != sizeof bytes)
		g_error("getrandom: %s", g_strerror(errno)); /* no session without it */
	for (gsize i = 0; i < sizeof bytes; i++)
		g_string_append_printf(out, "%02x", bytes[i]);
	return g_string_free(out, FALSE);
}

WebSession *
web_session_new(Web *w, const char *user)
{
	WebSession *s = g_new0(WebSession, 1);

	sweep(w);
	s->id = web_random_id();
	s->csrf = web_random_id();
	s->user = g_strdup(user);
	s->expires = g_get_monotonic_time() + w->lifetime;
	g_hash_table_insert(w->sessions, s->id, s);
	return s;
}

WebSession *
web_session_of(Web *w, SoupServerMessage *msg)
{
	SoupMessageHeaders *h = soup_server_message_get_request_headers(msg);
	const char *cookie = soup_message_headers_get_list(h, "Cookie");
	g_autoptr(GHashTable) cookies = NULL;
	const char *id;
	WebSession *s;

	if (cookie == NULL)
		return NULL;
	cookies = soup_header_parse_semi_param_list(cookie);
	id = g_hash_table_lookup(cookies, "mdir_session");
	if (id == NULL || (s = g_hash_table_lookup(w->sessions, id)) == NULL)
		return NULL;
	if (s->expires < g_get_monotonic_time()) {
		web_session_end(w, s);
		return NULL;
	}
	return s;
}

void
web_session_end(Web *w, WebSession *s)
{
	g_hash_table_remove(w->sessions, s->id);
}

char *
web_cookie(Web *w, const WebSession *s)
{
	return g_strdup_printf("mdir_session=%s; Path=/; HttpOnly; SameSite=Strict%s%s",
	    s ? s->id : "", w->secure ? "; Secure" : "", s ? "" : "; Max-Age=0");
}

gboolean
web_csrf_ok(const WebSession *s, GHashTable *form)
{
	const char *token = form ? g_hash_table_lookup(form, "csrf") : NULL;

	return token != NULL && same(token, s->csrf);
}
