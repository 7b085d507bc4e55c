/*
 * fuzz-mime.c: the MIME splitter (mime.c), as mdir-receive runs it: the
 * input is the raw message, spooled as part 0 of a store transaction,
 * split, and the transaction dropped.  Seeds: the messages of tests/data and the
 * public corpus ($MDIR_SHARED/corpus).
 */
#include "private.h"
#include "fuzz.h"

static MdirStore *store;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	g_autofree char *root = g_build_filename(fuzz_scratch(), "root", NULL);

	(void)argc;
	(void)argv;
	store = mdir_store_open(root, NULL);
	if (store == NULL)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(MdirStoreTxn) txn = mdir_store_txn_begin(store, NULL);
	MdirSplitOptions opts = { .max_depth = 64, .max_size = 0 };
	MdirSplitResult res = { 0 };
	g_autoptr(GError) e = NULL;

	if (txn == NULL)
		abort();
	if (mdir_store_txn_open_part(txn, 0, NULL) &&
	    mdir_store_txn_write(txn, data, size, NULL) &&
	    mdir_store_txn_close_part(txn, NULL))
		mdir_mime_split(txn, &opts, &res, &e);
	mdir_split_result_clear(&res);
	return 0;
}
