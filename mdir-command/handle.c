/*
 * handle.c: one request, from reading it to answering it (mdir-command(1)):
 * read (bounded), parse, authenticate, record the code as used, run the
 * commands, file the answer.  A request that is refused is logged and
 * noticed to the admin, never answered: the sender may be forged.  The
 * code is recorded before anything runs, so a request runs at most once
 * whatever crashes or is delivered again.
 */
#include <errno.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "command.h"
#include "smime.h"

/* What authentication concluded: a reason to refuse, or none. */
typedef struct {
	char *why;     /* NULL: authenticated */
	const char *how; /* "totp", "smime" */
} Auth;

/* Reads @fd to its end, keeping at most MAX_REQUEST bytes. */
static GByteArray *
read_request(int fd, gboolean *too_big, GError **error)
{
	g_autoptr(GByteArray) buf = g_byte_array_new();
	guint8 chunk[65536];
	gssize got;

	*too_big = FALSE;
	/* to its end: the MTA's pipe must see the message taken */
	while ((got = read(fd, chunk, sizeof(chunk))) != 0) {
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			g_set_error(error, MDIR_ERROR, MDIR_ERROR_TEMPFAIL, "standard input: %s",
			    g_strerror(errno));
			return NULL;
		}
		if (buf->len + (gsize)got > MAX_REQUEST)
			*too_big = TRUE;
		else
			g_byte_array_append(buf, chunk, got);
	}
	return g_steal_pointer(&buf);
}

/*
 * S/MIME: smime_open() verifies (and decrypts) @raw, the request as
 * received: one signer, the certificate configured for req->from, which
 * carries that address, chains to ca_file, valid now and not revoked.
 * The commands are then read from the signed content, never from what
 * is outside the signature, and the answer is encrypted if the request
 * was.  A refusal is a reason (its code's name first, for the log); a
 * broken setup (a file missing or unreadable) is an error: the MTA keeps
 * the request.
 */
static gboolean
auth_smime(const CommandConf *cc, Guard *g, Request *req, GBytes *raw, Auth *a,
    GError **error)
{
	g_auto(SmimeRequest) sr = { 0 };
	g_autoptr(GError) e = NULL;
	SmimeConfig config;
	gboolean fresh;

	a->how = "smime";
	conf_smime(cc, &config);
	if (!smime_open(&config, raw, req->from, &sr, &e)) {
		if (e->domain != SMIME_ERROR) {
			g_prefix_error(&e, "S/MIME setup: ");
			g_propagate_error(error, g_steal_pointer(&e));
			return FALSE;
		}
		a->why = g_strdup_printf("%s: %s", smime_error_name(e->code), e->message);
		return TRUE;
	}
	if (!request_set_content(req, sr.content)) {
		a->why = g_strdup("MALFORMED: the signed content is not MIME");
		return TRUE;
	}
	/* recorded before anything runs, as a TOTP code is */
	if (!guard_signature(g, req->from, sr.signature, &fresh, error))
		return FALSE;
	if (!fresh) {
		a->why = g_strdup("REPLAY: this signature was accepted before");
		return TRUE;
	}
	req->encrypted = sr.encrypted;
	mdir_log(LOG_INFO, "smime: signed by <%s>%s", sr.signer,
	    sr.encrypted ? ", encrypted" : "");
	return TRUE;
}

/* The server's key, before anything runs: never commands run unanswered. */
static gboolean
check_setup(const CommandConf *cc, GError **error)
{
	SmimeConfig config;

	if (!conf_seals(cc))
		return TRUE;
	conf_smime(cc, &config);
	if (smime_check_server(&config, error))
		return TRUE;
	g_prefix_error(error, "S/MIME setup: ");
	return FALSE;
}

/* TOTP: not rate-limited, a secret, the code in the window, never used. */
static gboolean
auth_totp(const CommandConf *cc, Guard *g, Request *req, Auth *a, GError **error)
{
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	g_autoptr(GBytes) key = NULL;
	GError *e = NULL;
	guint fails = 0;
	gint64 step;
	gboolean fresh;

	a->how = "totp";
	if (!guard_failures(g, req->from, now - cc->failure_window_ms / 1000, &fails, error))
		return FALSE;
	if (fails >= cc->max_failures) {
		/* refused unchecked: guessing must stay slow */
		a->why = g_strdup_printf("rate-limited: %u failures in the last %" G_GINT64_FORMAT
					 " s", fails, cc->failure_window_ms / 1000);
		return TRUE;
	}
	key = totp_secret_lookup(cc->secrets, req->from, &e);
	if (e) {
		g_propagate_error(error, e);
		return FALSE;
	}
	if (key == NULL)
		a->why = g_strdup_printf("no TOTP secret for <%s>", req->from);
	else if (req->code == NULL)
		a->why = g_strdup("no code after the subject tag (TAG # 123456)");
	else if ((step = totp_match(key, req->code, now / TOTP_STEP, 1)) < 0)
		a->why = g_strdup("wrong or expired code");
	else if (!guard_use(g, req->from, step, &fresh, error))
		return FALSE;
	else if (!fresh)
		a->why = g_strdup("code used before (a replay)");
	if (a->why && !guard_fail(g, req->from, now, error))
		return FALSE;
	return TRUE;
}

