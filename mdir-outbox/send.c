/*
 * send.c: one message of the outbox through sendmail, at most once.
 *
 * The order is what makes it at most once: the entry's record is marked
 * "in flight" durably before sendmail runs (with the copy that goes out
 * stored, one flush for both: outbox.c); after it, the result goes into
 * the record and the entry moves.  A run that finds the mark left by a
 * crash in between does not send again: if SMTP/Sent holds the copy with
 * the same token, the crash came after the move and only the outbox entry
 * goes; otherwise it is filed under SMTP/Failed as "possibly sent", with a
 * notice.  (nullmailer, dma and msmtpq all send again after such a crash.)
 */
#define _GNU_SOURCE /* memfd_create */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <syslog.h>
#include <unistd.h>

#include "outbox.h"

/* Codes sendmail uses for "try again": sysexits(3), as Postfix's does. */
static gboolean
temporary(int code)
{
	return code == EX_TEMPFAIL || code == EX_OSERR || code == EX_IOERR ||
	    code == EX_CANTCREAT;
}

static char *
iso_now(gint64 offset_ms)
{
	return mdir_time_format((g_get_real_time() / 1000 + offset_ms) / 1000, MDIR_TIME_ISO8601);
}

static gint64
iso_parse(const char *s)
{
	g_autoptr(GDateTime) t = s ? g_date_time_new_from_iso8601(s, NULL) : NULL;

	return t ? g_date_time_to_unix(t) : 0;
}

/* Waits for @pid at most @ms; kills it after.  The wait(2) status, or -1. */
static int
wait_bounded(pid_t pid, gint64 ms, gboolean *timed_out)
{
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	int status = -1;

	*timed_out = FALSE;
	if (pfd >= 0) {
		struct pollfd p = { .fd = pfd, .events = POLLIN };
		int r;

		while ((r = poll(&p, 1, ms > INT_MAX ? INT_MAX : (int)ms)) < 0 && errno == EINTR)
			;
		close(pfd);
		if (r == 0) {
			*timed_out = TRUE;
			kill(pid, SIGKILL);
		}
	} else {
		/* no pidfd (an old kernel): poll the child every 10 ms */
		gint64 end = g_get_monotonic_time() + ms * 1000;

		while (waitpid(pid, &status, WNOHANG) == 0) {
			if (g_get_monotonic_time() > end) {
				*timed_out = TRUE;
				kill(pid, SIGKILL);
				break;
			}
			g_usleep(10000);
		}
		if (status != -1)
			return status;
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return status;
}

/* The first line sendmail said, for the record and the notice. */
static char *
first_line(int fd)
{
	char buf[512];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	char *nl;

	if (n <= 0)
		return g_strdup("");
	buf[n] = '\0';
	nl = strchr(buf, '\n');
	if (nl)
		*nl = '\0';
	return g_strdup(g_strstrip(buf));
}

/*
 * @argv run with @file on its stdin and @out (if >= 0) as its stdout and
 * stderr, never through a shell: the addresses are arguments, nothing
 * more.  posix_spawn(3) is a vfork in glibc: the child shares our pages
 * until it execs, where a fork would copy the page tables of a process
 * with GMime and OpenSSL loaded, and fault our pages back in after.  The
 * child's pid, or -1 with @said and errno.
 */
static pid_t
spawn(char *const *argv, const char *file, int out, char **said)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int err;

	if ((err = posix_spawn_file_actions_init(&fa)) != 0) {
		*said = g_strdup_printf("posix_spawn: %s", g_strerror(err));
		errno = err;
		return -1;
	}
	err = posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, file, O_RDONLY, 0);
	if (err == 0 && out >= 0)
		err = posix_spawn_file_actions_adddup2(&fa, out, STDOUT_FILENO);
	if (err == 0 && out >= 0)
		err = posix_spawn_file_actions_adddup2(&fa, out, STDERR_FILENO);
	if (err == 0)
		err = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (err == 0)
		return pid;
	*said = g_strdup_printf("cannot run %s: %s", argv[0], g_strerror(err));
	errno = err;
	return -1;
}

int
send_run(const char *sendmail, const Message *m, const char *file, gint64 timeout_ms,
    char **said)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	/* what sendmail says, in memory: no file made and removed a message */
	int out = memfd_create("mdir-outbox-sendmail", MFD_CLOEXEC);
	gboolean timed_out;
	int status;
	pid_t pid;

	g_ptr_array_add(argv, (gpointer)(guintptr)sendmail);
	g_ptr_array_add(argv, "-i");
	g_ptr_array_add(argv, "-f");
	g_ptr_array_add(argv, m->sender);
	g_ptr_array_add(argv, "--");
	for (guint i = 0; i < m->rcpts->len; i++)
		g_ptr_array_add(argv, m->rcpts->pdata[i]);
	g_ptr_array_add(argv, NULL);
	pid = spawn((char *const *)argv->pdata, file, out, said);
	if (pid < 0) {
		if (out >= 0)
			close(out);
		/* what a sendmail that could not be run exits with: a missing one
		 * (or not ours to run) is an admin's to fix, and the message waits */
		return errno == ENOENT || errno == EACCES ? EX_TEMPFAIL : EX_OSERR;
	}
	status = wait_bounded(pid, timeout_ms, &timed_out);
	*said = out >= 0 ? first_line(out) : g_strdup("");
	if (out >= 0)
		close(out);
	if (timed_out) {
		g_free(*said);
		*said = g_strdup_printf("no answer in %" G_GINT64_FORMAT " s; killed",
		    timeout_ms / 1000);
		return -1;
	}
	if (WIFSIGNALED(status)) {
		g_free(*said);
		*said = g_strdup_printf("killed by signal %d", WTERMSIG(status));
		return -1;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

SendOutcome
send_outcome(int code)
{
	if (code == 0)
		return SEND_OK;
	if (code < 0 || temporary(code))
		return SEND_LATER;
	return SEND_FAILED;
}

gboolean
send_schedule(MdirRecord *rec, const MdirConfig *config, const char *said, gint64 *next)
{
	g_auto(GStrv) steps = mdir_config_get_list(config, "outbox", "retry_schedule");
	gint64 give_up = mdir_config_get_duration_ms(config, "outbox", "give_up_after");
	/* a record is a file people edit: a count out of range starts again */
	gint64 attempts = CLAMP(mdir_record_get_int(rec, "outbox-attempts", 0), 0, G_MAXINT32) + 1;
	guint n = g_strv_length(steps);
	gint64 step = n ? mdir_parse_duration_ms(steps[attempts >= n ? n - 1 : attempts - 1],
	    NULL) : 60000;
	g_autofree char *first = NULL;
	g_autofree char *at = NULL;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;

	if (mdir_record_get(rec, "outbox-first-try") == NULL) {
		first = iso_now(0);
		mdir_record_set(rec, "outbox-first-try", first);
	}
	mdir_record_set_int(rec, "outbox-attempts", attempts);
	mdir_record_set(rec, "outbox-last-result", said);
	if ((now - iso_parse(mdir_record_get(rec, "outbox-first-try"))) * 1000 >= give_up)
		return FALSE;
	at = iso_now(step);
	mdir_record_set(rec, "outbox-next-try", at);
	*next = iso_parse(at);
	return TRUE;
}

gboolean
send_due(const MdirRecord *rec)
{
	const char *next = mdir_record_get(rec, "outbox-next-try");

	return next == NULL || iso_parse(next) <= g_get_real_time() / G_USEC_PER_SEC;
}

char *
send_stamp(void)
{
	return iso_now(0);
}
