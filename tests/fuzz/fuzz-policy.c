/*
 * fuzz-policy.c: the policy service's requests (smtp-stats/serve.c and
 * policy.c, SMTPD_POLICY_README): the input is what Postfix sends on one
 * connection; it goes through the service's own parser (serve.c is
 * included here whole, so its static functions are reached unchanged)
 * and every complete request is decided against a real database.
 */
#include "serve.c"
#include "fuzz.h"

static Stats *stats;
static Server srv;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	g_autofree char *root = g_build_filename(fuzz_scratch(), "root", NULL);
	g_autofree char *conf = g_build_filename(fuzz_scratch(), "c.conf", NULL);
	g_autofree char *text = g_strdup_printf("[mdir]\nroot = %s\n[receive]\n"
	    "local_domains = example.test\n[stats]\nblacklist_threshold = 3\n"
	    "spam_min_messages = 1\n", root);
	MdirConfig *config;
	MdirStore *store;
	MdirFolder *jo;

	(void)argc;
	(void)argv;
	if (!g_file_set_contents(conf, text, -1, NULL) ||
	    (config = mdir_config_load(conf, NULL)) == NULL ||
	    (store = mdir_store_open_config(config, NULL)) == NULL ||
	    (jo = mdir_folder_open(store, "SMTP/Accounts/jo@example.test",
		 MDIR_FOLDER_CREATE, NULL)) == NULL ||
	    (stats = stats_open(config, store, NULL)) == NULL)
		abort();
	mdir_folder_free(jo);
	srv.stats = stats;
	g_mutex_init(&srv.db);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Client c = { .srv = &srv };

	c.attrs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	c.buf = g_string_new(NULL);
	c.replies = g_string_new(NULL);
	/* in two reads, as a socket may deliver it */
	g_string_append_len(c.buf, (const char *)data, (gssize)(size / 2));
	parse(&c);
	g_string_append_len(c.buf, (const char *)data + size / 2, (gssize)(size - size / 2));
	parse(&c);
	stats_commit(stats);
	g_hash_table_unref(c.attrs);
	g_string_free(c.buf, TRUE);
	g_string_free(c.replies, TRUE);
	return 0;
}
