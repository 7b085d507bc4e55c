/*
 * fuzz-mdird.c: mdird's protocol lines (mdird/server.c, mdird(8)
 * PROTOCOL).  The input is what a client sends; it goes through the
 * server's own line splitting and command dispatch (server.c is included
 * here whole, so its static functions are reached unchanged), against a
 * store with a few folders, and the replies are written to a socket pair
 * and read back.  main.c's two functions the commands call are stubs.
 */
#define _GNU_SOURCE /* struct ucred, as server.c */
#include <fcntl.h>
#include <sys/socket.h>

#include "server.c"
#include "fuzz.h"

static Daemon daemon_;

void
daemon_schedule_drain(Daemon *d)
{
	(void)d;
}

gboolean
daemon_reload(Daemon *d, GError **error)
{
	(void)d;
	(void)error;
	return TRUE;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	g_autofree char *root = g_build_filename(fuzz_scratch(), "root", NULL);
	const char *folders[] = { "Inbox", "SMTP/Accounts/jo@example.org", "Lists/a b" };

	(void)argc;
	(void)argv;
	daemon_.config = mdir_config_new_default(root);
	daemon_.store = mdir_store_open(root, NULL);
	if (daemon_.store == NULL)
		abort();
	for (gsize i = 0; i < G_N_ELEMENTS(folders); i++) {
		MdirFolder *f = mdir_folder_open(daemon_.store, folders[i], MDIR_FOLDER_CREATE,
		    NULL);

		if (f == NULL)
			abort();
		mdir_folder_free(f);
	}
	daemon_.waiting = g_queue_new();
	daemon_.watches = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, watch_free);
	daemon_.started = g_get_monotonic_time();
	return 0;
}

static void
drain_peer(int fd)
{
	char buf[4096];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sv[2];
	GSocket *sock;
	Client *c;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	sock = g_socket_new_from_fd(sv[0], NULL);
	if (sock == NULL)
		abort();
	c = g_new0(Client, 1);
	c->d = &daemon_;
	c->refs = 1;
	c->id = ++next_id;
	c->conn = g_socket_connection_factory_create_connection(sock);
	g_object_unref(sock);
	c->cancel = g_cancellable_new();
	c->line = g_string_new_len((const char *)data, (gssize)size);
	c->out = g_string_new(NULL);
	daemon_.clients = g_list_prepend(daemon_.clients, c);
	client_ref(c); /* ours, as client_read() holds one in mdird */
	lines(c);
	/* the replies go out, the peer reads them, then the client ends */
	for (int i = 0; i < 1000 && g_main_context_iteration(NULL, FALSE); i++)
		drain_peer(sv[1]);
	drain_peer(sv[1]);
	if (!c->gone)
		client_drop(c);
	for (int i = 0; i < 1000 && g_main_context_iteration(NULL, FALSE); i++)
		drain_peer(sv[1]);
	close(sv[1]);
	client_unref(c);
	return 0;
}
