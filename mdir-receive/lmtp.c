/*
 * lmtp.c: one LMTP session (RFC 2033) as Postfix's lmtp(8) client holds
 * it: LHLO, XFORWARD, MAIL, RCPT, DATA with one reply per accepted
 * recipient, RSET, NOOP, QUIT, PIPELINING.
 *
 * DATA goes through mdir_receive_read(), the pipe mode's own path: the
 * lines are dot-unstuffed and their CRLF made LF as they are read, and
 * prefixed by the Return-Path that pipe(8)'s R flag writes, so that a
 * message is stored byte for byte as the pipe mode stores it.  Nothing
 * of a message is kept in memory but one buffer: the store's tmp spools
 * it.  A recipient is looked up at RCPT, with the pipe mode's decisions
 * and enhanced codes (550 5.1.1 for no account, 4xx for anything
 * temporary).  Replies are written only when the client's input is used
 * up, so a pipelined group of commands gets its replies in one write.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sysexits.h>
#include <syslog.h>
#include <unistd.h>

#include <glib.h>

#include "mdir.h"
#include "receive.h"

/* RFC 5321 says 512 for a command line; SMTPUTF8 addresses and XFORWARD
 * need more, and no client sends this much */
#define MAX_LINE 4096
#define MAX_RCPTS 1000
/* bad commands before the session is ended */
#define MAX_ERRORS 20

typedef struct {
	const MdirConfig *config;
	MdirStore *store;
	int in;
	int out;
	const char *peer;
	char ibuf[16384];
	gsize ipos;
	gsize ilen;
	GString *obuf;
	gint64 timeout_ms;
	guint64 max_size;
	gboolean dead; /* end of input, time-out or a write that failed */
	gboolean lhlo;
	guint errors;
	/* XFORWARD */
	char *xaddr;
	char *xhelo;
	char *xident;
	/* the transaction */
	gboolean mail;
	char *sender;
	GPtrArray *rcpts;
	/* DATA */
	GString *prefix;
	gsize prefix_pos;
	guint64 size;
	gboolean bol;
	int state;
	gboolean ended;
	gboolean too_big;
} Session;

enum { S_TEXT, S_CR, S_DOT, S_DOT_CR };

/* Writes what is pending; a client that takes nothing for the time-out is gone. */
static void
flush(Session *s)
{
	gsize done = 0;

	while (!s->dead && done < s->obuf->len) {
		struct pollfd p = { .fd = s->out, .events = POLLOUT };
		ssize_t n;

		if (poll(&p, 1, (int)s->timeout_ms) == 0) {
			mdir_log(LOG_NOTICE, "lmtp: %s: took no reply for %" G_GINT64_FORMAT " s; "
			    "session ended", s->peer, s->timeout_ms / 1000);
			s->dead = TRUE;
			break;
		}
		n = write(s->out, s->obuf->str + done, s->obuf->len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			s->dead = TRUE;
			break;
		}
		done += n;
	}
	g_string_truncate(s->obuf, 0);
}

/* More input, the replies due flushed first (PIPELINING, RFC 2920). */
static gboolean
fill(Session *s)
{
	struct pollfd p = { .fd = s->in, .events = POLLIN };
	ssize_t n;

	if (s->ipos < s->ilen)
		return TRUE;
	flush(s);
	while (!s->dead) {
		int r = poll(&p, 1, (int)s->timeout_ms);

		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0) {
			mdir_log(LOG_NOTICE, "lmtp: %s: silent for %" G_GINT64_FORMAT " s; session "
			    "ended", s->peer, s->timeout_ms / 1000);
			g_string_append(s->obuf, "421 4.4.2 time-out, closing\r\n");
			flush(s);
			s->dead = TRUE;
			break;
		}
		n = read(s->in, s->ibuf, sizeof(s->ibuf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			s->dead = TRUE;
			break;
		}
		s->ipos = 0;
		s->ilen = n;
		return TRUE;
	}
	return FALSE;
}

