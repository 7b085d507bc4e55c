/*
 * lmtp-data.c: an LMTP session's connection and its DATA.
 *
 * Replies wait in a buffer until the client's input is used up, so a
 * pipelined group of commands (RFC 2920) gets its replies in one write.
 * Every wait on the client, to read or to write, has the session's
 * time-out.  DATA is read through mdir_receive_read(), the pipe mode's
 * own path: dot-unstuffed and with its CRLF made LF as it is read, after
 * the Return-Path that pipe(8)'s R flag writes; nothing of the message is
 * kept but the buffer at hand.
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
#include "lmtp.h"

/* Writes what is pending; a client that takes nothing for the time-out is gone. */
void
lmtp_flush(Session *s)
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
		/* POLLOUT promises room for a byte, not for all: a client that
		 * reads nothing stops a write past it (SO_SNDTIMEO, lmtp.c) */
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			mdir_log(LOG_NOTICE, "lmtp: %s: took no reply for %" G_GINT64_FORMAT " s; "
			    "session ended", s->peer, s->timeout_ms / 1000);
		if (n <= 0) {
			s->dead = TRUE;
			break;
		}
		done += n;
	}
	g_string_truncate(s->obuf, 0);
}

void
lmtp_deadline_restart(Session *s)
{
	s->until = s->deadline_ms > 0 ? g_get_monotonic_time() + s->deadline_ms * 1000 : 0;
}

/* The session's end at a time-out: the reason logged, 421 said. */
static void
timed_out(Session *s, gboolean deadline)
{
	if (deadline)
		mdir_log(LOG_NOTICE, "lmtp: %s: no transaction done in %" G_GINT64_FORMAT " s "
		    "([receive] deadline); session ended", s->peer, s->deadline_ms / 1000);
	else
		mdir_log(LOG_NOTICE, "lmtp: %s: silent for %" G_GINT64_FORMAT " s; session ended",
		    s->peer, s->timeout_ms / 1000);
	g_string_append(s->obuf, "421 4.4.2 time-out, closing\r\n");
	lmtp_flush(s);
	s->dead = TRUE;
}

/*
 * More input, the replies due flushed first (PIPELINING, RFC 2920).  A
 * read waits lmtp_timeout at most, and never past the session's deadline:
 * a client that trickles a byte now and then, each in time, still ends.
 */
