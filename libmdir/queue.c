/*
 * queue.c: header batches on their way from mdir-receive to mdird
 * (DESIGN §2, mdird(8)).  A batch is a file in .mdird/queue: header records
 * one after another, separated by a blank line (a record never holds one).
 * It is written under a dot name, synced, and renamed into place, so mdird
 * never reads half a batch; its name sorts in arrival order.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib.h>

#include "mdir.h"
#include "private.h"

char *
mdir_queue_dir(const MdirStore *store)
{
	return g_build_filename(mdir_store_root(store), ".mdird", "queue", NULL);
}

/*
 * A batch under a dot name, renamed into place, then one syncfs for both.
 * Should a crash leave the name without the bytes, mdird sets the empty
 * batch aside; Postfix, which heard nothing, delivers again and the
 * retry writes a whole one.
 */
static gboolean
write_then_syncfs(const char *dir, const char *path, GString *text, GError **error)
{
	g_autofree char *base = g_path_get_basename(path);
	g_autofree char *tmp = g_strdup_printf("%s/.%s", dir, base);

	if (!mdir_write_file(tmp, text->str, text->len, error))
		return FALSE;
	if (rename(tmp, path) < 0) {
		unlink(tmp);
		return mdir_set_errno(error, errno, path);
	}
	return mdir_syncfs(dir, error);
}

gboolean
mdir_queue_write(MdirStore *store, GPtrArray *records, char **name, GError **error)
{
	g_autoptr(GString) text = g_string_sized_new(4096);
	g_autofree char *dir = mdir_queue_dir(store);
	g_autofree char *unique = mdir_unique_name();
	g_autofree char *path = NULL;
	gint64 now = g_get_real_time();

	for (guint i = 0; i < records->len; i++) {
		gsize len;
		g_autofree char *r = mdir_record_to_string(records->pdata[i], &len);

		if (i > 0)
			g_string_append_c(text, '\n');
		g_string_append_len(text, r, len);
	}
	/* microseconds first: names sort in the order batches came */
	*name = g_strdup_printf("%016" G_GINT64_MODIFIER "x.%s", now, unique);
	path = g_build_filename(dir, *name, NULL);
	if (!(mdir_store_whole_sync(store) ? write_then_syncfs(dir, path, text, error) :
	    mdir_file_write_durable(path, text->str, text->len, error))) {
		g_clear_pointer(name, g_free);
		return FALSE;
	}
	return TRUE;
}

GPtrArray *
mdir_queue_read(const char *path, GError **error)
{
	gsize len;
	g_autofree char *text = mdir_read_small_file(path, &len, error);
	g_autoptr(GPtrArray) out = NULL;
	const char *p, *end;

	if (text == NULL)
		return NULL;
	out = g_ptr_array_new_with_free_func((GDestroyNotify)mdir_record_free);
	for (p = text, end = text + len; p < end;) {
		const char *sep = g_strstr_len(p, end - p, "\n\n");
		const char *stop = sep ? sep + 1 : end;
		GError *e = NULL;
		MdirRecord *r = mdir_record_parse(p, stop - p, &e);

		if (r == NULL) {
			g_propagate_prefixed_error(error, e, "%s: record %u: ", path, out->len + 1);
			return NULL;
		}
		if (mdir_record_length(r) > 0)
			g_ptr_array_add(out, r);
		else
			mdir_record_free(r);
		p = sep ? sep + 2 : end;
	}
	return g_steal_pointer(&out);
}

static gint
compare_names(gconstpointer a, gconstpointer b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

GPtrArray *
mdir_queue_list(MdirStore *store, GError **error)
{
	g_autofree char *dir = mdir_queue_dir(store);
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	GPtrArray *names;
	const char *n;

	if (d == NULL) {
		mdir_set_errno(error, errno ? errno : EIO, dir);
		return NULL;
	}
	names = g_ptr_array_new_with_free_func(g_free);
	while ((n = g_dir_read_name(d)) != NULL)
		if (n[0] != '.')
			g_ptr_array_add(names, g_strdup(n));
	g_ptr_array_sort(names, compare_names);
	return names;
}

gboolean
mdir_daemon_poke(const char *socket_path, GError **error)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	static const char poke[] = "POKE\r\nQUIT\r\n";
	int fd;

	if (strlen(socket_path) >= sizeof(sa.sun_path)) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_CONFIG, "%s: socket path too long",
		    socket_path);
		return FALSE;
	}
	strcpy(sa.sun_path, socket_path);
	/* non-blocking: a daemon that is stuck must not hold up a delivery */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return mdir_set_errno(error, errno, socket_path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    send(fd, poke, sizeof(poke) - 1, MSG_NOSIGNAL) < 0) {
		int errsv = errno;

		close(fd);
		return mdir_set_errno(error, errsv, socket_path);
	}
	close(fd);
	return TRUE;
}
