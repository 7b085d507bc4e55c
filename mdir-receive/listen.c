/*
 * listen.c: the resident LMTP server.  It listens on a Unix socket or a
 * loopback port and serves each connection in a child process of its own
 * (lmtp.c), at most [receive] lmtp_max_sessions at once.
 *
 * A process per session, not per message: Postfix keeps its LMTP
 * connections open and sends many messages down each, so the fork is
 * paid once a session, and GMime's start-up not at all (the parent did
 * it).  A client that stalls holds its own process until its time-out,
 * never the others; a crash in a delivery ends one session, whose client
 * retries.  One more connection than the maximum gets a 421 at once:
 * Postfix defers and tries again, nothing waits unbounded.
 */
#define _GNU_SOURCE /* accept4, struct ucred */
#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>

#include "mdir.h"
#include "receive.h"

typedef struct {
	const MdirConfig *config;
	int fd;
	gboolean is_unix;
	uid_t peer_uid; /* besides root and ourselves; (uid_t)-1: none */
	guint max;
	guint sessions;
	LmtpGroup *group; /* NULL: each session syncs alone */
	gint64 last_full_log;
} Server;

/* "unix:PATH" or "inet:127.0.0.1:PORT" (loopback only) into an address. */
static GSocketAddress *
listen_address(const char *spec, char **unix_path, GError **error)
{
	if (g_str_has_prefix(spec, "unix:") && spec[5] == '/') {
		*unix_path = g_strdup(spec + 5);
		return g_unix_socket_address_new(spec + 5);
	}
	if (g_str_has_prefix(spec, "inet:")) {
		const char *colon = strrchr(spec + 5, ':');
		g_autofree char *host = colon ? g_strndup(spec + 5, colon - spec - 5) : NULL;
		g_autoptr(GInetAddress) a = host ? g_inet_address_new_from_string(host) : NULL;
		guint64 port = 0;

		if (a && g_inet_address_get_is_loopback(a) &&
		    g_ascii_string_to_unsigned(colon + 1, 10, 1, 65535, &port, NULL))
			return g_inet_socket_address_new(a, (guint16)port);
	}
	g_set_error(error, MDIR_ERROR, MDIR_ERROR_USAGE,
	    "--lmtp=%s: not unix:/PATH or inet:127.0.0.1:PORT", spec);
	return NULL;
}

/*
 * The listening socket.  A Unix socket is made 0666 with no moment more
 * open than that, and every client's credentials are checked instead
 * (peer_allowed): the directory it is in decides who can reach it.
 */
static GSocket *
open_listener(const char *spec, char **path, GError **error)
{
	g_autoptr(GSocketAddress) addr = listen_address(spec, path, error);
	g_autoptr(GSocket) sock = NULL;
	mode_t old;
	gboolean ok;

	if (addr == NULL)
		return NULL;
	sock = g_socket_new(g_socket_address_get_family(addr), G_SOCKET_TYPE_STREAM,
	    G_SOCKET_PROTOCOL_DEFAULT, error);
	if (sock == NULL)
		return NULL;
	if (*path)
		unlink(*path); /* a dead server's */
	old = umask(0111);
	ok = g_socket_bind(sock, addr, TRUE, error);
	umask(old);
	if (!ok)
		return NULL;
	g_socket_set_listen_backlog(sock, 128);
	if (!g_socket_listen(sock, error))
		return NULL;
	return g_steal_pointer(&sock);
}

/* On a Unix socket only root, ourselves and [receive] lmtp_user may deliver. */
static gboolean
peer_allowed(const Server *srv, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (!srv->is_unix)
		return TRUE;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		mdir_log(LOG_WARNING, "lmtp: refused a client: %s", g_strerror(errno));
		return FALSE;
	}
	if (cred.uid == 0 || cred.uid == geteuid() || cred.uid == srv->peer_uid)
		return TRUE;
	mdir_log(LOG_WARNING, "lmtp: refused a client with uid %u: not [receive] lmtp_user",
	    (unsigned)cred.uid);
	return FALSE;
}

