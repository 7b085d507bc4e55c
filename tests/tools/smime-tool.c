/*
 * smime-tool.c: smime_open() and smime_seal() from the shell,
 * for t/7010, whose clients are the real openssl cms and smime commands.
 *
 *   smime-tool open --from ADDRESS [--content FILE] OPTIONS <message
 *     prints "signer=ADDRESS" and "encrypted=0|1", writes the content to
 *     FILE; refused: "error=CODE message" on stderr, exit 1
 *   smime-tool seal [--to ADDRESS] OPTIONS <entity >sealed
 *
 * OPTIONS: --ca FILE --crl FILE --certs DIR --cert FILE --key FILE.
 * Exit 2 for an error outside SMIME_ERROR (the setup's), 64 usage.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "smime.h"

static int
report(const GError *e)
{
	if (e->domain == SMIME_ERROR) {
		fprintf(stderr, "error=%s %s\n", smime_error_name(e->code), e->message);
		return 1;
	}
	fprintf(stderr, "error=OTHER %s\n", e->message);
	return 2;
}

static GBytes *
read_stdin(void)
{
	GByteArray *a = g_byte_array_new();
	guint8 buf[65536];
	ssize_t n;

	while ((n = read(0, buf, sizeof buf)) > 0)
		g_byte_array_append(a, buf, (guint)n);
	if (n < 0)
		g_error("stdin: %s", g_strerror(errno));
	return g_byte_array_free_to_bytes(a);
}

int
main(int argc, char **argv)
{
	g_autofree char *ca = NULL, *crl = NULL, *certs = NULL, *cert = NULL, *key = NULL;
	g_autofree char *from = NULL, *to = NULL, *content = NULL;
	GOptionEntry entries[] = {
		{ "ca", 0, 0, G_OPTION_ARG_FILENAME, &ca, "CA file", "FILE" },
		{ "crl", 0, 0, G_OPTION_ARG_FILENAME, &crl, "CRL file", "FILE" },
		{ "certs", 0, 0, G_OPTION_ARG_FILENAME, &certs, "certificates", "DIR" },
		{ "cert", 0, 0, G_OPTION_ARG_FILENAME, &cert, "server certificate", "FILE" },
		{ "key", 0, 0, G_OPTION_ARG_FILENAME, &key, "server key", "FILE" },
		{ "from", 0, 0, G_OPTION_ARG_FILENAME, &from, "From address", "ADDRESS" },
		{ "to", 0, 0, G_OPTION_ARG_FILENAME, &to, "encrypt to", "ADDRESS" },
		{ "content", 0, 0, G_OPTION_ARG_FILENAME, &content, "content to", "FILE" },
		{ NULL },
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new("open|seal");
	g_autoptr(GError) e = NULL;
	g_autoptr(GBytes) in = NULL;
	SmimeConfig config;

	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, &argc, &argv, &e) || argc != 2) {
		fprintf(stderr, "smime-tool: %s\n", e ? e->message : "open or seal?");
		return 64;
	}
	config = (SmimeConfig){ .ca_file = ca, .crl_file = crl, .certs_dir = certs,
		.server_cert = cert, .server_key = key };
	in = read_stdin();
	if (strcmp(argv[1], "open") == 0 && from) {
		g_auto(SmimeRequest) req = { 0 };
		gsize n;
		const char *data;

		if (!smime_open(&config, in, from, &req, &e))
			return report(e);
		printf("signer=%s\nencrypted=%d\n", req.signer, req.encrypted);
		data = g_bytes_get_data(req.content, &n);
		if (content && !g_file_set_contents(content, data, (gssize)n, &e))
			return report(e);
		return 0;
	}
	if (strcmp(argv[1], "seal") == 0) {
		const char *const recipients[] = { to, NULL };
		g_autoptr(GBytes) out = smime_seal(&config, in, recipients, &e);
		gsize n;
		const char *data;

		if (out == NULL)
			return report(e);
		data = g_bytes_get_data(out, &n);
		return fwrite(data, 1, n, stdout) == n && fflush(stdout) == 0 ? 0 : 2;
	}
	fprintf(stderr, "smime-tool: open --from ADDRESS, or seal\n");
	return 64;
}
