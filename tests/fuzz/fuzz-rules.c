/*
 * fuzz-rules.c: the rules parser (rules.c, mdir-rules(5)): the input is a
 * .rules file; what parses is evaluated against a part's record, and the
 * input is expanded as a folder pattern too.
 */
#include "fuzz.h"

static MdirRecord *record;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	(void)fuzz_scratch();
	record = mdir_record_new();
	mdir_record_add(record, "url", "mstore:m@x/1");
	mdir_record_add(record, "part", "1");
	mdir_record_add(record, "size", "12345");
	mdir_record_add(record, "content-type", "application/pdf");
	mdir_record_add(record, "suggested-name", "report.pdf");
	mdir_record_add(record, "from", "Alice <alice@example.org>");
	mdir_record_add(record, "to", "jo@example.org");
	mdir_record_add(record, "to", "ann@example.org");
	mdir_record_add(record, "subject", "Invoice 2026");
	mdir_record_add(record, "date", "2026-11-22T09:00:00Z");
	mdir_record_add(record, "received-at", "2026-11-22T09:00:05Z");
	mdir_record_add(record, "list-id", "<l.example.org>");
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autofree char *text = g_strndup((const char *)data, size);
	g_autoptr(GError) e = NULL;
	MdirRules *rules = mdir_rules_parse(text, "fuzz.rules", TRUE, &e);

	if (rules) {
		gboolean keep = TRUE;
		GPtrArray *effects = mdir_rules_eval(rules, record, &keep);

		if (effects)
			g_ptr_array_unref(effects);
		mdir_rules_free(rules);
	}
	if (g_utf8_validate(text, -1, NULL))
		g_free(mdir_rules_expand(text, record));
	return 0;
}
