/*
 * run.c: the programs rules start, the notifier ([notify] command) and
 * pipe actions (mdir-rules(5)).
 *
 * They run after the entries they concern are durable, never through a
 * shell, with a clean environment holding the entry's record, at most
 * [mdird] max_children at once (the rest wait here, in memory: a notice
 * is worth less than the mail, and the mail is already filed), each
 * killed at its time-out.  Filing never waits for them.
 */
#include <signal.h>
#include <string.h>
#include <syslog.h>

#include "mdird.h"

#define MAX_WAITING 10000
/* Each MDIR_* value, and all of them (Linux takes 128 KB a string, 2 MB in all). */
#define MAX_VALUE 4096
#define MAX_ENV (64 * 1024)

typedef struct {
	Daemon *d;
	MdirEffectKind kind;
	char **argv;
	char **envp;
	char *stdin_path;
	char *what; /* for the log: "notify" or "pipe /bin/x", and the folder */
	GSubprocess *proc;
	guint timer;
	gboolean killed;
} Job;

static void start_next(Daemon *d);

static void
job_free(Job *j)
{
	g_strfreev(j->argv);
	g_strfreev(j->envp);
	g_free(j->stdin_path);
	g_free(j->what);
	g_clear_object(&j->proc);
	g_free(j);
}

static void
mdir_string_free_all(GString *s)
{
	g_string_free(s, TRUE);
}

/* @key (transfer full) gets @value, after ", " if it has one already. */
static void
add_var(GHashTable *values, GPtrArray *order, char *key, const char *value)
{
	GString *had = g_hash_table_lookup(values, key);

	if (had) {
		/* stop growing well before the cut, a To: of 10,000 lines */
		if (had->len <= MAX_VALUE)
			g_string_append_printf(had, ", %s", value ? value : "");
		g_free(key);
		return;
	}
	g_hash_table_insert(values, key, g_string_new(value ? value : ""));
	g_ptr_array_add(order, key);
}

/* @s cut to at most @max bytes, not inside a UTF-8 character. */
static void
cut_utf8(GString *s, gsize max)
{
	const char *end;

	if (s->len <= max)
		return;
	end = g_utf8_find_prev_char(s->str, s->str + max + 1);
	g_string_truncate(s, end ? (gsize)(end - s->str) : 0);
}

/* "content-type" -> "MDIR_CONTENT_TYPE". */
static char *
env_name(const char *field)
{
	GString *s = g_string_new("MDIR_");

	for (const char *p = field; *p; p++)
		g_string_append_c(s, g_ascii_isalnum(*p) ? g_ascii_toupper(*p) : '_');
	return g_string_free(s, FALSE);
}

/* @k added to the space-separated list @cut, once. */
static void
cut_add(GString *cut, const char *k)
{
	g_auto(GStrv) words = g_strsplit(cut->str, " ", -1);

	if (!g_strv_contains((const char *const *)words, k))
		g_string_append_printf(cut, "%s%s", cut->len ? " " : "", k);
}

/*
 * The record as MDIR_* variables (repeated fields joined by ", "), in the
 * record's order.  Every value came from a remote sender: each is cut at
 * MAX_VALUE bytes and the whole at MAX_ENV, or execve() fails with E2BIG
 * and the program never runs; MDIR_CUT names what was cut or left out,
 * here or already in the record (its "truncated" fields).
 */
static char **
record_env(const MdirEffect *e)
{
	g_autoptr(GHashTable) values = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
	    (GDestroyNotify)mdir_string_free_all);
	g_autoptr(GPtrArray) order = g_ptr_array_new();
	g_autoptr(GStrvBuilder) b = g_strv_builder_new();
	g_autoptr(GString) cut = g_string_new(NULL);
	gsize total;

	g_strv_builder_add_many(b, "PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", NULL);
	add_var(values, order, g_strdup("MDIR_FOLDER"), e->folder);
	add_var(values, order, g_strdup("MDIR_FILE"), e->path);
	for (guint i = 0; e->record && i < mdir_record_length(e->record); i++) {
		const char *name, *value;

		mdir_record_nth(e->record, i, &name, &value);
		add_var(values, order, env_name(name), value);
		/* a part's record holds a long message field cut already */
		if (strcmp(name, "truncated") == 0) {
			g_autofree char *k = env_name(value);

			cut_add(cut, k);
		}
	}
	total = 64; /* PATH, LANG */
	for (guint i = 0; i < order->len; i++) {
		const char *k = order->pdata[i];
		GString *v = g_hash_table_lookup(values, k);
		g_autofree char *kv = NULL;

		if (v->len > MAX_VALUE) {
			cut_utf8(v, MAX_VALUE);
			cut_add(cut, k);
		}
		if (total + strlen(k) + v->len + 2 > MAX_ENV - 1024) {
			cut_add(cut, k);
			continue;
		}
		total += strlen(k) + v->len + 2;
		kv = g_strconcat(k, "=", v->str, NULL);
		g_strv_builder_add(b, kv);
	}
	if (cut->len > 0) {
		cut_utf8(cut, 1000);
		g_string_prepend(cut, "MDIR_CUT=");
		g_strv_builder_add(b, cut->str);
	}
	return g_strv_builder_end(b);
}

static gboolean
on_timeout(gpointer data)
{
	Job *j = data;

	j->timer = 0;
	j->killed = TRUE;
	g_subprocess_force_exit(j->proc);
	return G_SOURCE_REMOVE;
}

