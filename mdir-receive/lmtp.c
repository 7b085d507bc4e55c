/*
 * lmtp.c: one LMTP session (RFC 2033) as Postfix's lmtp(8) client holds
 * it: LHLO, XFORWARD, MAIL, RCPT, DATA with one reply per accepted
 * recipient, RSET, NOOP, QUIT, PIPELINING.
 *
 * A recipient is looked up at RCPT, with the pipe mode's decisions and
 * enhanced codes (550 5.1.1 for no account, 4xx for anything temporary);
 * DATA (lmtp-data.c) goes through the pipe mode's own path, so that a
 * message is stored byte for byte as the pipe mode stores it.
 */
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <syslog.h>

#include <glib.h>

#include "mdir.h"
#include "receive.h"
#include "lmtp.h"

/* RFC 5321 says 512 for a command line; SMTPUTF8 addresses and XFORWARD
 * need more, and no client sends this much */
#define MAX_LINE 4096
#define MAX_RCPTS 1000
/* bad commands before the session is ended */
#define MAX_ERRORS 20

/*
 * One command line into @line, without its CRLF (or bare LF).  FALSE at
 * the session's end; *@too_long when it passed MAX_LINE (the rest of the
 * line is read and dropped).
 */
static gboolean
read_line(Session *s, GString *line, gboolean *too_long)
{
	g_string_truncate(line, 0);
	*too_long = FALSE;
	while (lmtp_fill(s)) {
		char *start = s->ibuf + s->ipos;
		char *nl = memchr(start, '\n', s->ilen - s->ipos);
		gsize n = nl ? (gsize)(nl - start) : s->ilen - s->ipos;

		if (line->len + n > MAX_LINE)
			*too_long = TRUE;
		else
			g_string_append_len(line, start, n);
		s->ipos += n + (nl != NULL);
		if (nl) {
			if (line->len > 0 && line->str[line->len - 1] == '\r')
				g_string_truncate(line, line->len - 1);
			return TRUE;
		}
	}
	return FALSE;
}

void
lmtp_transaction_reset(Session *s)
{
	s->mail = FALSE;
	g_clear_pointer(&s->sender, g_free);
	g_ptr_array_set_size(s->rcpts, 0);
	/* XFORWARD's attributes hold for one transaction (XFORWARD_README) */
	g_clear_pointer(&s->xaddr, g_free);
	g_clear_pointer(&s->xhelo, g_free);
	g_clear_pointer(&s->xident, g_free);
}

/*
 * "<addr>" (or a bare address) at @p; the rest, the parameters, in *@rest.
 * A quoted local part ("john doe"@example.org, RFC 5321 4.1.2) may hold
 * '>' and spaces: the path ends at the first '>' outside quotes.
 */
static char *
parse_path(const char *p, const char **rest)
{
	const char *end;

	while (*p == ' ')
		p++;
	if (*p == '<') {
		gboolean quoted = FALSE;

		for (end = p + 1; *end && (quoted || *end != '>'); end++) {
			if (quoted && *end == '\\' && end[1])
				end++;
			else if (*end == '"')
				quoted = !quoted;
		}
		if (*end != '>')
			return NULL;
		*rest = end + 1;
		return g_strndup(p + 1, end - p - 1);
	}
	end = strchr(p, ' ');
	end = end ? end : p + strlen(p);
	*rest = end;
	return end > p ? g_strndup(p, end - p) : NULL;
}

/*
 * An address fit to be a recipient or sender: UTF-8, no controls, a space
 * only inside a quoted local part (as Postfix sends "john doe"@example.org).
 */
static gboolean
address_ok(const char *a)
{
	gboolean quoted = FALSE;

	if (!g_utf8_validate(a, -1, NULL))
		return FALSE;
	for (const char *c = a; *c; c++) {
		if ((guchar)*c < ' ' || *c == 0x7f || (*c == ' ' && !quoted))
			return FALSE;
		if (quoted && *c == '\\' && c[1]) {
			c++; /* a quoted pair: the byte itself is checked too */
			if ((guchar)*c < ' ' || *c == 0x7f)
				return FALSE;
		} else if (*c == '"')
			quoted = !quoted;
	}
	return !quoted;
}

