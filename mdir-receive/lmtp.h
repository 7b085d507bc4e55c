/*
 * lmtp.h: an LMTP session's state, shared by lmtp.c (the commands) and
 * lmtp-data.c (the connection's I/O and DATA).
 */
#ifndef MDIR_RECEIVE_LMTP_H
#define MDIR_RECEIVE_LMTP_H

#include <glib.h>

#include "mdir.h"

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
	gint64 timeout_ms;  /* a read's or a write's */
	gint64 deadline_ms; /* a transaction's, from the last one's end */
	gint64 until;	    /* monotonic µs, or 0: no deadline */
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
	gboolean bol;	   /* at a line's start */
	gboolean bol_crlf; /* ... after a CRLF (or at the data's start) */
	gboolean dot_crlf; /* the line-start dot read came after a CRLF */
	int state;
	gboolean ended;
	gboolean too_big;
} Session;

enum { S_TEXT, S_CR, S_DOT, S_DOT_CR };

/* Writes the replies due; a client that takes none for the time-out is gone. */
void lmtp_flush(Session *s);
/* More input, the replies due written first; FALSE at the session's end. */
gboolean lmtp_fill(Session *s);
/* The deadline counted again from now: a transaction ended. */
void lmtp_deadline_restart(Session *s);
/* One reply line, CRLF added, written at the next lmtp_flush(). */
void lmtp_reply(Session *s, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/* The reply for an error of the pipe mode's kinds: 550 5.1.1, 452 4.3.1, 451. */
void lmtp_reply_error(Session *s, const GError *error, const char *what);
/* The transaction (and XFORWARD's attributes) forgotten. */
void lmtp_transaction_reset(Session *s);
/* DATA: the message received, a reply per accepted recipient. */
void lmtp_data(Session *s);

#endif