gboolean
lmtp_fill(Session *s)
{
	struct pollfd p = { .fd = s->in, .events = POLLIN };
	ssize_t n;

	if (s->ipos < s->ilen)
		return TRUE;
	lmtp_flush(s);
	while (!s->dead) {
		gint64 left = s->until ? (s->until - g_get_monotonic_time()) / 1000 : G_MAXINT;
		int r = left > 0 ? poll(&p, 1, (int)MIN(left, s->timeout_ms)) : 0;

		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0) {
			timed_out(s, left <= s->timeout_ms);
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

void
lmtp_reply(Session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	g_string_append_vprintf(s->obuf, fmt, ap);
	va_end(ap);
	g_string_append(s->obuf, "\r\n");
}

/* The reply for an error of the pipe mode's kinds: 550 5.1.1, 452 4.3.1, 451. */
void
lmtp_reply_error(Session *s, const GError *error, const char *what)
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
	lmtp_reply(s, "%d %s %s%s", code, status, what ? what : "", text);
}

/*
 * The DATA reader for mdir_receive_read(): the client's lines up to the
 * lone dot, dot-unstuffed (RFC 5321 4.5.2), CRLF made LF as pipe(8)
 * writes them, the Return-Path first.  A byte at a time through a small
 * state machine: a line may be longer than any buffer.
 *
 * Only CRLF "." CRLF ends the data, as Postfix's smtpd_forbid_bare_newline
 * = normalize has it: a bare LF ends a line of text (doc/VIOLATIONS) but
 * never the data, and a CR alone is a byte, never a line's end.  Any other
 * reading lets text that one side takes for the message's end be taken by
 * the other for commands (SMTP smuggling): a second message, from anyone.
 */
/*
 * Inside a line's text (not at its start, no CR pending) every byte up to
 * the next CR or LF is the message's as it is: copied at once, not a byte
 * at a time through the states below.
 */
static gsize
data_run(Session *s, char *buf, gsize room)
{
	const char *p = s->ibuf + s->ipos;
	gsize len = MIN(s->ilen - s->ipos, room);
	gsize i = 0;

	while (i < len && p[i] != '\r' && p[i] != '\n')
		i++;
	memcpy(buf, p, i);
	s->ipos += i;
	return i;
}

static gssize
data_read(gpointer data, char *buf, gsize size, GError **error)
{
	Session *s = data;
	gsize n = 0;

	while (n < size && s->prefix_pos < s->prefix->len)
		buf[n++] = s->prefix->str[s->prefix_pos++];
	while (n + 2 <= size && !s->ended) {
		char c;

		if (!lmtp_fill(s)) {
			g_set_error(error, MDIR_ERROR, MDIR_ERROR_TEMPFAIL,
			    "the client left in the middle of the data");
			return -1;
		}
		if (s->state == S_TEXT && !s->bol && s->ipos < s->ilen &&
		    s->ibuf[s->ipos] != '\r' && s->ibuf[s->ipos] != '\n') {
			n += data_run(s, buf + n, size - n - 1);
			continue;
		}
		c = s->ibuf[s->ipos++];
		switch (s->state) {
		case S_DOT:
			s->state = S_TEXT;
			if (c == '\r') {
				s->state = S_DOT_CR;
			} else if (c == '\n') {
				/* ".<LF>": a line holding a dot, not the end */
				buf[n++] = '.';
				buf[n++] = '\n';
				s->bol = TRUE;
				s->bol_crlf = FALSE;
			} else
				s->ipos--; /* the stuffed dot goes; this byte is text */
			continue;
		case S_DOT_CR:
			s->state = S_TEXT;
			if (c == '\n' && s->dot_crlf) {
				s->ended = TRUE;
			} else if (c == '\n') {
				/* "<LF>.<CR><LF>": a line holding a dot, not the end */
				buf[n++] = '.';
				buf[n++] = '\n';
				s->bol = TRUE;
				s->bol_crlf = TRUE;
			} else {
				buf[n++] = '\r'; /* ".<CR>X": the dot was stuffing */
				s->ipos--;
			}
			continue;
		case S_CR:
			s->state = S_TEXT;
			if (c == '\n') {
				buf[n++] = '\n';
				s->bol = TRUE;
				s->bol_crlf = TRUE;
				continue;
			}
			buf[n++] = '\r'; /* a CR alone: a byte, and no line starts */
			break;
		default:
			break;
		}
		if (s->bol && c == '.') {
			s->dot_crlf = s->bol_crlf;
			s->state = S_DOT;
		} else if (c == '\r')
			s->state = S_CR;
		else
			buf[n++] = c;
		s->bol = c == '\n';
		s->bol_crlf = FALSE;
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

/*
 * A recipient accepted at RCPT that got none of the message: its account
 * was disabled or removed before the data ended.  Each says why, as the
 * pipe mode's exit would (5.2.1 disabled, 5.1.1 no account), never the
 * first refusal's reason for all.
 */
static void
reply_refused(Session *s, const char *rcpt)
{
	g_autoptr(GError) e = NULL;
	g_autoptr(MdirFolder) f = mdir_account_open(s->store, s->config, rcpt, NULL, &e);

	if (f) { /* back this very moment: not delivered, so not a 250 */
		lmtp_reply(s, "451 4.2.0 <%s>: account changed during the delivery", rcpt);
		return;
	}
	mdir_log(mdir_error_is_refusal(e) ? LOG_NOTICE : LOG_ERR, "%s: from=<%s> %s",
	    s->xident ? s->xident : "-", s->sender, e->message);
	lmtp_reply_error(s, e, "mdir-receive: ");
}

/* One reply per accepted recipient (RFC 2033 4.2), in RCPT's order. */
static void
data_replies(Session *s, const MdirDelivery *d, const GError *error)
{
	for (guint i = 0; i < s->rcpts->len; i++) {
		const char *rcpt = s->rcpts->pdata[i];
		gboolean refused = error && mdir_error_is_refusal(error);

		for (const char *const *u = d ? mdir_delivery_unknown(d) : NULL; u && *u; u++)
			refused |= strcmp(*u, rcpt) == 0;
		if (s->too_big)
			lmtp_reply(s, "552 5.3.4 message larger than %" G_GUINT64_FORMAT " bytes",
			    s->max_size);
		else if (refused)
			reply_refused(s, rcpt);
		else if (error)
			lmtp_reply_error(s, error, "mdir-receive: ");
		else
			lmtp_reply(s, "250 2.0.0 <%s> delivered as mstore:%s", rcpt,
			    mdir_delivery_stored_id(d));
	}
}

void
lmtp_data(Session *s)
{
	g_autoptr(MdirDelivery) d = NULL;
	g_autoptr(GError) error = NULL;
	MdirEnvelope env;
	gint64 start;
	guint64 max = s->max_size;

	if (!s->mail || s->rcpts->len == 0) {
		lmtp_reply(s, "503 5.5.1 no valid recipients");
		return;
	}
	lmtp_reply(s, "354 go ahead, end with <CRLF>.<CRLF>");
	lmtp_flush(s);
	start = g_get_monotonic_time();
	g_string_printf(s->prefix, "Return-Path: <%s>\n", s->sender);
	s->prefix_pos = 0;
	s->size = 0;
	s->bol = TRUE;
	s->bol_crlf = TRUE; /* the DATA command's line ended it */
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
	} else if (!mdir_error_is_refusal(error)) /* a refusal: each recipient's, below */
		mdir_log(LOG_ERR, "%s: from=<%s> %s", s->xident ? s->xident : "-", s->sender,
		    error->message);
	data_replies(s, d, error);
	lmtp_transaction_reset(s);
	lmtp_deadline_restart(s);
}
