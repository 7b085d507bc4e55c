/*
 * group.c: group commit for the resident LMTP server.  Its sessions are
 * processes; each delivery syncs the file system twice (the message
 * before its publishing rename, the batch after its own), and syncfs(2)
 * flushes every file of the file system, not only the caller's.  So a
 * sync that starts after a session's writes serves that session too: the
 * sessions share one record in shared memory, take a ticket once their
 * writes are done, and one of them at a time (the leader) syncs for every
 * ticket taken before it started; the others wait for it.  A session
 * hears "durable" only from a sync that started after its ticket: the
 * pipe mode's durability, fewer flushes.
 *
 * A leader killed in its sync (kill -9, a crash) is noticed by its pid
 * and replaced; a mutex it held is recovered (robust); a follower that
 * waits longer than GIVE_UP_S syncs alone.  None of it is ever needed
 * for correctness: at worst a session syncs by itself, as in the pipe
 * mode.
 */
#define _GNU_SOURCE /* syncfs */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#include "mdir.h"
#include "receive.h"

#define WAIT_MS 50
#define GIVE_UP_S 10

struct LmtpGroup {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	guint64 seq;  /* tickets taken */
	guint64 done; /* every ticket up to this one is durable */
	pid_t leader; /* syncing now; 0: nobody */
	dev_t dev;    /* the file system that is shared */
	guint64 syncs;
	guint64 served; /* syncs asked for */
};

LmtpGroup *
lmtp_group_new(const char *root)
{
	pthread_mutexattr_t ma;
	pthread_condattr_t ca;
	struct stat st;
	LmtpGroup *g;

	if (stat(root, &st) < 0)
		return NULL;
	g = mmap(NULL, sizeof(*g), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (g == MAP_FAILED)
		return NULL;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&g->lock, &ma);
	pthread_mutexattr_destroy(&ma);
	pthread_condattr_init(&ca);
	pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&g->cond, &ca);
	pthread_condattr_destroy(&ca);
	g->dev = st.st_dev;
	return g;
}

void
lmtp_group_stats(const LmtpGroup *g, guint64 *asked, guint64 *syncs)
{
	*asked = g->served;
	*syncs = g->syncs;
}

static void
group_lock(LmtpGroup *g)
{
	/* its owner was killed holding it: the fields are consistent
	 * anyway (each is written whole), and a dead leader is noticed */
	if (pthread_mutex_lock(&g->lock) == EOWNERDEAD)
		pthread_mutex_consistent(&g->lock);
}

static gboolean
alive(pid_t pid)
{
	return kill(pid, 0) == 0 || errno == EPERM;
}

/* Syncs as the leader for every ticket up to the last one taken. */
static gboolean
lead(LmtpGroup *g, const char *path, GError **error)
{
	guint64 target = g->seq;
	gboolean ok;

	g->leader = getpid();
	g->syncs++;
	pthread_mutex_unlock(&g->lock);
	/* for t/2055 only: a slow disk's sync, so that sessions do overlap
	 * however fast this one is (sharing then is certain, not luck) */
	if (g_getenv("MDIR_TEST_GROUP_DELAY_MS"))
		g_usleep(1000 * (gulong)g_ascii_strtoull(g_getenv("MDIR_TEST_GROUP_DELAY_MS"),
		    NULL, 10));
	ok = mdir_syncfs(path, error);
	group_lock(g);
	g->leader = 0;
	if (ok && target > g->done)
		g->done = target;
	/* on failure the others wake to find their tickets not done, and
	 * one of them tries in turn */
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
	return ok;
}

/* The MdirSyncFunc of the store of each session (mdir_store_set_sync_func()). */
gboolean
lmtp_group_syncfs(const char *path, gpointer data, GError **error)
{
	LmtpGroup *g = data;
	gint64 give_up = g_get_monotonic_time() + GIVE_UP_S * G_USEC_PER_SEC;
	struct stat st;
	guint64 ticket;

	if (stat(path, &st) < 0 || st.st_dev != g->dev)
		return mdir_syncfs(path, error);
	group_lock(g);
	ticket = ++g->seq; /* after this session's writes */
	g->served++;
	while (g->done < ticket) {
		struct timespec ts;

		if (g->leader == 0 || !alive(g->leader))
			return lead(g, path, error);
		if (g_get_monotonic_time() > give_up) {
			pthread_mutex_unlock(&g->lock);
			mdir_log(LOG_WARNING, "lmtp: waited %d s for a shared sync; syncing alone",
			    GIVE_UP_S);
			return mdir_syncfs(path, error);
		}
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += WAIT_MS * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		if (pthread_cond_timedwait(&g->cond, &g->lock, &ts) == EOWNERDEAD)
			pthread_mutex_consistent(&g->lock);
	}
	pthread_mutex_unlock(&g->lock);
	return TRUE;
}
