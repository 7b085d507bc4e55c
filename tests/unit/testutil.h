/*
 * testutil.h: helpers for the unit tests.  Each test runs with
 * G_TEST_OPTION_ISOLATE_DIRS, so $XDG_DATA_HOME is fresh for every test
 * case and a root made under it is private to it.
 */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "mdir.h"

static inline char *
test_root(void)
{
	return g_build_filename(g_get_user_data_dir(), "mdir", NULL);
}

static inline MdirStore *
test_store(void)
{
	g_autofree char *root = test_root();
	g_autoptr(GError) error = NULL;
	MdirStore *s = mdir_store_open(root, &error);

	g_assert_no_error(error);
	return s;
}

/* A private scratch directory for this test case (made if missing). */
static inline const char *
test_dir(void)
{
	const char *d = g_get_user_cache_dir();

	g_assert_cmpint(g_mkdir_with_parents(d, 0700), ==, 0);
	return d;
}

static inline char *
test_write_tmp(const char *name, const char *content)
{
	char *path = g_build_filename(test_dir(), name, NULL);

	g_assert_true(g_file_set_contents(path, content, -1, NULL));
	return path;
}

/* The number of entries in @sub, a directory under the root of @store. */
static inline guint
test_count_dir(MdirStore *store, const char *sub)
{
	g_autofree char *d = g_build_filename(mdir_store_root(store), sub, NULL);
	g_autoptr(GDir) dir = g_dir_open(d, 0, NULL);
	guint n = 0;

	while (dir && g_dir_read_name(dir))
		n++;
	return n;
}

/* A message stored from @raw with @message_id (NULL: none); its id. */
static inline char *
test_store_message(MdirStore *store, const char *raw, const char *message_id,
    MdirStoreOutcome *outcome)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MdirStoreTxn) txn = mdir_store_txn_begin(store, &error);
	char *id = NULL;

	g_assert_no_error(error);
	g_assert_true(mdir_store_txn_open_part(txn, 0, &error));
	g_assert_true(mdir_store_txn_write(txn, raw, strlen(raw), &error));
	g_assert_true(mdir_store_txn_close_part(txn, &error));
	g_assert_true(mdir_store_txn_commit(txn, message_id, &id, outcome, &error));
	g_assert_no_error(error);
	return id;
}

/*
 * Root too must heed a directory's mode: CAP_DAC_OVERRIDE off, in this
 * process (call it in a g_test_trap_subprocess() child).
 */
static inline void
test_drop_dac_override(void)
{
	struct __user_cap_header_struct head = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	g_assert_cmpint(syscall(SYS_capget, &head, data), ==, 0);
	data[0].effective &= ~(1u << CAP_DAC_OVERRIDE);
	g_assert_cmpint(syscall(SYS_capset, &head, data), ==, 0);
}

#endif