static void
reply(Session *s, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void
reply(Session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	g_string_append_vprintf(s->obuf, fmt, ap);
	va_end(ap);
	g_string_append(s->obuf, "\r\n");
}

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
	while (fill(s)) {
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

static void
transaction_reset(Session *s)
{
	s->mail = FALSE;
	g_clear_pointer(&s->sender, g_free);
	g_ptr_array_set_size(s->rcpts, 0);
	/* XFORWARD's attributes hold for one transaction (XFORWARD_README) */
	g_clear_pointer(&s->xaddr, g_free);
	g_clear_pointer(&s->xhelo, g_free);
	g_clear_pointer(&s->xident, g_free);
}

/* The reply for an error of the pipe mode's kinds: 550 5.1.1, 452 4.3.1, 451. */
static void
reply_error(Session *s, const GError *error, const char *what)
{
	const char *status = mdir_enhanced_status(error);
	g_autofree char *text = g_strdup(error->message);
	int code = 451;

	if (mdir_exit_code(error, MDIR_EXIT_MTA) == EX_NOUSER)
		code = 550;
	else if (strcmp(status, "4.3.1") == 0)
		code = 452;
	/* one line: an error's text may quote anything */
	for (char *c = text; *c; c++)
		if ((guchar)*c < ' ')
			*c = ' ';
	reply(s, "%d %s %s%s", code, status, what ? what : "", text);
}

/* "<addr>" (or a bare address) at @p; the rest, the parameters, in *@rest. */
static char *
parse_path(const char *p, const char **rest)
{
	const char *end;

	while (*p == ' ')
		p++;
	if (*p == '<') {
		end = strchr(p, '>');
		if (end == NULL)
			return NULL;
		*rest = end + 1;
		return g_strndup(p + 1, end - p - 1);
	}
	end = strchr(p, ' ');
	end = end ? end : p + strlen(p);
	*rest = end;
	return end > p ? g_strndup(p, end - p) : NULL;
}

/* An address fit to be a recipient or sender: UTF-8, no controls, no space. */
static gboolean
address_ok(const char *a)
{
	if (!g_utf8_validate(a, -1, NULL))
		return FALSE;
	for (const char *c = a; *c; c++)
		if ((guchar)*c <= ' ' || *c == 0x7f)
			return FALSE;
	return TRUE;
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
				reply(s, "552 5.3.4 message larger than %" G_GUINT64_FORMAT
				    " bytes", s->max_size);
				return FALSE;
			}
			continue;
		}
		reply(s, "555 5.5.4 parameter not supported: %s", *p);
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
		reply(s, "503 5.5.1 LHLO first");
		return;
	}
	if (s->mail) {
		reply(s, "503 5.5.1 MAIL already given");
		return;
	}
	if (g_ascii_strncasecmp(arg, "FROM:", 5) != 0 ||
	    (from = parse_path(arg + 5, &rest)) == NULL) {
		reply(s, "501 5.5.4 syntax: MAIL FROM:<address>");
		return;
	}
	if (!address_ok(from)) {
		reply(s, "553 5.1.7 bad sender address");
		return;
	}
	if (!mail_params(s, rest))
		return;
	s->mail = TRUE;
	s->sender = g_steal_pointer(&from);
	reply(s, "250 2.1.0 ok");
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
		reply(s, "503 5.5.1 MAIL first");
		return;
	}
	if (g_ascii_strncasecmp(arg, "TO:", 3) != 0 || (to = parse_path(arg + 3, &rest)) == NULL ||
	    *to == '\0') {
		reply(s, "501 5.5.4 syntax: RCPT TO:<address>");
		return;
	}
	if (!address_ok(to)) {
		reply(s, "553 5.1.3 bad recipient address");
		return;
	}
	if (*rest != '\0' && strspn(rest, " ") != strlen(rest)) {
		reply(s, "555 5.5.4 RCPT parameters not supported");
		return;
	}
	if (s->rcpts->len >= MAX_RCPTS) {
		reply(s, "452 4.5.3 too many recipients");
		return;
	}
	folder = mdir_account_open(s->store, s->config, to, &extension, &error);
	if (folder == NULL) {
		mdir_log(g_error_matches(error, MDIR_ERROR, MDIR_ERROR_NO_ACCOUNT) ? LOG_NOTICE :
		    LOG_ERR, "%s: from=<%s> %s", s->xident ? s->xident : "-", s->sender,
		    error->message);
		if (g_error_matches(error, MDIR_ERROR, MDIR_ERROR_NO_ACCOUNT))
			mdir_events_record(s->config, "unknown", "rcpt", to, "ip", s->xaddr, NULL);
		reply_error(s, error, "mdir-receive: ");
		return;
	}
	g_ptr_array_add(s->rcpts, g_steal_pointer(&to));
	reply(s, "250 2.1.5 ok");
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
		reply(s, "503 5.5.1 XFORWARD inside a transaction");
		return;
	}
	for (char **a = attrs; *a; a++) {
		char *eq = strchr(*a, '=');
		char **slot = NULL;

		if (**a == '\0')
			continue;
		if (eq == NULL) {
			reply(s, "501 5.5.4 syntax: XFORWARD NAME=VALUE...");
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
	reply(s, "250 2.0.0 ok");
}

static void
cmd_lhlo(Session *s, const char *arg)
{
	g_autofree char *host = g_strdup(g_get_host_name());

	if (*arg == '\0') {
		reply(s, "501 5.5.4 syntax: LHLO name");
		return;
	}
	transaction_reset(s);
	s->lhlo = TRUE;
	reply(s, "250-%s", host);
	reply(s, "250-PIPELINING");
	reply(s, "250-ENHANCEDSTATUSCODES");
	reply(s, "250-8BITMIME");
	reply(s, "250-SMTPUTF8");
	reply(s, "250-XFORWARD NAME ADDR PROTO HELO SOURCE PORT IDENT");
	if (s->max_size > 0)
		reply(s, "250 SIZE %" G_GUINT64_FORMAT, s->max_size);
	else
		reply(s, "250 SIZE");
}

/*
 * The DATA reader for mdir_receive_read(): the client's lines up to the
 * lone dot, dot-unstuffed (RFC 5321 4.5.2), CRLF made LF as pipe(8)
 * writes them, the Return-Path first.  A byte at a time through a small
 * state machine: a line may be longer than any buffer.
 */
static gssize
data_read(gpointer data, char *buf, gsize size, GError **error)
{
	Session *s = data;
	gsize n = 0;

	while (n < size && s->prefix_pos < s->prefix->len)
		buf[n++] = s->prefix->str[s->prefix_pos++];
	while (n + 2 <= size && !s->ended) {
		char c;

		if (!fill(s)) {
			g_set_error(error, MDIR_ERROR, MDIR_ERROR_TEMPFAIL,
			    "the client left in the middle of the data");
			return -1;
		}
		c = s->ibuf[s->ipos++];
		switch (s->state) {
		case S_DOT:
			if (c == '\n')
				s->ended = TRUE;
			else if (c == '\r')
				s->state = S_DOT_CR;
			else {
				s->state = S_TEXT;
				s->ipos--; /* the stuffed dot goes; this byte is text */
			}
			continue;
		case S_DOT_CR:
			if (c == '\n') {
				s->ended = TRUE;
				continue;
			}
			buf[n++] = '\r'; /* ".\rX": the dot was stuffing */
			s->state = S_TEXT;
			s->ipos--;
			continue;
		case S_CR:
			s->state = S_TEXT;
			if (c == '\n') {
				buf[n++] = '\n';
				s->bol = TRUE;
				continue;
			}
			buf[n++] = '\r';
			break;
		default:
			break;
		}
		if (s->bol && c == '.') {
			s->bol = FALSE;
			s->state = S_DOT;
		} else if (c == '\r')
			s->state = S_CR;
		else {
			buf[n++] = c;
			s->bol = c == '\n';
		}
	}
	s->size += n;
	if (s->max_size > 0 && s->size > s->max_size + s->prefix->len) {
		s->too_big = TRUE;
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_FAILED, "message larger than %"
		    G_GUINT64_FORMAT " bytes", s->max_size);
		return -1;
	}
	return (gssize)n;
}

