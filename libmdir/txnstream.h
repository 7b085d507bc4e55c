/*
 * txnstream.h: TxnStream, a write-only GMimeStream into the part of a store
 * transaction being written, converting text to UTF-8 on the way.  For
 * mime.c; internal.
 */
#ifndef MDIR_TXNSTREAM_H
#define MDIR_TXNSTREAM_H

#include <gmime/gmime.h>

#include "mdir.h"

typedef struct {
	GMimeStream parent;
	MdirStoreTxn *txn;
	GError *error;
	GIConv cd;	   /* (GIConv)-1 until decided; then to UTF-8 */
	gboolean text;	   /* convert to UTF-8 */
	gboolean sniffing; /* charset undeclared or UTF-8: look first */
	GByteArray *pending;
	char *detected; /* the charset used, when we chose it */
} TxnStream;

GType txn_stream_get_type(void);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(TxnStream, g_object_unref)

/*
 * A stream into the open part.  @charset: NULL for bytes as they are;
 * otherwise the declared charset ("" if none) of a text to store as UTF-8.
 * Transfer full.
 */
TxnStream *txn_stream_new(MdirStoreTxn *txn, const char *charset);

/* Ends a text: decides its charset if still undecided, converts the rest. */
void txn_stream_finish(TxnStream *s);

#endif