/* auth both: S/MIME first (its signer is req->from), then the code. */
static gboolean
authenticate(const CommandConf *cc, Request *req, GBytes *raw, Auth *a, GError **error)
{
	g_autoptr(Guard) g = NULL;

	if (req->from == NULL) {
		a->why = g_strdup("no From address");
		return TRUE;
	}
	if ((g = guard_open(cc->db, error)) == NULL)
		return FALSE;
	if (cc->auth & AUTH_SMIME) {
		if (!auth_smime(cc, g, req, raw, a, error))
			return FALSE;
		if (a->why)
			return TRUE;
	}
	return !(cc->auth & AUTH_TOTP) || auth_totp(cc, g, req, a, error);
}

/* One command's part of the answer; *@failed set if it failed. */
static void
run_one(const CommandConf *cc, const Request *req, const CommandLine *c, GString *out,
    guint *failed)
{
	g_autoptr(PluginResult) r = NULL;

	g_string_append_printf(out, "> %s\n", c->line);
	if (c->name == NULL) {
		g_string_append_printf(out, "(refused: %s)\n\n", c->why);
		return;
	}
	r = plugin_run(cc, c->name, c->context, req->from);
	if (r->refused) {
		g_string_append_printf(out, "(refused: %s)\n\n", r->refused);
		mdir_log(LOG_NOTICE, "command %s from=<%s>: %s", c->name, req->from, r->refused);
		return;
	}
	g_string_append(out, r->output);
	if (r->output[0] && !g_str_has_suffix(r->output, "\n"))
		g_string_append_c(out, '\n');
	if (r->truncated)
		g_string_append_printf(out, "(output truncated at %" G_GSIZE_FORMAT " bytes; "
					    "killed)\n", cc->max_output);
	else if (r->timed_out)
		g_string_append_printf(out, "(killed at the time-out of %" G_GINT64_FORMAT " s)\n",
		    cc->timeout_ms / 1000);
	else if (r->signal)
		g_string_append_printf(out, "(killed by signal %d)\n", r->signal);
	else
		g_string_append_printf(out, "(exit %d)\n", r->status);
	g_string_append_c(out, '\n');
	if (plugin_failed(r)) {
		(*failed)++;
		mdir_log(LOG_WARNING, "command %s from=<%s>: %s", c->name, req->from,
		    r->timed_out ? "killed at the time-out" : r->truncated ? "output truncated" :
		    r->signal ? "killed by a signal" : "exit status not 0");
	}
}

/* Runs the request's commands and files the answer. */
static gboolean
answer(const CommandConf *cc, MdirStore *store, const Request *req, GError **error)
{
	g_autoptr(GPtrArray) lines = request_commands(req->content);
	g_autoptr(GString) out = g_string_new(NULL);
	guint failed = 0;

	for (guint i = 0; i < lines->len; i++)
		run_one(cc, req, lines->pdata[i], out, &failed);
	if (lines->len == 0)
		g_string_append(out, "No command found: one a line, as name(context); help() "
				     "lists them.\n");
	mdir_log(LOG_INFO, "request from=<%s> message-id=<%s> result=accepted commands=%u "
			   "failed=%u", req->from, req->message_id ? req->message_id : "",
	    lines->len, failed);
	return answer_file(store, cc, req, out->str, failed > 0, error);
}

static void
refuse(const CommandConf *cc, MdirStore *store, const Request *req, const char *why)
{
	mdir_log(LOG_NOTICE, "request from=<%s> message-id=<%s> result=refused reason=\"%s\"",
	    req->from ? req->from : "", req->message_id ? req->message_id : "", why);
	answer_notice(store, cc, req, why);
}

static gboolean
handle(const CommandConf *cc, int fd, GError **error)
{
	gboolean too_big;
	g_autoptr(GByteArray) raw = read_request(fd, &too_big, error);
	g_autoptr(Request) req = NULL;
	g_autoptr(MdirStore) store = NULL;
	g_autoptr(GBytes) bytes = NULL;
	Auth a = { NULL, NULL };
	gboolean ok;

	if (raw == NULL)
		return FALSE;
	req = request_parse((const char *)raw->data, raw->len, cc->tag);
	if (!req->tagged || req->auto_submitted) {
		/* spam and bounces to the command address: not requests */
		mdir_log(LOG_INFO, "ignored from=<%s> message-id=<%s>: %s",
		    req->from ? req->from : "", req->message_id ? req->message_id : "",
		    req->auto_submitted ? "Auto-Submitted" : "no subject tag");
		return TRUE;
	}
	store = mdir_store_open_config(cc->config, error);
	if (store == NULL)
		return FALSE;
	if (too_big) {
		refuse(cc, store, req, "larger than 1 MB");
		return TRUE;
	}
	if (!check_setup(cc, error))
		return FALSE;
	bytes = g_bytes_new_static(raw->data, raw->len);
	if (!authenticate(cc, req, bytes, &a, error))
		return FALSE;
	if (a.why) {
		g_autofree char *why = g_strdup_printf("%s: %s", a.how ? a.how : "auth", a.why);

		refuse(cc, store, req, why);
		g_free(a.why);
		return TRUE;
	}
	ok = answer(cc, store, req, error);
	return ok;
}

int
handle_request(const CommandConf *cc, int fd)
{
	g_autoptr(GError) e = NULL;

	if (handle(cc, fd, &e))
		return 0;
	mdir_log(g_error_matches(e, MDIR_ERROR, MDIR_ERROR_CONFIG) ? LOG_CRIT : LOG_ERR, "%s",
	    e->message);
	return mdir_exit_code(e, MDIR_EXIT_MTA);
}