static void
on_child_exit(GObject *src, GAsyncResult *res, gpointer data)
{
	Job *j = data;
	Daemon *d = j->d;
	GSubprocess *p = G_SUBPROCESS(src);

	g_subprocess_wait_finish(p, res, NULL);
	if (j->timer)
		g_source_remove(j->timer);
	if (j->killed) {
		mdir_log(LOG_WARNING, "%s: killed at its time-out", j->what);
		d->children_killed++;
	} else if (g_subprocess_get_if_signaled(p)) {
		mdir_log(LOG_WARNING, "%s: killed by signal %d", j->what,
		    g_subprocess_get_term_sig(p));
	} else if (g_subprocess_get_exit_status(p) != 0) {
		mdir_log(LOG_WARNING, "%s: exit %d", j->what, g_subprocess_get_exit_status(p));
	} else {
		mdir_log(LOG_DEBUG, "%s: done", j->what);
	}
	d->running--;
	job_free(j);
	start_next(d);
}

static void
start(Daemon *d, Job *j)
{
	g_autoptr(GSubprocessLauncher) l = g_subprocess_launcher_new(
	    G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
	g_autoptr(GError) e = NULL;
	const char *key = j->kind == MDIR_EFFECT_PIPE ? "pipe_timeout" : "timeout";
	gint64 ms = mdir_config_get_duration_ms(d->config,
	    j->kind == MDIR_EFFECT_PIPE ? "mdird" : "notify", key);

	g_subprocess_launcher_set_environ(l, j->envp);
	g_subprocess_launcher_set_cwd(l, "/");
	g_subprocess_launcher_set_stdin_file_path(l, j->stdin_path);
	j->proc = g_subprocess_launcher_spawnv(l, (const char *const *)j->argv, &e);
	if (j->proc == NULL) {
		mdir_log(LOG_ERR, "%s: %s", j->what, e->message);
		job_free(j);
		return;
	}
	d->running++;
	d->children_run++;
	if (ms > 0)
		j->timer = g_timeout_add(ms, on_timeout, j);
	g_subprocess_wait_async(j->proc, NULL, on_child_exit, j);
}

static void
start_next(Daemon *d)
{
	gint64 max = mdir_config_get_int(d->config, "mdird", "max_children");

	while (!g_queue_is_empty(d->waiting) && d->running < (guint)MAX(1, max))
		start(d, g_queue_pop_head(d->waiting));
}

/*
 * Whether a rule may run @program: only those the administrator named in
 * [rules] programs, whoever wrote the rules file (mdir(7)).  The notifier
 * is named in mdir.conf itself.
 */
static gboolean
program_allowed(Daemon *d, const char *program)
{
	g_auto(GStrv) allowed = mdir_config_get_list(d->config, "rules", "programs");

	for (guint i = 0; allowed && allowed[i]; i++)
		if (strcmp(g_strstrip(allowed[i]), program) == 0)
			return TRUE;
	return FALSE;
}

/* A job for a notify or pipe effect, or NULL (nothing to run). */
static Job *
job_new(Daemon *d, const MdirEffect *e)
{
	Job *j = g_new0(Job, 1);
	g_autoptr(GError) err = NULL;

	j->d = d;
	j->kind = e->kind;
	if (e->kind == MDIR_EFFECT_PIPE && !program_allowed(d, e->argv[0])) {
		mdir_log(LOG_ERR, "%s: pipe %s: not in [rules] programs of mdir.conf; not run",
		    e->folder, e->argv[0]);
		job_free(j);
		return NULL;
	}
	if (e->kind == MDIR_EFFECT_PIPE) {
		j->argv = g_strdupv((char **)(guintptr)e->argv);
		j->stdin_path = g_strdup(e->path);
		j->what = g_strdup_printf("%s: pipe %s", e->folder, e->argv[0]);
	} else {
		const char *cmd = mdir_config_get(d->config, "notify", "command");

		/* split like a shell would, but no shell runs */
		if (cmd == NULL || !g_shell_parse_argv(cmd, NULL, &j->argv, &err)) {
			if (cmd)
				mdir_log(LOG_ERR, "[notify] command: %s", err->message);
			else
				mdir_log(LOG_DEBUG, "%s: notify, but no [notify] command", e->folder);
			job_free(j);
			return NULL;
		}
		j->stdin_path = g_strdup("/dev/null");
		j->what = g_strdup_printf("%s: notify %s", e->folder, j->argv[0]);
	}
	j->envp = record_env(e);
	return j;
}

void
run_effect(Daemon *d, const MdirEffect *e)
{
	Job *j;

	if (e->kind == MDIR_EFFECT_CHANGE)
		return;
	if (g_queue_get_length(d->waiting) >= MAX_WAITING) {
		d->children_dropped++;
		mdir_log(LOG_WARNING, "%s: more than %d programs waiting; one not run", e->folder,
		    MAX_WAITING);
		return;
	}
	j = job_new(d, e);
	if (j == NULL)
		return;
	g_queue_push_tail(d->waiting, j);
	start_next(d);
}

/*
 * At start, before the first round: the litter of writers killed while
 * they wrote a batch (mdir(5) STATES AND INVARIANTS), which would
 * otherwise stay, and pin its message in the store, forever.
 */
static void
clean_queue(Daemon *d)
{
	g_autoptr(GError) e = NULL;
	guint n = 0;

	if (!mdir_queue_clean(d->store, MDIR_QUEUE_STALE, &n, &e))
		mdir_log(LOG_WARNING, "cleaning the queue: %s", e->message);
	else if (n > 0)
		mdir_log(LOG_NOTICE, "removed %u half-written batches from the queue", n);
}

void
run_init(Daemon *d)
{
	d->waiting = g_queue_new();
	clean_queue(d);
}

void
run_clear(Daemon *d)
{
	g_queue_free_full(d->waiting, (GDestroyNotify)job_free);
	d->waiting = NULL;
}
