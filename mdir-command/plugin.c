/*
 * plugin.c: running one command.  A plugin is an executable file named
 * after the command in [command] plugins, trusted only if root or we own
 * it and its directory and nobody else may write them.  It runs without
 * a shell (execve), with its context as its one argument, stdin
 * /dev/null, a clean environment, in a process group of its own: at the
 * time-out, at max_output bytes of output, and when it exits, the whole
 * group is killed, so nothing it started outlives the request.  Its
 * output is read into a buffer of max_output bytes, never more.
 */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "command.h"

#define DESCRIPTION "# description:"

void
plugin_result_free(PluginResult *r)
{
	if (r == NULL)
		return;
	g_free(r->output);
	g_free(r->refused);
	g_free(r);
}

gboolean
plugin_failed(const PluginResult *r)
{
	return r->refused == NULL && (r->status != 0 || r->timed_out || r->truncated);
}

/* Root's or ours, and nobody else may change it. */
static gboolean
trusted(const struct stat *st)
{
	return (st->st_uid == 0 || st->st_uid == geteuid()) && (st->st_mode & 022) == 0;
}

/* The plugin's path if it may run; NULL and @why otherwise. */
static char *
plugin_path(const CommandConf *cc, const char *name, char **why)
{
	g_autofree char *path = g_build_filename(cc->plugins, name, NULL);
	struct stat st;

	if (stat(cc->plugins, &st) < 0 || !S_ISDIR(st.st_mode) || !trusted(&st)) {
		*why = g_strdup("the plugins directory is missing or others may write it");
		return NULL;
	}
	if (lstat(path, &st) < 0) {
		*why = g_strdup("unknown command");
		return NULL;
	}
	if (!S_ISREG(st.st_mode) || !trusted(&st) || access(path, X_OK) < 0) {
		*why = g_strdup("the plugin is not an executable file of root's or mdir's "
				"that only its owner may change");
		return NULL;
	}
	return g_steal_pointer(&path);
}

/* PATH for a plugin: this program's directory first, where mstore is. */
static char *
plugin_env_path(void)
{
	g_autofree char *self = g_file_read_link("/proc/self/exe", NULL);
	g_autofree char *dir = self ? g_path_get_dirname(self) : NULL;

	return g_strconcat(dir ? dir : "", dir ? ":" : "", "/usr/local/bin:/usr/bin:/bin", NULL);
}

static char **
plugin_env(const CommandConf *cc, const char *sender)
{
	g_autofree char *path = plugin_env_path();
	GPtrArray *env = g_ptr_array_new();
	const char *file = mdir_config_file(cc->config);

	g_ptr_array_add(env, g_strconcat("PATH=", path, NULL));
	g_ptr_array_add(env, g_strdup("LANG=C.UTF-8"));
	g_ptr_array_add(env, g_strconcat("MDIR_SENDER=", sender, NULL));
	g_ptr_array_add(env, g_strconcat("MDIR_ROOT=", mdir_config_root(cc->config), NULL));
	if (file) {
		g_autofree char *abs = g_canonicalize_filename(file, NULL);

		g_ptr_array_add(env, g_strconcat("MDIR_CONF=", abs, NULL));
	}
	g_ptr_array_add(env, NULL);
	return (char **)g_ptr_array_free(env, FALSE);
}

