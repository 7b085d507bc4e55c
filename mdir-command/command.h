/*
 * command.h: what the files of mdir-command share.
 */
#ifndef COMMAND_H
#define COMMAND_H

#include <glib.h>

#include "mdir.h"

/* How a request is authenticated ([command] auth). */
typedef enum {
	AUTH_TOTP = 1 << 0,
	AUTH_SMIME = 1 << 1,
	AUTH_BOTH = AUTH_TOTP | AUTH_SMIME,
} AuthMode;

/* [command] of mdir.conf, checked (conf.c).  Transfer none: the config's. */
typedef struct {
	const MdirConfig *config;
	const char *address; /* the command address: the answers' From */
	const char *tag;     /* the subject tag, "mailcom" */
	AuthMode auth;
	const char *plugins;
	const char *secrets;
	const char *db;
	const char *admin;
	gint64 timeout_ms;
	gsize max_output;
	guint max_failures;
	gint64 failure_window_ms;
	gint64 max_signature_age_ms;
	/* S/MIME (smime.h): needed by auth smime and both; the answer is
	 * signed whenever server_cert and server_key are set */
	const char *ca_file;
	const char *crl_file;
	const char *certs_dir;
	const char *server_cert;
	const char *server_key;
} CommandConf;

/*
 * Reads and checks [command]: MDIR_ERROR_CONFIG naming the key.  The
 * address is needed to answer @requests, not to enrol a user.
 */
gboolean conf_load(CommandConf *cc, const MdirConfig *config, gboolean requests,
    GError **error);

/* Whether answers are signed: server_cert and server_key set. */
gboolean conf_seals(const CommandConf *cc);
/* The S/MIME keys of @cc (smime.h's SmimeConfig), its strings borrowed. */
struct SmimeConfig;
void conf_smime(const CommandConf *cc, struct SmimeConfig *out);

/* request.c: one request, parsed with GMime. */
#define MAX_REQUEST (1 << 20) /* bytes of a request read; more is refused */
#define MAX_COMMANDS 20	      /* command lines run from one request */

typedef struct {
	char *line;    /* the line as written (for the answer) */
	char *name;    /* NULL: the line is refused (@why says why) */
	char *context; /* between the parentheses */
	const char *why;
} CommandLine;

typedef struct {
	gpointer message;    /* GMimeMessage * */
	char *from;	     /* the From address, normalised; NULL if none */
	char *subject;	     /* decoded, "" if none */
	char *message_id;    /* without <>, or NULL */
	gboolean tagged;     /* the subject starts with the tag */
	char *code;	     /* what follows "TAG #", or NULL */
	gboolean auto_submitted;
	/*
	 * What the commands are read from: the message itself, or (S/MIME)
	 * the content the signature vouches for, decrypted; and whether the
	 * request was encrypted, so that the answer is too.
	 */
	gpointer content; /* GMimeObject *, a reference */
	gboolean encrypted;
} Request;

/* @len bytes of a message.  Transfer full: request_free(). */
Request *request_parse(const char *data, gsize len, const char *tag);
/*
 * Makes @entity (headers, blank line, body: what S/MIME vouched for)
 * @r's content, the commands' source; FALSE if GMime cannot read it.
 */
gboolean request_set_content(Request *r, GBytes *entity);
void request_free(Request *r);
/*
 * The command lines of the first text/plain part of @entity (a
 * GMimeObject *: the message, or the content S/MIME vouched for).
 * Transfer full: g_ptr_array_unref().
 */
GPtrArray *request_commands(gpointer entity);
/* The command lines of @text (command_line_free() each). */
GPtrArray *request_parse_lines(const char *text);
/* "mailcom # 123456": whether @subject is tagged, and the code. */
gboolean request_parse_subject(const char *subject, const char *tag, char **code);
/* Whether @name may name a plugin: [a-z0-9_-]{1,32}. */
gboolean command_name_ok(const char *name);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Request, request_free)

/* totp.c: RFC 6238 one-time passwords (HMAC-SHA1, 30 s). */
#define TOTP_STEP 30
#define TOTP_DIGITS 6

/* RFC 4648 base32 (case, blanks and '=' ignored); NULL if not base32. */
GBytes *totp_base32_decode(const char *text);
char *totp_base32_encode(const guint8 *data, gsize len);
/* RFC 4226 HOTP of @counter, @digits decimal digits, zero-padded. */
char *totp_hotp(const guint8 *key, gsize keylen, guint64 counter, guint digits);
/*
 * The step in @now_step - @window .. @now_step + @window whose code is
 * @code, or -1.
 */
gint64 totp_match(GBytes *key, const char *code, gint64 now_step, guint window);
/*
 * @address's secret in the secrets file @path: NULL and no error when it
 * has none.  The file must be a regular file owned by the running user
 * and not readable or writable by group or others: MDIR_ERROR_CONFIG
 * otherwise, and nothing is read.
 */
GBytes *totp_secret_lookup(const char *path, const char *address, GError **error);
/* A new secret for @address into @path (replacing its old one). */
gboolean totp_enrol(const char *path, const char *address, char **secret, GError **error);
/* otpauth://totp/mdir:ADDRESS?secret=...&issuer=mdir.  Transfer full. */
char *totp_uri(const char *address, const char *secret);

/* guard.c: the replay store and the failure counts (SQLite). */
typedef struct Guard Guard;

Guard *guard_open(const char *path, GError **error);
void guard_free(Guard *g);
/* The failures of @address since @since (Unix time). */
gboolean guard_failures(Guard *g, const char *address, gint64 since, guint *count,
    GError **error);
gboolean guard_fail(Guard *g, const char *address, gint64 now, GError **error);
/*
 * Records, durably, that @address used the code of @step; *@fresh FALSE
 * if it had been used before (a replay).
 */
gboolean guard_use(Guard *g, const char *address, gint64 step, gboolean *fresh,
    GError **error);
/* Records an S/MIME signature (its digest); *@fresh FALSE if seen before. */
gboolean guard_signature(Guard *g, const char *address, const char *digest, gboolean *fresh,
    GError **error);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Guard, guard_free)

/* plugin.c: running one command. */
typedef struct {
	char *output;	    /* what it printed (stdout and stderr), valid UTF-8 */
	int status;	    /* exit status; -1 if it did not exit by itself */
	int signal;	    /* the signal that ended it, or 0 */
	gboolean timed_out; /* killed at the time-out */
	gboolean truncated; /* killed at max_output */
	char *refused;	    /* why it was not run, or NULL */
} PluginResult;

/* Runs command @name (help() is built in).  Transfer full. */
PluginResult *plugin_run(const CommandConf *cc, const char *name, const char *context,
    const char *sender);
/* Whether @r is a failure the admin hears of. */
gboolean plugin_failed(const PluginResult *r);
void plugin_result_free(PluginResult *r);
/* help(): the plugins with their descriptions.  Transfer full. */
char *plugin_help(const CommandConf *cc);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PluginResult, plugin_result_free)

/* answer.c */
/*
 * The answer to @req (@body its text) into SMTP/Outbox, its envelope in
 * the record: from the command address to the sender, and to [command]
 * admin as well when @failed.
 */
gboolean answer_file(MdirStore *store, const CommandConf *cc, const Request *req,
    const char *body, gboolean failed, GError **error);
/* A notice of a refused request for the admin (never mail).  Logs trouble. */
void answer_notice(MdirStore *store, const CommandConf *cc, const Request *req,
    const char *why);

/* handle.c: one request, from reading to answering. */
int handle_request(const CommandConf *cc, int fd);

#endif /* COMMAND_H */
