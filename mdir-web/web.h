/*
 * web.h: what the files of mdir-web share.
 */
#ifndef WEB_H
#define WEB_H

#include <glib.h>
#include <libsoup/soup.h>

#include "mdir.h"

/* failed logins allowed per client address and per name in a window */
#define WEB_MAX_FAILURES 5
#define WEB_FAILURE_WINDOW (15 * 60 * G_USEC_PER_SEC)

typedef struct {
	char *id;      /* 64 hex digits: 32 random bytes */
	char *user;
	char *csrf;    /* 64 hex digits, in every form */
	gint64 expires; /* monotonic µs */
	char *flash;   /* what the last form did, shown once by the next page */
	gboolean flash_ok;
} WebSession;

typedef struct {
	MdirConfig *config;	/* not owned */
	MdirStore *store;	/* owned */
	SoupServer *server;	/* owned */
	GSocketService *service; /* owned: accepts for the server */
	guint16 port;		/* the port listened on last */
	char *users;		/* the [web] users file */
	gint64 lifetime;	/* of a session, µs */
	gboolean secure;	/* cookies marked Secure: TLS is in front */
	GHashTable *sessions;	/* id -> WebSession */
	GHashTable *failures;	/* "ip:ADDR" or "user:NAME" -> GArray of gint64 */
} Web;

/* server.c ---------------------------------------------------------------- */

/* A server over @config's root, not yet listening.  Transfer full. */
Web *web_new(MdirConfig *config, GError **error);
void web_free(Web *w);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Web, web_free)
/* Listens on @spec ("inet:ADDRESS:PORT", "unix:PATH"), NULL: [web] listen. */
gboolean web_listen(Web *w, const char *spec, GError **error);

/* The signature of a page's handler: its session is known to be valid. */
typedef void (*WebHandler)(Web *w, SoupServerMessage *msg, WebSession *s, GHashTable *form);

/* Sends @body (HTML, inside the page's frame with its navigation). */
void web_page(SoupServerMessage *msg, WebSession *s, const char *title, const char *body);
/* Sends @json (transfer full). */
void web_json(SoupServerMessage *msg, guint status, char *json);
/* Sends a plain error page or, under /api/, a JSON error. */
void web_error(SoupServerMessage *msg, guint status, const char *text);
/* A redirection (303 See Other) to @path. */
void web_redirect(SoupServerMessage *msg, const char *path);
/* Names in order, for g_ptr_array_sort() (which hands pointers to them). */
gint web_by_name(gconstpointer a, gconstpointer b);
/* @text as one value of a log line (no blank, no control).  Transfer full. */
char *web_loggable(const char *text);
/* HTML-escaped text.  Transfer full. */
char *web_escape(const char *text);
/* Appends a form's hidden CSRF field. */
void web_csrf_field(GString *out, const WebSession *s);
/* Appends "<p class=ok|error>TEXT</p>" for what @s's last form did, once. */
void web_flash(GString *out, WebSession *s);
/* Redirects to @path, keeping in @s what the form did for web_flash(). */
void web_redirect_flash(SoupServerMessage *msg, WebSession *s, const char *path, gboolean ok,
    const char *text);

/* auth.c ------------------------------------------------------------------ */

/* Sets @name's password in @users (made 0600, replaced atomically). */
gboolean web_passwd_set(const char *users, const char *name, const char *password,
    GError **error);
/* Whether @password is @name's; FALSE for a name without an entry too. */
gboolean web_passwd_check(const char *users, const char *name, const char *password);
/* Reads a password (twice, they must agree) from a terminal or stdin. */
char *web_passwd_read(GError **error);

/* Whether @key ("ip:..." or "user:...") had too many failures lately. */
gboolean web_throttled(Web *w, const char *key);
void web_failure(Web *w, const char *key);
/* A new session for @user.  Transfer none: owned by @w. */
WebSession *web_session_new(Web *w, const char *user);
/* The request's session from its cookie, NULL if none or expired. */
WebSession *web_session_of(Web *w, SoupServerMessage *msg);
void web_session_end(Web *w, WebSession *s);
/* The Set-Cookie header for @s (NULL: one that clears it).  Transfer full. */
char *web_cookie(Web *w, const WebSession *s);
/* Whether @form carries @s's CSRF token (compared in constant time). */
gboolean web_csrf_ok(const WebSession *s, GHashTable *form);
/* 64 hex digits from 32 random bytes.  Transfer full. */
char *web_random_id(void);

/* pages ------------------------------------------------------------------- */

void web_today(Web *w, SoupServerMessage *msg, WebSession *s, GHashTable *form);
void web_api_today(Web *w, SoupServerMessage *msg, WebSession *s, GHashTable *form);
void web_accounts(Web *w, SoupServerMessage *msg, WebSession *s, GHashTable *form);
void web_api_accounts(Web *w, SoupServerMessage *msg, WebSession *s, GHashTable *form);
void web_policy(Web *w, SoupServerMessage *msg, WebSession *s, GHashTable *form);
void web_api_policy(Web *w, SoupServerMessage *msg, WebSession *s, GHashTable *form);
void web_queue(Web *w, SoupServerMessage *msg, WebSession *s, GHashTable *form);
void web_api_queue(Web *w, SoupServerMessage *msg, WebSession *s, GHashTable *form);
void web_folders(Web *w, SoupServerMessage *msg, WebSession *s, GHashTable *form);
void web_api_folders(Web *w, SoupServerMessage *msg, WebSession *s, GHashTable *form);
void web_entry(Web *w, SoupServerMessage *msg, WebSession *s, GHashTable *form);
void web_api_entry(Web *w, SoupServerMessage *msg, WebSession *s, GHashTable *form);
void web_download(Web *w, SoupServerMessage *msg, WebSession *s, GHashTable *form);
void web_changes(Web *w, SoupServerMessage *msg, WebSession *s, GHashTable *form);
void web_api_changes(Web *w, SoupServerMessage *msg, WebSession *s, GHashTable *form);

#endif /* WEB_H */