/* MAIL's parameters: SIZE, BODY, SMTPUTF8 (RFC 1870, 6152, 6531). */
static gboolean
mail_params(Session *s, const char *rest)
{
	g_auto(GStrv) params = g_strsplit(rest, " ", -1);

	for (char **p = params; *p; p++) {
		if (**p == '\0' || g_ascii_strcasecmp(*p, "SMTPUTF8") == 0 ||
		    g_ascii_strcasecmp(*p, "BODY=8BITMIME") == 0 ||
		    g_ascii_strcasecmp(*p, "BODY=7BIT") == 0)
			continue;
		if (g_ascii_strncasecmp(*p, "SIZE=", 5) == 0) {
			guint64 n = g_ascii_strtoull(*p + 5, NULL, 10);

			if (s->max_size > 0 && n > s->max_size) {
				lmtp_reply(s, "552 5.3.4 message larger than %" G_GUINT64_FORMAT
				    " bytes", s->max_size);
				return FALSE;
			}
			continue;
		}
		lmtp_reply(s, "555 5.5.4 parameter not supported: %s", *p);
		return FALSE;
	}
	return TRUE;
}

static void
cmd_mail(Session *s, const char *arg)
{
	const char *rest = "";
	g_autofree char *from = NULL;

	if (!s->lhlo) {
		lmtp_reply(s, "503 5.5.1 LHLO first");
		return;
	}
	if (s->mail) {
		lmtp_reply(s, "503 5.5.1 MAIL already given");
		return;
	}
	if (g_ascii_strncasecmp(arg, "FROM:", 5) != 0 ||
	    (from = parse_path(arg + 5, &rest)) == NULL) {
		lmtp_reply(s, "501 5.5.4 syntax: MAIL FROM:<address>");
		return;
	}
	if (!address_ok(from)) {
		lmtp_reply(s, "553 5.1.7 bad sender address");
		return;
	}
	if (!mail_params(s, rest))
		return;
	s->mail = TRUE;
	s->sender = g_steal_pointer(&from);
	lmtp_reply(s, "250 2.1.0 ok");
}

/* The account, looked up now: the pipe mode's decision, before the data. */
static void
cmd_rcpt(Session *s, const char *arg)
{
	const char *rest = "";
	g_autofree char *to = NULL;
	g_autofree char *extension = NULL;
	g_autoptr(MdirFolder) folder = NULL;
	g_autoptr(GError) error = NULL;

	if (!s->mail) {
		lmtp_reply(s, "503 5.5.1 MAIL first");
		return;
	}
	if (g_ascii_strncasecmp(arg, "TO:", 3) != 0 || (to = parse_path(arg + 3, &rest)) == NULL ||
	    *to == '\0') {
		lmtp_reply(s, "501 5.5.4 syntax: RCPT TO:<address>");
		return;
	}
	if (!address_ok(to)) {
		lmtp_reply(s, "553 5.1.3 bad recipient address");
		return;
	}
	if (*rest != '\0' && strspn(rest, " ") != strlen(rest)) {
		lmtp_reply(s, "555 5.5.4 RCPT parameters not supported");
		return;
	}
	if (s->rcpts->len >= MAX_RCPTS) {
		lmtp_reply(s, "452 4.5.3 too many recipients");
		return;
	}
	folder = mdir_account_open(s->store, s->config, to, &extension, &error);
	if (folder == NULL) {
		mdir_log(mdir_error_is_refusal(error) ? LOG_NOTICE :
		    LOG_ERR, "%s: from=<%s> %s", s->xident ? s->xident : "-", s->sender,
		    error->message);
		if (g_error_matches(error, MDIR_ERROR, MDIR_ERROR_NO_ACCOUNT))
			mdir_events_record(s->config, "unknown", "rcpt", to, "ip", s->xaddr, NULL);
		lmtp_reply_error(s, error, "mdir-receive: ");
		return;
	}
	g_ptr_array_add(s->rcpts, g_steal_pointer(&to));
	lmtp_reply(s, "250 2.1.5 ok");
}

