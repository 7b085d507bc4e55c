/* common.c: the scratch directory of fuzz.h, for every harness. */
#include <glib/gstdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fuzz.h"

static char *scratch;

/*
 * A g_return_if_fail() that trips is a caller's bug the input reached:
 * a crash for libFuzzer and for the replay in t/0200, not a line on
 * stderr (a field was dropped that way, unseen, a million times).
 */
__attribute__((constructor)) static void
criticals_are_fatal(void)
{
	g_log_set_always_fatal(G_LOG_LEVEL_CRITICAL);
}

static void
remove_tree(const char *path)
{
	GDir *dir = g_dir_open(path, 0, NULL);
	const char *name;

	while (dir && (name = g_dir_read_name(dir)) != NULL) {
		g_autofree char *p = g_build_filename(path, name, NULL);

		if (g_file_test(p, G_FILE_TEST_IS_DIR) && !g_file_test(p, G_FILE_TEST_IS_SYMLINK))
			remove_tree(p);
		else
			g_unlink(p);
	}
	if (dir)
		g_dir_close(dir);
	g_rmdir(path);
}

static void
remove_scratch(void)
{
	if (scratch)
		remove_tree(scratch);
}

const char *
fuzz_scratch(void)
{
	if (scratch == NULL) {
		/* on a tmpfs when there is one: syncs cost nothing there */
		if (g_file_test("/dev/shm", G_FILE_TEST_IS_DIR) && access("/dev/shm", W_OK) == 0)
			scratch = g_mkdtemp(g_strdup("/dev/shm/mdir-fuzz.XXXXXX"));
		else
			scratch = g_dir_make_tmp("mdir-fuzz.XXXXXX", NULL);
		if (scratch == NULL)
			abort();
		atexit(remove_scratch);
		/* quiet: mdir_log() writes nowhere */
		mdir_log_open(0);
	}
	return scratch;
}
