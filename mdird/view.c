/*
 * view.c: the Maildir view of the accounts ([access] maildir, mdird(8)),
 * kept in step after each round: the folders the round changed, or,
 * after a round that filed nothing (a poke, the drain_interval tick, the
 * start), every account's folders, which is how changes made by others
 * (mstore rm and mv, sync clients) reach it: each folder's .changes since
 * the version its view last saw (libmdir/maildir.c).  A view in trouble
 * is logged; it never holds up the filing.
 */
#include <syslog.h>

#include "mdird.h"

void
view_changed(Daemon *d, const char *folder)
{
	if (mdir_config_get(d->config, "access", "maildir") == NULL)
		return;
	if (d->view_changed == NULL)
		d->view_changed = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_hash_table_add(d->view_changed, g_strdup(folder));
}

static void
sync_one(Daemon *d, const char *name)
{
	g_autoptr(GError) e = NULL;
	g_autoptr(MdirFolder) f = mdir_folder_open(d->store, name, 0, &e);

	if (f == NULL || !mdir_maildir_sync(d->store, d->config, f, NULL, NULL, &e))
		mdir_log(LOG_WARNING, "maildir view: %s", e->message);
}

void
view_sync(Daemon *d, gboolean all)
{
	g_autoptr(GHashTable) changed = g_steal_pointer(&d->view_changed);
	g_autoptr(GError) e = NULL;
	GHashTableIter it;
	gpointer name;

	if (mdir_config_get(d->config, "access", "maildir") == NULL)
		return;
	if (all) {
		if (!mdir_maildir_sync_all(d->store, d->config, NULL, NULL, &e))
			mdir_log(LOG_WARNING, "maildir view: %s", e->message);
		return;
	}
	if (changed == NULL)
		return;
	g_hash_table_iter_init(&it, changed);
	while (g_hash_table_iter_next(&it, &name, NULL))
		sync_one(d, name);
}