/* xtext (RFC 3461) decoded; Postfix's [UNAVAILABLE] and [TEMPUNAVAIL] are none. */
static char *
xtext_decode(const char *v)
{
	GString *out;

	if (*v == '\0' || strcmp(v, "[UNAVAILABLE]") == 0 || strcmp(v, "[TEMPUNAVAIL]") == 0)
		return NULL;
	out = g_string_new(NULL);
	for (; *v; v++)
		if (*v == '+' && g_ascii_isxdigit(v[1]) && g_ascii_isxdigit(v[2])) {
			g_string_append_c(out, (char)(g_ascii_xdigit_value(v[1]) * 16 +
			    g_ascii_xdigit_value(v[2])));
			v += 2;
		} else
			g_string_append_c(out, *v);
	if (!address_ok(out->str)) { /* control bytes or broken UTF-8: not recorded */
		g_string_free(out, TRUE);
		return NULL;
	}
	return g_string_free(out, FALSE);
}

/* XFORWARD_README: the client's address, HELO and the queue id, for the log and records. */
static void
cmd_xforward(Session *s, const char *arg)
{
	g_auto(GStrv) attrs = g_strsplit(arg, " ", -1);

	if (s->mail) {
		lmtp_reply(s, "503 5.5.1 XFORWARD inside a transaction");
		return;
	}
	for (char **a = attrs; *a; a++) {
		char *eq = strchr(*a, '=');
		char **slot = NULL;

		if (**a == '\0')
			continue;
		if (eq == NULL) {
			lmtp_reply(s, "501 5.5.4 syntax: XFORWARD NAME=VALUE...");
			return;
		}
		*eq = '\0';
		if (g_ascii_strcasecmp(*a, "ADDR") == 0)
			slot = &s->xaddr;
		else if (g_ascii_strcasecmp(*a, "HELO") == 0)
			slot = &s->xhelo;
		else if (g_ascii_strcasecmp(*a, "IDENT") == 0)
			slot = &s->xident;
		if (slot) {
			g_free(*slot);
			*slot = xtext_decode(eq + 1);
		}
	}
	lmtp_reply(s, "250 2.0.0 ok");
}

static void
cmd_lhlo(Session *s, const char *arg)
{
	g_autofree char *host = g_strdup(g_get_host_name());

	if (*arg == '\0') {
		lmtp_reply(s, "501 5.5.4 syntax: LHLO name");
		return;
	}
	lmtp_transaction_reset(s);
	s->lhlo = TRUE;
	lmtp_reply(s, "250-%s", host);
	lmtp_reply(s, "250-PIPELINING");
	lmtp_reply(s, "250-ENHANCEDSTATUSCODES");
	lmtp_reply(s, "250-8BITMIME");
	lmtp_reply(s, "250-SMTPUTF8");
	lmtp_reply(s, "250-XFORWARD NAME ADDR PROTO HELO SOURCE PORT IDENT");
	if (s->max_size > 0)
		lmtp_reply(s, "250 SIZE %" G_GUINT64_FORMAT, s->max_size);
	else
		lmtp_reply(s, "250 SIZE");
}