/* The rest of the data, after a delivery that stopped reading it. */
static void
data_drain(Session *s)
{
	char buf[4096];

	s->too_big = FALSE;
	s->max_size = 0;
	while (!s->ended && data_read(s, buf, sizeof(buf), NULL) > 0)
		;
}

/* One reply per accepted recipient (RFC 2033 4.2), in RCPT's order. */
static void
data_replies(Session *s, const MdirDelivery *d, const GError *error)
{
	for (guint i = 0; i < s->rcpts->len; i++) {
		const char *rcpt = s->rcpts->pdata[i];
		gboolean refused = FALSE;

		for (const char *const *u = d ? mdir_delivery_unknown(d) : NULL; u && *u; u++)
			refused |= strcmp(*u, rcpt) == 0;
		if (s->too_big)
			reply(s, "552 5.3.4 message larger than %" G_GUINT64_FORMAT " bytes",
			    s->max_size);
		else if (error)
			reply_error(s, error, "mdir-receive: ");
		else if (refused)
			reply(s, "550 5.1.1 <%s>: no such account", rcpt);
		else
			reply(s, "250 2.0.0 <%s> delivered as mstore:%s", rcpt,
			    mdir_delivery_stored_id(d));
	}
}

static void
cmd_data(Session *s)
{
	g_autoptr(MdirDelivery) d = NULL;
	g_autoptr(GError) error = NULL;
	MdirEnvelope env;
	gint64 start;
	guint64 max = s->max_size;

	if (!s->mail || s->rcpts->len == 0) {
		reply(s, "503 5.5.1 no valid recipients");
		return;
	}
	reply(s, "354 go ahead, end with <CRLF>.<CRLF>");
	flush(s);
	start = g_get_monotonic_time();
	g_string_printf(s->prefix, "Return-Path: <%s>\n", s->sender);
	s->prefix_pos = 0;
	s->size = 0;
	s->bol = TRUE;
	s->state = S_TEXT;
	s->ended = FALSE;
	s->too_big = FALSE;
	g_ptr_array_add(s->rcpts, NULL);
	env = (MdirEnvelope){ s->sender, s->xaddr, s->xhelo, s->xident,
		(const char *const *)s->rcpts->pdata, NULL };
	d = mdir_receive_read(s->store, s->config, data_read, s, &env, &error);
	g_ptr_array_set_size(s->rcpts, s->rcpts->len - 1);
	if (!s->ended && !s->dead) {
		gboolean too_big = s->too_big;

		data_drain(s);
		s->too_big = too_big;
		s->max_size = max;
	}
	if (s->dead)
		return; /* no reply: the client retries all of it */
	if (d) {
		receive_log_delivery(s->xident, s->sender, d, start);
		receive_record_events(s->config, s->sender, s->xaddr, d);
	} else
		mdir_log(g_error_matches(error, MDIR_ERROR, MDIR_ERROR_NO_ACCOUNT) ? LOG_NOTICE :
		    LOG_ERR, "%s: from=<%s> %s", s->xident ? s->xident : "-", s->sender,
		    error->message);
	data_replies(s, d, error);
	transaction_reset(s);
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
		cmd_data(s);
	else if (g_ascii_strcasecmp(line, "XFORWARD") == 0)
		cmd_xforward(s, arg);
	else if (g_ascii_strcasecmp(line, "RSET") == 0) {
		transaction_reset(s);
		reply(s, "250 2.0.0 ok");
	} else if (g_ascii_strcasecmp(line, "NOOP") == 0)
		reply(s, "250 2.0.0 ok");
	else if (g_ascii_strcasecmp(line, "VRFY") == 0)
		reply(s, "252 2.5.0 not verified here; send the mail and see");
	else if (g_ascii_strcasecmp(line, "HELO") == 0 || g_ascii_strcasecmp(line, "EHLO") == 0) {
		reply(s, "500 5.5.1 this is LMTP: LHLO, not %s", line);
		s->errors++;
	} else {
		reply(s, "500 5.5.2 command not recognized");
		s->errors++;
	}
}