/* In the child: nothing but execve, or exit 127. */
static void G_GNUC_NORETURN
child(const char *path, const char *context, char **env, int out)
{
	const char *argv[] = { path, context, NULL };
	int null = open("/dev/null", O_RDONLY);

	setpgid(0, 0);
	if (null < 0 || chdir("/") < 0 || dup2(null, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
		_exit(127);
	for (int fd = 3; fd < 1024; fd++)
		close(fd);
	signal(SIGPIPE, SIG_DFL);
	execve(path, (char *const *)(guintptr)argv, env);
	_exit(127);
}

/* Reads @fd until EOF, the deadline or the limit; sets the result's flags. */
static void
read_output(PluginResult *r, int fd, gint64 deadline, gsize max, GString *out)
{
	char buf[8192];

	for (;;) {
		gint64 left = (deadline - g_get_monotonic_time()) / 1000;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		gssize got;

		if (left <= 0) {
			r->timed_out = TRUE;
			return;
		}
		if (poll(&p, 1, (int)MIN(left, 1000)) < 0 && errno != EINTR)
			return;
		if (p.revents == 0)
			continue;
		got = read(fd, buf, sizeof(buf));
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return;
		if (out->len + (gsize)got > max) {
			g_string_append_len(out, buf, max - out->len);
			r->truncated = TRUE;
			return;
		}
		g_string_append_len(out, buf, got);
	}
}

/*
 * Waits for @pid until @deadline, then kills its group; the group's
 * stragglers are killed before the leader is reaped (its zombie keeps the
 * group's id from being reused meanwhile).
 */
static void
reap(PluginResult *r, pid_t pid, gint64 deadline)
{
	siginfo_t si = { 0 };
	int status = 0;

	if (r->timed_out || r->truncated)
		kill(-pid, SIGKILL);
	for (;;) {
		si.si_pid = 0;
		if (waitid(P_PID, pid, &si, WEXITED | WNOWAIT | WNOHANG) < 0 && errno != EINTR)
			break;
		if (si.si_pid == pid)
			break;
		if (g_get_monotonic_time() >= deadline && !r->timed_out) {
			r->timed_out = TRUE;
			kill(-pid, SIGKILL);
		}
		g_usleep(10000);
	}
	kill(-pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status))
		r->status = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		r->signal = WTERMSIG(status);
}

static void
run(PluginResult *r, const CommandConf *cc, const char *path, const char *context,
    const char *sender)
{
	g_auto(GStrv) env = plugin_env(cc, sender);
	g_autoptr(GString) out = g_string_new(NULL);
	gint64 deadline = g_get_monotonic_time() + cc->timeout_ms * 1000;
	int fds[2];
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0) {
		r->refused = g_strdup_printf("cannot run it: %s", g_strerror(errno));
		return;
	}
	pid = fork();
	if (pid == 0)
		child(path, context, env, fds[1]);
	close(fds[1]);
	if (pid < 0) {
		close(fds[0]);
		r->refused = g_strdup_printf("cannot run it: %s", g_strerror(errno));
		return;
	}
	setpgid(pid, pid); /* no race with the child's own call */
	r->status = -1;
	read_output(r, fds[0], deadline, cc->max_output, out);
	close(fds[0]);
	reap(r, pid, deadline);
	if (r->signal || r->timed_out || r->truncated)
		r->status = -1;
	r->output = g_utf8_make_valid(out->str, out->len);
}

PluginResult *
plugin_run(const CommandConf *cc, const char *name, const char *context, const char *sender)
{
	PluginResult *r = g_new0(PluginResult, 1);
	g_autofree char *path = NULL;

	if (strcmp(name, "help") == 0) {
		r->output = plugin_help(cc);
		return r;
	}
	path = plugin_path(cc, name, &r->refused);
	if (path)
		run(r, cc, path, context, sender);
	return r;
}

/* The text after "# description:" in the first 4 KB of @path, or NULL. */
static char *
description(const char *path)
{
	char buf[4096];
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	gssize got = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	char *at;
	char *end;

	if (fd >= 0)
		close(fd);
	if (got <= 0)
		return NULL;
	buf[got] = '\0';
	at = strstr(buf, "\n" DESCRIPTION);
	if (at == NULL)
		return NULL;
	at += strlen("\n" DESCRIPTION);
	end = at + strcspn(at, "\n");
	*end = '\0';
	return g_utf8_make_valid(g_strstrip(at), -1);
}

static gint
by_name(gconstpointer a, gconstpointer b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

char *
plugin_help(const CommandConf *cc)
{
	g_autoptr(GDir) dir = g_dir_open(cc->plugins, 0, NULL);
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	GString *out = g_string_new("help()  the commands, with what each does\n");
	const char *n;

	while (dir && (n = g_dir_read_name(dir)) != NULL)
		if (command_name_ok(n) && strcmp(n, "help") != 0)
			g_ptr_array_add(names, g_strdup(n));
	g_ptr_array_sort(names, by_name);
	for (guint i = 0; i < names->len; i++) {
		g_autofree char *why = NULL;
		g_autofree char *path = plugin_path(cc, names->pdata[i], &why);
		g_autofree char *what = path ? description(path) : NULL;

		if (path)
			g_string_append_printf(out, "%s()  %s\n", (char *)names->pdata[i],
			    what ? what : "(no description)");
	}
	return g_string_free(out, FALSE);
}
