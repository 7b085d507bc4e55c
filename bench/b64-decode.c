/*
 * bench/b64-decode.c FILE: GMime's base64 decoding filter alone, as
 * mdir-receive uses it (bench/receive.sh builds and runs it).
 */
#include <fcntl.h>
#include <stdio.h>

#include <gmime/gmime.h>

int
main(int argc, char **argv)
{
	GMimeStream *in, *out;
	gint64 t0, n;

	if (argc != 2)
		return 64;
	g_mime_init();
	in = g_mime_stream_fs_open(argv[1], O_RDONLY, 0, NULL);
	if (in == NULL)
		return 66;
	out = g_mime_stream_filter_new(g_mime_stream_null_new());
	g_mime_stream_filter_add(GMIME_STREAM_FILTER(out),
	    g_mime_filter_basic_new(GMIME_CONTENT_ENCODING_BASE64, FALSE));
	t0 = g_get_monotonic_time();
	n = g_mime_stream_write_to_stream(in, out);
	printf("base64 decoding (GMime's filter): %.0f MB/s of decoded output\n",
	    n * 0.75 / 1048576.0 / ((g_get_monotonic_time() - t0) / 1e6));
	return 0;
}
