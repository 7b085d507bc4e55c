/*
 * replay.c: a main() for a harness without libFuzzer: runs every file
 * named (a directory: every file in it) through LLVMFuzzerTestOneInput()
 * once, so that "make check" replays the regression inputs of
 * tests/data/fuzz with the ordinary (or the sanitizer) build.
 *
 * usage: replay-NAME FILE|DIR...   (exit 0: every input ran)
 */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int
replay_file(const char *path)
{
	g_autofree char *data = NULL;
	g_autoptr(GError) e = NULL;
	gsize len;

	if (!g_file_get_contents(path, &data, &len, &e)) {
		fprintf(stderr, "replay: %s\n", e->message);
		return 1;
	}
	/* libFuzzer's buffer holds exactly the input: so does this copy */
	{
		uint8_t *copy = g_memdup2(data, len);

		LLVMFuzzerTestOneInput(copy, len);
		g_free(copy);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	int bad = 0;
	guint n = 0;

	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++) {
		if (g_file_test(argv[i], G_FILE_TEST_IS_DIR)) {
			g_autoptr(GDir) dir = g_dir_open(argv[i], 0, NULL);
			const char *name;

			while (dir && (name = g_dir_read_name(dir)) != NULL) {
				g_autofree char *p = g_build_filename(argv[i], name, NULL);

				if (g_file_test(p, G_FILE_TEST_IS_REGULAR)) {
					bad |= replay_file(p);
					n++;
				}
			}
		} else {
			bad |= replay_file(argv[i]);
			n++;
		}
	}
	printf("replayed %u inputs\n", n);
	return bad;
}
