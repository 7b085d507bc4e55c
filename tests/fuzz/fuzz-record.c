/*
 * fuzz-record.c: the record parser (record.c, mdir(5)): parse, read every
 * field, write it out and parse that again.
 */
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(GError) e = NULL;
	MdirRecord *r = mdir_record_parse((const char *)data, (gssize)size, &e);
	g_autofree char *text = NULL;
	MdirRecord *again;
	gsize len;

	if (r == NULL)
		return 0;
	for (guint i = 0; i < mdir_record_length(r); i++) {
		const char *name, *value;

		mdir_record_nth(r, i, &name, &value);
		(void)mdir_record_get_int(r, name, -1);
		g_free(mdir_record_get_all(r, name));
	}
	text = mdir_record_to_string(r, &len);
	again = mdir_record_parse(text, (gssize)len, NULL);
	/* what it wrote, it reads back: as many fields */
	if (again == NULL || mdir_record_length(again) != mdir_record_length(r))
		abort();
	mdir_record_free(again);
	mdir_record_free(r);
	return 0;
}