static char *
peer_name(const Server *srv, int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	g_autoptr(GSocketAddress) a = NULL;

	if (srv->is_unix || getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
		return g_strdup_printf("unix:%d", (int)getpid());
	a = g_socket_address_new_from_native(&ss, len);
	if (a == NULL || !G_IS_INET_SOCKET_ADDRESS(a))
		return g_strdup("inet");
	return g_inet_address_to_string(g_inet_socket_address_get_address(
	    G_INET_SOCKET_ADDRESS(a)));
}

/* The child: one session, then gone without running the parent's exit. */
static void G_GNUC_NORETURN
serve_child(Server *srv, int fd, const sigset_t *mask)
{
	g_autofree char *peer = NULL;

	close(srv->fd);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	sigprocmask(SIG_UNBLOCK, mask, NULL);
	peer = peer_name(srv, fd);
	lmtp_session(srv->config, fd, fd, peer, srv->group);
	close(fd);
	_exit(0);
}

static void
refuse(Server *srv, int fd)
{
	static const char full[] = "421 4.3.2 too many LMTP sessions, try again later\r\n";
	gint64 now = g_get_monotonic_time();
	char buf[4096];

	if (now - srv->last_full_log > 60 * G_USEC_PER_SEC) {
		mdir_log(LOG_WARNING, "lmtp: %u sessions, the most allowed ([receive] "
		    "lmtp_max_sessions); refusing more", srv->max);
		srv->last_full_log = now;
	}
	if (write(fd, full, sizeof(full) - 1) < 0)
		mdir_log(LOG_DEBUG, "lmtp: refused client gone: %s", g_strerror(errno));
	/* what it sent already, read: closed unread, it would reset the
	 * connection and the client might lose the 421 */
	shutdown(fd, SHUT_WR);
	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

static void
accept_one(Server *srv, const sigset_t *mask)
{
	int fd = accept4(srv->fd, NULL, NULL, SOCK_CLOEXEC);
	pid_t pid;

	if (fd < 0) {
		if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
			mdir_log(LOG_WARNING, "lmtp: accept: %s", g_strerror(errno));
		return;
	}
	if (srv->sessions >= srv->max)
		refuse(srv, fd);
	else if (peer_allowed(srv, fd)) {
		pid = fork();
		if (pid == 0)
			serve_child(srv, fd, mask);
		if (pid < 0) {
			mdir_log(LOG_ERR, "lmtp: fork: %s", g_strerror(errno));
			refuse(srv, fd);
		} else
			srv->sessions++;
	}
	close(fd);
}

static void
reap(Server *srv)
{
	int status;

	while (waitpid(-1, &status, WNOHANG) > 0) {
		if (srv->sessions > 0)
			srv->sessions--;
		if (WIFSIGNALED(status))
			mdir_log(LOG_ERR, "lmtp: a session ended by signal %d", WTERMSIG(status));
	}
}

/* Until SIGTERM or SIGINT: connections served, children reaped. */
static void
serve(Server *srv)
{
	sigset_t mask;
	int sfd;

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	for (;;) {
		struct pollfd p[2] = { { .fd = srv->fd, .events = POLLIN },
			{ .fd = sfd, .events = POLLIN } };
		struct signalfd_siginfo si;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents && read(sfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo != SIGCHLD)
				break;
			reap(srv);
		}
		if (p[0].revents)
			accept_one(srv, &mask);
	}
	close(sfd);
}

gboolean
lmtp_listen(const MdirConfig *config, const char *spec, GError **error)
{
	const char *user = mdir_config_get(config, "receive", "lmtp_user");
	struct passwd *pw = user && *user ? getpwnam(user) : NULL;
	g_autofree char *path = NULL;
	g_autoptr(GSocket) sock = open_listener(spec, &path, error);
	g_autoptr(MdirStore) store = NULL;
	Server srv = { .config = config, .is_unix = path != NULL,
		.peer_uid = pw ? pw->pw_uid : (uid_t)-1,
		.max = (guint)MAX(1, mdir_config_get_int(config, "receive", "lmtp_max_sessions")) };

	if (sock == NULL)
		return FALSE;
	/* the store opened once here: a broken root stops the start */
	store = mdir_store_open_config(config, error);
	if (store == NULL)
		return FALSE;
	if (mdir_config_get_bool(config, "receive", "lmtp_group_commit") &&
	    (srv.group = lmtp_group_new(mdir_store_root(store))) == NULL)
		mdir_log(LOG_WARNING, "lmtp: no group commit: %s", g_strerror(errno));
	srv.fd = g_socket_get_fd(sock);
	mdir_log(LOG_INFO, "lmtp: listening on %s, %u sessions at most", spec, srv.max);
	serve(&srv);
	if (srv.group) {
		guint64 asked, syncs;

		lmtp_group_stats(srv.group, &asked, &syncs);
		mdir_log(LOG_INFO, "lmtp: group commit: %" G_GUINT64_FORMAT " syncs for %"
		    G_GUINT64_FORMAT " asked", syncs, asked);
	}
	mdir_log(LOG_INFO, "lmtp: stopped; sessions in progress finish on their own");
	if (path)
		unlink(path);
	return TRUE;
}