static void
session_clear(Session *s)
{
	transaction_reset(s);
	g_ptr_array_unref(s->rcpts);
	g_string_free(s->obuf, TRUE);
	g_string_free(s->prefix, TRUE);
	mdir_store_free(s->store);
}

void
lmtp_session(const MdirConfig *config, int in, int out, const char *peer)
{
	g_autoptr(GString) line = g_string_new(NULL);
	g_autoptr(GError) error = NULL;
	Session s = { .config = config, .in = in, .out = out, .peer = peer ? peer : "stdin" };
	gboolean too_long;

	s.obuf = g_string_new(NULL);
	s.prefix = g_string_new(NULL);
	s.rcpts = g_ptr_array_new_with_free_func(g_free);
	s.timeout_ms = MAX(1000, mdir_config_get_duration_ms(config, "receive", "lmtp_timeout"));
	s.max_size = (guint64)MAX(0, mdir_config_get_int(config, "receive",
	    "lmtp_max_message_size"));
	s.store = mdir_store_open_config(config, &error);
	if (s.store == NULL) {
		mdir_log(LOG_CRIT, "lmtp: %s", error->message);
		reply(&s, "421 %s mdir-receive: %s", mdir_enhanced_status(error), error->message);
		flush(&s);
		session_clear(&s);
		return;
	}
	reply(&s, "220 %s LMTP mdir-receive", g_get_host_name());
	while (!s.dead && read_line(&s, line, &too_long)) {
		if (too_long) {
			reply(&s, "500 5.5.2 line too long");
			s.errors++;
		} else if (g_ascii_strcasecmp(line->str, "QUIT") == 0) {
			reply(&s, "221 2.0.0 bye");
			break;
		} else
			command(&s, line->str);
		if (s.errors >= MAX_ERRORS) {
			reply(&s, "421 4.7.0 too many errors, closing");
			break;
		}
	}
	flush(&s);
	session_clear(&s);
}
