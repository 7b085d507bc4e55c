/*
 * fuzz-config.c: the configuration parser (config.c, mdir.conf(5)): the
 * input is written as a file and loaded; every known key is read back
 * in every type.
 */
#include <stdio.h>

#include "fuzz.h"

static char *path;

static const char *const keys[][2] = {
	{ "mdir", "root" }, { "mdir", "socket" }, { "mdir", "sync" }, { "mdir", "log_level" },
	{ "receive", "local_domains" }, { "receive", "max_size" }, { "receive", "deadline" },
	{ "outbox", "retry_schedule" }, { "outbox", "give_up_after" },
	{ "stats", "greylist_delay" }, { "stats", "spam_ratio_threshold" },
	{ "mdird", "drain_interval" }, { "mdird", "max_children" }, { "notify", "command" },
};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	path = g_build_filename(fuzz_scratch(), "fuzz.conf", NULL);
	g_unsetenv("MDIR_ROOT");
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(GError) e = NULL;
	MdirConfig *c;
	FILE *fp = fopen(path, "w");

	/* a plain write: g_file_set_contents() syncs, a hundred times slower */
	if (fp == NULL || fwrite(data, 1, size, fp) != size || fclose(fp) != 0)
		abort();
	c = mdir_config_load(path, &e);
	if (c == NULL)
		return 0;
	(void)mdir_config_root(c);
	(void)mdir_config_warnings(c);
	for (gsize i = 0; i < G_N_ELEMENTS(keys); i++) {
		g_strfreev(mdir_config_get_list(c, keys[i][0], keys[i][1]));
		(void)mdir_config_get(c, keys[i][0], keys[i][1]);
		(void)mdir_config_get_int(c, keys[i][0], keys[i][1]);
		(void)mdir_config_get_duration_ms(c, keys[i][0], keys[i][1]);
		(void)mdir_config_get_bool(c, keys[i][0], keys[i][1]);
	}
	mdir_config_free(c);
	return 0;
}