/* One command; a dispatcher, long by nature. */
static void
command(Session *s, char *line)
{
	char *sp = strchr(line, ' ');
	const char *arg = sp ? sp + 1 : "";

	if (sp)
		*sp = '\0';
	if (g_ascii_strcasecmp(line, "LHLO") == 0)
		cmd_lhlo(s, arg);
	else if (g_ascii_strcasecmp(line, "MAIL") == 0)
		cmd_mail(s, arg);
	else if (g_ascii_strcasecmp(line, "RCPT") == 0)
		cmd_rcpt(s, arg);
	else if (g_ascii_strcasecmp(line, "DATA") == 0)
		lmtp_data(s);
	else if (g_ascii_strcasecmp(line, "XFORWARD") == 0)
		cmd_xforward(s, arg);
	else if (g_ascii_strcasecmp(line, "RSET") == 0) {
		lmtp_transaction_reset(s);
		lmtp_reply(s, "250 2.0.0 ok");
	} else if (g_ascii_strcasecmp(line, "NOOP") == 0)
		lmtp_reply(s, "250 2.0.0 ok");
	else if (g_ascii_strcasecmp(line, "VRFY") == 0)
		lmtp_reply(s, "252 2.5.0 not verified here; send the mail and see");
	else if (g_ascii_strcasecmp(line, "HELO") == 0 || g_ascii_strcasecmp(line, "EHLO") == 0) {
		lmtp_reply(s, "500 5.5.1 this is LMTP: LHLO, not %s", line);
		s->errors++;
	} else {
		lmtp_reply(s, "500 5.5.2 command not recognized");
		s->errors++;
	}
}

static void
session_clear(Session *s)
{
	lmtp_transaction_reset(s);
	g_ptr_array_unref(s->rcpts);
	g_string_free(s->obuf, TRUE);
	g_string_free(s->prefix, TRUE);
	mdir_store_free(s->store);
}

void
lmtp_session(const MdirConfig *config, int in, int out, const char *peer, LmtpGroup *group)
{
	g_autoptr(GString) line = g_string_new(NULL);
	g_autoptr(GError) error = NULL;
	Session s = { .config = config, .in = in, .out = out, .peer = peer ? peer : "stdin" };
	gboolean too_long;

	s.obuf = g_string_new(NULL);
	s.prefix = g_string_new(NULL);
	s.rcpts = g_ptr_array_new_with_free_func(g_free);
	s.timeout_ms = MAX(1000, mdir_config_get_duration_ms(config, "receive", "lmtp_timeout"));
	/* the pipe mode's bound on a delivery bounds each transaction */
	s.deadline_ms = mdir_config_get_duration_ms(config, "receive", "deadline");
	lmtp_deadline_restart(&s);
	{
		/* a write blocks once the client's buffer is full, whatever poll
		 * said: bounded by the time-out too (not a socket: no matter) */
		struct timeval tv = { .tv_sec = s.timeout_ms / 1000,
			.tv_usec = (s.timeout_ms % 1000) * 1000 };

		(void)setsockopt(out, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	s.max_size = (guint64)MAX(0, mdir_config_get_int(config, "receive",
	    "lmtp_max_message_size"));
	s.store = mdir_store_open_config(config, &error);
	if (s.store == NULL) {
		mdir_log(LOG_CRIT, "lmtp: %s", error->message);
		lmtp_reply(&s, "421 %s mdir-receive: %s", mdir_enhanced_status(error), error->message);
		lmtp_flush(&s);
		session_clear(&s);
		return;
	}
	if (group)
		mdir_store_set_sync_func(s.store, lmtp_group_syncfs, group);
	lmtp_reply(&s, "220 %s LMTP mdir-receive", g_get_host_name());
	while (!s.dead && read_line(&s, line, &too_long)) {
		if (too_long) {
			lmtp_reply(&s, "500 5.5.2 line too long");
			s.errors++;
		} else if (g_ascii_strcasecmp(line->str, "QUIT") == 0) {
			lmtp_reply(&s, "221 2.0.0 bye");
			break;
		} else
			command(&s, line->str);
		if (s.errors >= MAX_ERRORS) {
			lmtp_reply(&s, "421 4.7.0 too many errors, closing");
			break;
		}
	}
	lmtp_flush(&s);
	session_clear(&s);
}
