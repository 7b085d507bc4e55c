/*
 * sent.c: the copy kept in SMTP/Sent is the one that went out, signatures
 * and all, stored as a message of its own (mdir(5)): its record describes
 * that file (url, size, sha256), so that mstore fsck and mstore cat agree
 * with the folder, and says how it was sent.
 */
#define _GNU_SOURCE /* fopencookie */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <gmime/gmime.h>

#include "outbox.h"

/* Fields of the outbox entry's record that say how it was sent. */
static gboolean
sending_field(const char *name)
{
	static const char *const keep[] = { "sent-at", "sendmail-result", "account",
		"forward-to", NULL };

	return (g_str_has_prefix(name, "outbox-") && strcmp(name, "outbox-recipient") != 0 &&
		   strcmp(name, "outbox-sender") != 0) ||
	    g_strv_contains(keep, name);
}

/* What the record says of the message itself, decoded as received records are. */
static void
describe(MdirRecord *rec, const Message *m)
{
	static const char *const fields[] = { "from", "to", "cc", "date", "in-reply-to",
		"references" };
	g_autofree char *subject = g_mime_utils_header_decode_text(NULL, m->subject);
	g_autofree char *safe = mdir_sanitize_name(*subject ? subject : "sent", -1);
	g_autofree char *name = g_strconcat(safe ? safe : "sent", ".eml", NULL);

	mdir_record_add(rec, "content-type", "message/rfc822");
	mdir_record_add(rec, "suggested-name", name);
	for (gsize i = 0; i < G_N_ELEMENTS(fields); i++) {
		g_autofree char *v = message_header(m, fields[i]);
		g_autofree char *d = v ? g_mime_utils_header_decode_text(NULL, v) : NULL;

		mdir_record_add(rec, fields[i], d);
	}
	mdir_record_add(rec, "subject", subject);
}

/* A stdio stream that writes into a store transaction's part (fopencookie(3)). */
typedef struct {
	MdirStoreTxn *txn;
	GError *error;
} TxnSink;

static ssize_t
txn_sink_write(void *cookie, const char *buf, size_t n)
{
	TxnSink *sink = cookie;

	if (sink->error == NULL && mdir_store_txn_write(sink->txn, buf, n, &sink->error))
		return (ssize_t)n;
	errno = EIO;
	return -1;
}

/*
 * @m, signed, written into a store transaction under the message's own
 * Message-ID: sendmail reads the stored file once it is published, no
 * other copy made.
 */
MdirStoreTxn *
sent_write(MdirStore *store, const Message *m, const char *sigs, GError **error)
{
	g_autoptr(MdirStoreTxn) txn = mdir_store_txn_begin(store, error);
	g_autoptr(GError) e = NULL;
	TxnSink sink = { txn, NULL };
	FILE *f;
	gboolean ok;

	if (txn == NULL || !mdir_store_txn_open_part(txn, 0, error))
		return NULL;
	f = fopencookie(&sink, "w", (cookie_io_functions_t){ .write = txn_sink_write });
	if (f == NULL) {
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "fopencookie: %s",
		    g_strerror(errno));
		return NULL;
	}
	ok = message_write(m, sigs, f, &e);
	if (fclose(f) != 0)
		ok = FALSE;
	/* the store's own error first: the stream's is only EIO */
	if (sink.error) {
		g_propagate_error(error, sink.error);
		return NULL;
	}
	if (!ok) {
		if (e == NULL)
			g_set_error(&e, G_FILE_ERROR, G_FILE_ERROR_IO, "%s: cannot write its copy",
			    m->message_id);
		g_propagate_error(error, g_steal_pointer(&e));
		return NULL;
	}
	if (!mdir_store_txn_close_part(txn, error))
		return NULL;
	describe(mdir_store_txn_record(txn, 0), m);
	return g_steal_pointer(&txn);
}

/*
 * Published with a flush before its rename, which makes the outbox
 * entry's in-flight mark, written just before, durable too (outbox.c).
 */
char *
sent_commit(MdirStore *store, MdirStoreTxn *txn, const Message *m, gboolean *is_new,
    char **file, GError **error)
{
	g_autofree char *id = NULL;
	g_autofree char *url = NULL;
	MdirStoreOutcome outcome;

	if (!mdir_store_txn_commit(txn, m->message_id, &id, &outcome, error))
		return NULL;
	*is_new = outcome == MDIR_STORE_NEW;
	url = mdir_url_build(id, 0);
	*file = mdir_store_part_path(store, url, error);
	if (*file == NULL) {
		sent_drop(store, id, *is_new);
		return NULL;
	}
	return g_steal_pointer(&id);
}

void
sent_drop(MdirStore *store, const char *id, gboolean is_new)
{
	g_autofree char *dir = NULL;
	g_autoptr(GError) e = NULL;

	/* the same message stored before is another's to keep */
	if (!is_new)
		return;
	dir = mdir_store_message_dir(store, id);
	if (!mdir_store_remove_message(store, dir, &e))
		mdir_log(LOG_WARNING, "%s: not sent, and its copy stays in the store (mstore gc): %s",
		    id, e->message);
}

MdirRecord *
sent_record(MdirStore *store, const char *id, const Message *m, const MdirRecord *sending,
    char **part, GError **error)
{
	g_autofree char *url = mdir_url_build(id, 0);
	g_autoptr(MdirRecord) rec = NULL;

	rec = mdir_store_load_record(store, url, error);
	*part = rec ? mdir_store_part_path(store, url, error) : NULL;
	if (*part == NULL)
		return NULL;
	if (mdir_record_get(sending, "url"))
		mdir_record_add(rec, "original-url", mdir_record_get(sending, "url"));
	mdir_record_add(rec, "outbox-sender", m->sender);
	for (guint i = 0; i < m->rcpts->len; i++)
		mdir_record_add(rec, "outbox-recipient", m->rcpts->pdata[i]);
	for (guint i = 0; i < mdir_record_length(sending); i++) {
		const char *name, *value;

		mdir_record_nth(sending, i, &name, &value);
		if (sending_field(name))
			mdir_record_add(rec, name, value);
	}
	return g_steal_pointer(&rec);
}
