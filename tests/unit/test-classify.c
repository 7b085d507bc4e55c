/*
 * test-classify.c: filing queued batches by the folders' rules
 * (classify.c): plain filing, routing, cascades and loops, .hold, broken
 * rules, forwards, effects, batches set aside, and a replay after a crash
 * that files nothing twice.
 */
#include <fcntl.h>
#include <syslog.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static const char *message =
    "From: Ann <ann@example.org>\r\n"
    "To: jo@example.org\r\n"
    "Subject: Invoice\r\n"
    "Date: Tue, 03 Nov 2026 10:00:00 +0000\r\n"
    "Message-ID: <%s@example.org>\r\n"
    "List-Id: Users <users.example.org>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=b\r\n"
    "\r\n"
    "--b\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "hello\r\n"
    "--b\r\n"
    "Content-Type: application/pdf; name=invoice.pdf\r\n"
    "Content-Disposition: attachment; filename=invoice.pdf\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "JVBERi0xLjQK\r\n"
    "--b--\r\n";

typedef struct {
	MdirStore *store;
	MdirConfig *config;
	MdirClassifier *classifier;
	GPtrArray *effects; /* "change FOLDER VERSION NAME", "notify FOLDER", ... */
} Fixture;

static void
fixture_set_up(Fixture *fx, gconstpointer data)
{
	g_autofree char *root = test_root();
	g_autofree char *conf = g_strdup_printf("[mdir]\nroot = %s\nsocket = %s/none.sock\n"
						"[receive]\nlocal_domains = example.org\n",
	    root, test_dir());
	g_autofree char *path = test_write_tmp("mdir.conf", conf);
	g_autoptr(GError) error = NULL;

	(void)data;
	fx->config = mdir_config_load(path, &error);
	g_assert_no_error(error);
	fx->store = mdir_store_open_config(fx->config, &error);
	g_assert_no_error(error);
	fx->classifier = mdir_classifier_new(fx->store);
	fx->effects = g_ptr_array_new_with_free_func(g_free);
}

static void
fixture_tear_down(Fixture *fx, gconstpointer data)
{
	(void)data;
	mdir_classifier_free(fx->classifier);
	mdir_store_free(fx->store);
	mdir_config_free(fx->config);
	g_ptr_array_unref(fx->effects);
}

static void
account(Fixture *fx, const char *folder, const char *rules)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MdirFolder) f = mdir_folder_open(fx->store, folder, MDIR_FOLDER_CREATE, &error);
	g_autofree char *path = NULL;

	g_assert_no_error(error);
	if (rules) {
		path = g_build_filename(mdir_folder_path(f), ".rules", NULL);
		g_assert_true(g_file_set_contents(path, rules, -1, NULL));
		/* as mstore account writes it: nobody but its owner may write it */
		g_assert_cmpint(g_chmod(path, 0640), ==, 0);
	}
}

/* Delivers a message (Message-ID <@id@example.org>) to @rcpt. */
static void
deliver(Fixture *fx, const char *id, const char *rcpt)
{
	g_autofree char *text = g_strdup_printf(message, id);
	g_autofree char *path = test_write_tmp("msg", text);
	const char *rcpts[] = { rcpt, NULL };
	MdirEnvelope env = { .sender = "ann@example.org", .recipients = rcpts };
	g_autoptr(GError) error = NULL;
	g_autoptr(MdirDelivery) d = NULL;
	int fd = open(path, O_RDONLY);

	d = mdir_receive(fx->store, fx->config, fd, &env, &error);
	close(fd);
	g_assert_no_error(error);
}

static void
effect(const MdirEffect *e, gpointer data)
{
	Fixture *fx = data;

	switch (e->kind) {
	case MDIR_EFFECT_CHANGE:
		g_ptr_array_add(fx->effects, g_strdup_printf("change %s %" G_GUINT64_FORMAT " %s",
		    e->folder, e->version, e->name));
		break;
	case MDIR_EFFECT_NOTIFY:
		g_assert_true(g_file_test(e->path, G_FILE_TEST_IS_REGULAR));
		g_ptr_array_add(fx->effects, g_strdup_printf("notify %s %s", e->folder,
		    mdir_record_get(e->record, "part")));
		break;
	case MDIR_EFFECT_PIPE:
		g_ptr_array_add(fx->effects, g_strdup_printf("pipe %s %s", e->folder, e->argv[0]));
		break;
	}
}

static gint
drain(Fixture *fx, guint *held)
{
	g_autoptr(GError) error = NULL;
	gint n;

	g_ptr_array_set_size(fx->effects, 0);
	n = mdir_classifier_drain(fx->classifier, 100, effect, fx, held, &error);
	g_assert_no_error(error);
	return n;
}

/* The entry names of @folder, joined by spaces. */
static char *
ls(Fixture *fx, const char *folder)
{
	g_autoptr(MdirFolder) f = mdir_folder_open(fx->store, folder, 0, NULL);
	g_autoptr(GPtrArray) names = f ? mdir_folder_list(f, NULL) : NULL;

	if (names == NULL)
		return g_strdup("(none)");
	g_ptr_array_add(names, NULL);
	return g_strjoinv(" ", (char **)names->pdata);
}

static guint64
version(Fixture *fx, const char *folder)
{
	g_autoptr(MdirFolder) f = mdir_folder_open(fx->store, folder, 0, NULL);
	guint64 v = 0;

	g_assert_true(mdir_folder_version(f, &v, NULL));
	return v;
}

static guint
count_dir(Fixture *fx, const char *sub)
{
	g_autofree char *d = g_build_filename(mdir_store_root(fx->store), sub, NULL);
	g_autoptr(GDir) dir = g_dir_open(d, 0, NULL);
	guint n = 0;

	while (dir && g_dir_read_name(dir))
		n++;
	return n;
}

#define JO "SMTP/Accounts/jo@example.org"

#define ASSERT_LS(fx, folder, want)                  \
	do {                                         \
		g_autofree char *got_ = ls(fx, folder); \
		g_assert_cmpstr(got_, ==, want);     \
	} while (0)

static void
test_plain(Fixture *fx, gconstpointer data)
{
	guint held = 9;

	(void)data;
	account(fx, JO, NULL);
	deliver(fx, "a", "jo@example.org");
	g_assert_cmpint(drain(fx, &held), ==, 1);
	g_assert_cmpuint(held, ==, 0);
	ASSERT_LS(fx, JO, "Invoice.eml Invoice.txt invoice.pdf");
	g_assert_cmpuint(version(fx, JO), ==, 3);
	g_assert_cmpuint(fx->effects->len, ==, 3);
	g_assert_cmpstr(fx->effects->pdata[2], ==, "change " JO " 3 invoice.pdf");
	g_assert_cmpuint(count_dir(fx, ".mdird/queue"), ==, 0);
	g_assert_cmpuint(count_dir(fx, ".mdird/work"), ==, 0);
	/* nothing more to do, and nothing changes */
	g_assert_cmpint(drain(fx, NULL), ==, 0);
	g_assert_cmpuint(version(fx, JO), ==, 3);
}

static void
test_routes(Fixture *fx, gconstpointer data)
{
	g_autoptr(MdirFolder) docs = NULL;
	g_autoptr(MdirRecord) r = NULL;

	(void)data;
	account(fx, JO, "if content-type = application/pdf then move Docs/{date:%Y}; notify\n"
			"if has list-id then copy Lists/{list-id}; continue\n"
			"if part = 0 then pipe /bin/cat\n");
	deliver(fx, "a", "jo@example.org");
	g_assert_cmpint(drain(fx, NULL), ==, 1);
	ASSERT_LS(fx, JO, "Invoice.eml Invoice.txt");
	ASSERT_LS(fx, "Docs/2026", "invoice.pdf");
	ASSERT_LS(fx, "Lists/users.example.org", "Invoice.eml Invoice.txt");
	/* 5 changes, then the rest in the order of the parts */
	g_assert_cmpuint(fx->effects->len, ==, 7);
	g_assert_cmpstr(fx->effects->pdata[5], ==, "pipe " JO " /bin/cat");
	g_assert_cmpstr(fx->effects->pdata[6], ==, "notify " JO " 2");
	/* the record says where it came from */
	docs = mdir_folder_open(fx->store, "Docs/2026", 0, NULL);
	r = mdir_folder_load_record(docs, "invoice.pdf", NULL);
	g_assert_cmpstr(mdir_record_get(r, "account"), ==, JO);
	g_assert_nonnull(mdir_record_get(r, "batch"));
}

static void
test_cascade_loop(Fixture *fx, gconstpointer data)
{
	(void)data;
	account(fx, JO, "if part = 1 then copy A\n");
	account(fx, "A", "copy B\n");
	account(fx, "B", "move A\n"); /* back to A: a loop */
	account(fx, "C", "move C\n"); /* into itself */
	account(fx, "SMTP/Accounts/c@example.org", "move C\n");
	deliver(fx, "a", "jo@example.org");
	deliver(fx, "b", "c@example.org");
	g_assert_cmpint(drain(fx, NULL), ==, 2);
	ASSERT_LS(fx, JO, "Invoice.eml Invoice.txt invoice.pdf");
	ASSERT_LS(fx, "A", "Invoice.txt");
	ASSERT_LS(fx, "B", "");
	ASSERT_LS(fx, "C", "Invoice.eml Invoice.txt invoice.pdf");
	ASSERT_LS(fx, "SMTP/Accounts/c@example.org", "");
}

static void
test_hold(Fixture *fx, gconstpointer data)
{
	g_autofree char *hold = NULL;
	guint held = 0;

	(void)data;
	account(fx, JO, "if part = 1 then move Held\n");
	account(fx, "Held", NULL);
	hold = g_build_filename(mdir_store_root(fx->store), "Held", ".hold", NULL);
	g_assert_true(g_file_set_contents(hold, "", 0, NULL));
	deliver(fx, "a", "jo@example.org");
	g_assert_cmpint(drain(fx, &held), ==, 0);
	g_assert_cmpuint(held, ==, 1);
	ASSERT_LS(fx, JO, "");
	g_assert_cmpuint(count_dir(fx, ".mdird/queue"), ==, 1);
	g_assert_cmpuint(fx->effects->len, ==, 0);
	g_assert_cmpint(unlink(hold), ==, 0);
	g_assert_cmpint(drain(fx, &held), ==, 1);
	g_assert_cmpuint(held, ==, 0);
	ASSERT_LS(fx, JO, "Invoice.eml invoice.pdf");
	ASSERT_LS(fx, "Held", "Invoice.txt");
}

static void
test_broken_rules(Fixture *fx, gconstpointer data)
{
	g_autoptr(MdirFolder) jo = NULL;
	g_autoptr(MdirRecord) r = NULL;
	g_autofree char *text = NULL;
	g_autofree char *path = NULL;

	(void)data;
	account(fx, JO, "if subject = x then move Y\nif subject contains then drop\n");
	deliver(fx, "a", "jo@example.org");
	deliver(fx, "b", "jo@example.org");
	g_assert_cmpint(drain(fx, NULL), ==, 2);
	/* nothing lost, one notice */
	ASSERT_LS(fx, JO, "Invoice-2.eml Invoice-2.txt Invoice.eml Invoice.txt invoice-2.pdf "
			  "invoice.pdf rules-error.eml");
	jo = mdir_folder_open(fx->store, JO, 0, NULL);
	r = mdir_folder_load_record(jo, "rules-error.eml", NULL);
	g_assert_cmpstr(mdir_record_get(r, "notice"), ==, "mdird");
	path = mdir_folder_entry_path(jo, "rules-error.eml");
	g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
	g_assert_nonnull(strstr(text, ".rules:2:26: expected \"then\" or a test (and, or), found \"drop\""));
}

static void
test_forward(Fixture *fx, gconstpointer data)
{
	g_autoptr(MdirFolder) out = NULL;
	g_autoptr(MdirRecord) r = NULL;
	g_autofree char *path = NULL;
	g_autofree char *text = NULL;

	(void)data;
	/* every part matches; the message goes out once per address */
	account(fx, JO, "forward jo@elsewhere.example; forward JO@elsewhere.example\n");
	deliver(fx, "a", "jo@example.org");
	g_assert_cmpint(drain(fx, NULL), ==, 1);
	ASSERT_LS(fx, "SMTP/Outbox", "Invoice.eml");
	out = mdir_folder_open(fx->store, "SMTP/Outbox", 0, NULL);
	r = mdir_folder_load_record(out, "Invoice.eml", NULL);
	g_assert_cmpstr(mdir_record_get(r, "forward-to"), ==, "jo@elsewhere.example");
	path = mdir_folder_entry_path(out, "Invoice.eml");
	g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
	g_assert_true(g_str_has_prefix(text, "Resent-From: jo@example.org\r\n"
					     "Resent-To: jo@elsewhere.example\r\n"));
	g_assert_nonnull(strstr(text, "\r\nFrom: Ann <ann@example.org>\r\n"));
	g_assert_true(g_str_has_suffix(text, "--b--\r\n"));
	ASSERT_LS(fx, JO, "Invoice.eml Invoice.txt invoice.pdf");
}

static void
test_set_aside(Fixture *fx, gconstpointer data)
{
	g_autofree char *q = NULL;
	g_autofree char *bad = NULL;
	g_autofree char *gone = NULL;

	(void)data;
	account(fx, "SMTP/Accounts/gone@example.org", NULL);
	deliver(fx, "a", "gone@example.org");
	gone = g_build_filename(mdir_store_root(fx->store), "SMTP/Accounts/gone@example.org",
	    NULL);
	g_assert_cmpint(rmdir(gone), ==, 0);
	q = mdir_queue_dir(fx->store);
	bad = g_build_filename(q, "0000000000000000.garbage", NULL);
	g_assert_true(g_file_set_contents(bad, "no colon here\n", -1, NULL));
	g_assert_cmpint(drain(fx, NULL), ==, 2);
	g_assert_cmpuint(count_dir(fx, ".mdird/failed"), ==, 2);
	g_assert_cmpuint(count_dir(fx, ".mdird/queue"), ==, 0);
	g_assert_cmpint(drain(fx, NULL), ==, 0);
}

/* A batch back in work, as a crash before its release leaves it. */
static void
put_back(Fixture *fx, const char *name, const char *text)
{
	g_autofree char *p = g_build_filename(mdir_store_root(fx->store), ".mdird", "work", name,
	    NULL);

	g_assert_true(g_file_set_contents(p, text, -1, NULL));
}

static void
test_replay(Fixture *fx, gconstpointer data)
{
	g_autoptr(GPtrArray) names = NULL;
	g_autofree char *q = NULL;
	g_autofree char *p = NULL;
	g_autofree char *text = NULL;
	g_autofree char *entry = NULL;
	g_autofree char *meta = NULL;
	g_autofree char *changes = NULL;
	g_autofree char *vfile = NULL;
	g_autofree char *log = NULL;
	char *name;

	(void)data;
	account(fx, JO, "if part = 2 then copy Docs\n");
	deliver(fx, "a", "jo@example.org");
	q = mdir_queue_dir(fx->store);
	names = mdir_queue_list(fx->store, NULL);
	name = names->pdata[0];
	p = g_build_filename(q, name, NULL);
	g_assert_true(g_file_get_contents(p, &text, NULL, NULL));
	g_assert_cmpint(drain(fx, NULL), ==, 1);
	g_assert_cmpuint(version(fx, JO), ==, 3);
	/* the release was lost: filed again, nothing changes, nothing is told */
	put_back(fx, name, text);
	g_assert_cmpint(drain(fx, NULL), ==, 1);
	g_assert_cmpuint(version(fx, JO), ==, 3);
	g_assert_cmpuint(version(fx, "Docs"), ==, 1);
	g_assert_cmpuint(fx->effects->len, ==, 0);
	g_assert_cmpuint(count_dir(fx, ".mdird/work"), ==, 0);
	/* the crash came before one entry was written: only it is filed */
	entry = g_build_filename(mdir_store_root(fx->store), JO, "Invoice.txt", NULL);
	meta = g_build_filename(mdir_store_root(fx->store), JO, ".meta", "Invoice.txt", NULL);
	g_assert_cmpint(unlink(entry), ==, 0);
	g_assert_cmpint(unlink(meta), ==, 0);
	put_back(fx, name, text);
	g_assert_cmpint(drain(fx, NULL), ==, 1);
	ASSERT_LS(fx, JO, "Invoice.eml Invoice.txt invoice.pdf");
	ASSERT_LS(fx, "Docs", "invoice.pdf");
	g_assert_cmpuint(version(fx, JO), ==, 4);
	g_assert_cmpuint(fx->effects->len, ==, 1);
	g_assert_cmpstr(fx->effects->pdata[0], ==, "change " JO " 4 Invoice.txt");
	/* the crash came after the links, before .changes and .version: the
	 * replay logs what it finds unlogged, and links nothing again */
	changes = g_build_filename(mdir_store_root(fx->store), JO, ".changes", NULL);
	vfile = g_build_filename(mdir_store_root(fx->store), JO, ".version", NULL);
	g_assert_true(g_file_set_contents(changes, "1 + Invoice.eml\n3 + invoice.pdf\n", -1,
	    NULL));
	g_assert_true(g_file_set_contents(vfile, "3\n", -1, NULL));
	g_clear_pointer(&meta, g_free);
	meta = g_build_filename(mdir_store_root(fx->store), JO, ".meta", "invoice.pdf", NULL);
	g_assert_cmpint(unlink(meta), ==, 0); /* and one record never written */
	put_back(fx, name, text);
	g_assert_cmpint(drain(fx, NULL), ==, 1);
	ASSERT_LS(fx, JO, "Invoice.eml Invoice.txt invoice.pdf");
	g_assert_cmpuint(version(fx, JO), ==, 4);
	g_assert_true(g_file_get_contents(changes, &log, NULL, NULL));
	g_assert_cmpstr(log, ==, "1 + Invoice.eml\n3 + invoice.pdf\n4 + Invoice.txt\n");
	g_assert_true(g_file_test(meta, G_FILE_TEST_IS_REGULAR));
}

/*
 * Delivers a message of @n small text parts, p0001.txt and on, to @rcpt;
 * returns the entries it makes (part 0 too): the store's size budget
 * (mdir.conf(5) max_parts) may split fewer than @n.
 */
static guint
deliver_parts(Fixture *fx, const char *id, guint n, const char *rcpt)
{
	g_autoptr(GString) text = g_string_new(NULL);
	g_autofree char *path = NULL;
	const char *rcpts[] = { rcpt, NULL };
	MdirEnvelope env = { .sender = "ann@example.org", .recipients = rcpts };
	g_autoptr(GError) error = NULL;
	g_autoptr(MdirDelivery) d = NULL;
	int fd;

	g_string_printf(text, "From: ann@example.org\r\nSubject: many\r\nMessage-ID: <%s@x>\r\n"
			      "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n",
	    id);
	for (guint i = 1; i <= n; i++)
		g_string_append_printf(text, "--b\r\nContent-Type: text/plain\r\nContent-Disposition: "
					     "attachment; filename=p%04u.txt\r\n\r\n%u\r\n", i, i);
	g_string_append(text, "--b--\r\n");
	path = test_write_tmp("many", text->str);
	fd = open(path, O_RDONLY);
	d = mdir_receive(fx->store, fx->config, fd, &env, &error);
	close(fd);
	g_assert_no_error(error);
	return mdir_delivery_parts(d) + 1; /* and part 0, the whole message */
}

static guint
count_entries(Fixture *fx, const char *folder)
{
	g_autoptr(MdirFolder) f = mdir_folder_open(fx->store, folder, 0, NULL);
	g_autoptr(GPtrArray) names = mdir_folder_list(f, NULL);

	return names->len;
}

static guint
count_effects(Fixture *fx, const char *prefix)
{
	guint n = 0;

	for (guint i = 0; i < fx->effects->len; i++)
		n += g_str_has_prefix(fx->effects->pdata[i], prefix);
	return n;
}

/*
 * A batch of 3,000 entries is filed in slices: the ordinary message queued
 * behind it is filed in the first round, and nothing is filed twice.
 */
static void
test_slices(Fixture *fx, gconstpointer data)
{
	guint rounds = 0;
	guint changes = 0;
	guint notified = 0;
	guint n;

	(void)data;
	account(fx, JO, "if part = 0 then notify\n");
	n = deliver_parts(fx, "big", 3000, "jo@example.org");
	g_assert_cmpuint(n, >, 2000); /* many slices of 100 */
	deliver(fx, "small", "jo@example.org");
	g_assert_cmpuint(count_dir(fx, ".mdird/queue"), ==, 2);
	g_assert_cmpint(drain(fx, NULL), ==, 1);
	changes += count_effects(fx, "change ");
	notified += count_effects(fx, "notify ");
	/* the small one is filed whole and told; the big one is under way
	 * (planned in part in the queue, or filed in part in work) */
	g_assert_cmpuint(count_dir(fx, ".mdird/queue") + count_dir(fx, ".mdird/work"), ==, 1);
	g_assert_cmpuint(notified, ==, 1);
	g_assert_cmpuint(changes, <, n + 3);
	g_assert_cmpuint(mdir_classifier_pending(fx->classifier), ==, 1);
	while (mdir_classifier_pending(fx->classifier) > 0) {
		g_assert_cmpuint(++rounds, <, 1000);
		g_assert_cmpint(drain(fx, NULL), >=, 0);
		changes += count_effects(fx, "change ");
		notified += count_effects(fx, "notify ");
	}
	/* how many more rounds the rest takes is the machine's speed (a round
	 * starts no slice after 200 ms): on a quiet one, one is enough; that
	 * the first round left it under way is asserted above */
	g_assert_cmpuint(rounds, >=, 1);
	/* the parts and the whole message (part 0), and the small one's 3 */
	g_assert_cmpuint(changes, ==, n + 3);
	g_assert_cmpuint(version(fx, JO), ==, n + 3);
	g_assert_cmpuint(notified, ==, 2);
	g_assert_cmpuint(count_dir(fx, ".mdird/work"), ==, 0);
}

/* The links of the record of @name in @folder. */
static nlink_t
record_links(Fixture *fx, const char *folder, const char *name)
{
	g_autoptr(MdirFolder) f = mdir_folder_open(fx->store, folder, 0, NULL);
	g_autofree char *p = NULL;
	struct stat st;

	g_assert_nonnull(f);
	p = g_build_filename(mdir_folder_path(f), ".meta", name, NULL);
	g_assert_cmpint(lstat(p, &st), ==, 0);
	return st.st_nlink;
}

/*
 * A part filed into many folders has one record file, linked into each
 * (a file made once, not one a folder), but not in a .copies folder;
 * nothing is left in the store's tmp.
 */
static void
test_shared_records(Fixture *fx, gconstpointer data)
{
	g_autoptr(MdirFolder) copies = NULL;
	g_autofree char *p = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(MdirRecord) r = NULL;
	g_autoptr(MdirFolder) a = NULL;

	(void)data;
	account(fx, JO, "copy A; continue\ncopy B; continue\ncopy C; continue\n"
	    "copy \"" JO "/Outbox\"; continue\n");
	copies = mdir_folder_open(fx->store, "C", MDIR_FOLDER_CREATE, &error);
	g_assert_no_error(error);
	p = g_build_filename(mdir_folder_path(copies), ".copies", NULL);
	g_assert_true(g_file_set_contents(p, "", 0, NULL));
	deliver(fx, "shared", "jo@example.org");
	g_assert_cmpint(drain(fx, NULL), ==, 1);
	/* the account, A and B: one file; C its own */
	g_assert_cmpuint(record_links(fx, "A", "invoice.pdf"), ==, 3);
	g_assert_cmpuint(record_links(fx, "B", "invoice.pdf"), ==, 3);
	g_assert_cmpuint(record_links(fx, JO, "invoice.pdf"), ==, 3);
	g_assert_cmpuint(record_links(fx, "C", "invoice.pdf"), ==, 1);
	/* an outbox's records are its own too: mdir-outbox trusts them */
	g_assert_cmpuint(record_links(fx, JO "/Outbox", "invoice.pdf"), ==, 1);
	a = mdir_folder_open(fx->store, "A", 0, &error);
	r = mdir_folder_load_record(a, "invoice.pdf", &error);
	g_assert_no_error(error);
	g_assert_cmpstr(mdir_record_get(r, "suggested-name"), ==, "invoice.pdf");
	g_assert_nonnull(mdir_record_get(r, "batch"));
	g_assert_cmpuint(count_dir(fx, ".mstore/tmp"), ==, 0);
}

/* A big batch stopped half way (mdird stopped) is refiled carefully. */
static void
test_slices_stopped(Fixture *fx, gconstpointer data)
{
	guint n;

	(void)data;
	account(fx, JO, NULL);
	n = deliver_parts(fx, "big", 3000, "jo@example.org");
	/* until it is claimed and filed in part */
	while (version(fx, JO) == 0)
		g_assert_cmpint(drain(fx, NULL), ==, 0);
	g_assert_cmpuint(version(fx, JO), <, n);
	g_assert_cmpuint(count_dir(fx, ".mdird/work"), ==, 1);
	/* a new classifier: what the old one had in memory is gone */
	mdir_classifier_free(fx->classifier);
	fx->classifier = mdir_classifier_new(fx->store);
	while (count_dir(fx, ".mdird/work") > 0)
		g_assert_cmpint(drain(fx, NULL), >=, 0);
	g_assert_cmpuint(version(fx, JO), ==, n);
	g_assert_cmpuint(count_entries(fx, JO), ==, n);
}

/*
 * A remote sender's Resent-* (and anything else it writes) never reaches
 * the envelope of a forward: the outbox entry's record carries it, the
 * account as sender and the rule's address as the one recipient.
 */
static void
test_forward_envelope(Fixture *fx, gconstpointer data)
{
	static const char *hostile =
	    "From: ceo@example.org\r\n"
	    "To: jo@example.org\r\n"
	    "Subject: wire\r\n"
	    "Message-ID: <relay@example.org>\r\n"
	    "Resent-Sender: ceo@example.org\r\n"
	    "Resent-From: ceo@example.org\r\n"
	    "Resent-To: victim0@example.net\r\n"
	    "Resent-Bcc: victim1@example.net, victim2@example.net\r\n"
	    "Outbox-Recipient: victim3@example.net\r\n"
	    "Outbox-Sender: ceo@example.org\r\n"
	    "\r\n"
	    "pay\r\n";
	g_autofree char *path = test_write_tmp("msg", hostile);
	const char *rcpts[] = { "jo@example.org", NULL };
	MdirEnvelope env = { .sender = "ceo@example.org", .recipients = rcpts };
	g_autoptr(GError) error = NULL;
	g_autoptr(MdirDelivery) d = NULL;
	g_autoptr(MdirFolder) out = NULL;
	g_autoptr(MdirRecord) r = NULL;
	g_autoptr(GPtrArray) names = NULL;
	g_autofree const char **to = NULL;
	int fd = open(path, O_RDONLY);

	(void)data;
	account(fx, JO, "forward me@phone.example\n");
	d = mdir_receive(fx->store, fx->config, fd, &env, &error);
	close(fd);
	g_assert_no_error(error);
	g_assert_cmpint(drain(fx, NULL), ==, 1);
	out = mdir_folder_open(fx->store, "SMTP/Outbox", 0, &error);
	g_assert_no_error(error);
	names = mdir_folder_list(out, &error);
	g_assert_cmpuint(names->len, ==, 1);
	r = mdir_folder_load_record(out, names->pdata[0], &error);
	g_assert_no_error(error);
	g_assert_cmpstr(mdir_record_get(r, "outbox-sender"), ==, "jo@example.org");
	to = mdir_record_get_all(r, "outbox-recipient");
	g_assert_nonnull(to);
	g_assert_cmpstr(to[0], ==, "me@phone.example");
	g_assert_null(to[1]);
}

/* Templates make at most so many new folders a batch; existing ones do not count. */
static void
test_new_folders_cap(Fixture *fx, gconstpointer data)
{
	g_autoptr(MdirFolder) keep = NULL;
	guint made = 0;

	(void)data;
	account(fx, JO, "if part > 0 then move ByName/{suggested-name}\n");
	account(fx, "ByName/p0008.txt", NULL);
	mdir_classifier_set_max_new_folders(fx->classifier, 5);
	deliver_parts(fx, "many", 8, "jo@example.org");
	g_assert_cmpint(drain(fx, NULL), ==, 1);
	for (guint i = 1; i <= 8; i++) {
		g_autofree char *name = g_strdup_printf("ByName/p%04u.txt", i);
		g_autoptr(MdirFolder) f = mdir_folder_open(fx->store, name, 0, NULL);

		made += f != NULL && i != 8;
	}
	g_assert_cmpuint(made, ==, 5);
	ASSERT_LS(fx, "ByName/p0008.txt", "p0008.txt");
	/* the two that found no folder stay with the whole message */
	ASSERT_LS(fx, JO, "many.eml p0006.txt p0007.txt");
}

/* ~/ and {account} name the account's own tree, not the root's. */
static void
test_account_template(Fixture *fx, gconstpointer data)
{
	(void)data;
	account(fx, JO, "if content-type = application/pdf then move ~/Documents/{date:%Y}\n"
			"if part = 0 then copy {account}/All\n");
	deliver(fx, "a", "jo@example.org");
	g_assert_cmpint(drain(fx, NULL), ==, 1);
	ASSERT_LS(fx, JO "/Documents/2026", "invoice.pdf");
	ASSERT_LS(fx, JO "/All", "Invoice.eml");
	ASSERT_LS(fx, "Documents/2026", "(none)");
}

/*
 * Makes @folder's rules file one that may not be trusted, as a group
 * member's is: another link to it (@other, in the test's directory).
 */
static void
untrusted_account(Fixture *fx, const char *folder, const char *rules, const char *other)
{
	g_autofree char *path = NULL;
	g_autofree char *to = g_build_filename(test_dir(), other, NULL);

	account(fx, folder, rules);
	path = g_build_filename(mdir_store_root(fx->store), folder, ".rules", NULL);
	g_assert_cmpint(link(path, to), ==, 0);
}

/* A symbolic link in the root at @name, to @target. */
static void
root_symlink(Fixture *fx, const char *target, const char *name)
{
	g_autofree char *path = g_build_filename(mdir_store_root(fx->store), name, NULL);

	g_assert_cmpint(symlink(target, path), ==, 0);
}

/*
 * Rules that may not pipe may not route into an outbox either (issue
 * 16.4): a template, or a link a group member made, that leads into one
 * is refused when planned; the entry stays where the rules would
 * otherwise leave it, and the rest of the batch is filed.
 */
static void
test_route_untrusted(Fixture *fx, gconstpointer data)
{
	(void)data;
	account(fx, "Users/Out", NULL);
	root_symlink(fx, "../../SMTP/Outbox", "Users/Out/Invoice");
	root_symlink(fx, "SMTP/Accounts/jo@example.org", "Jo");
	untrusted_account(fx, JO, "if part = 0 then copy Users/Out/{subject}; copy Jo/Outbox\n"
				  "if part = 1 then move ~/Outbox\n"
				  "if part = 2 then copy Docs; move {account}/Outbox\n", "jo.rules");
	/* the same rules of the folder's owner do file there */
	account(fx, "SMTP/Accounts/c@example.org", "if part = 1 then move ~/Outbox\n");
	deliver(fx, "a", "jo@example.org");
	deliver(fx, "b", "c@example.org");
	g_assert_cmpint(drain(fx, NULL), ==, 2);
	ASSERT_LS(fx, JO, "Invoice.eml Invoice.txt invoice.pdf");
	ASSERT_LS(fx, "Docs", "invoice.pdf");
	ASSERT_LS(fx, "SMTP/Outbox", "");
	ASSERT_LS(fx, JO "/Outbox", "(none)");
	ASSERT_LS(fx, "SMTP/Accounts/c@example.org/Outbox", "Invoice.txt");
	ASSERT_LS(fx, "SMTP/Accounts/c@example.org", "Invoice.eml invoice.pdf");
}

/*
 * Trust is judged again when it changes, not only when the text does: a
 * forward refused while the file had another link runs once that link
 * is gone (what the notice asks the owner to fix).
 */
static void
test_trust_change(Fixture *fx, gconstpointer data)
{
	g_autofree char *other = g_build_filename(test_dir(), "jo.rules", NULL);

	(void)data;
	untrusted_account(fx, JO, "if part = 0 then forward jo@elsewhere.example\n", "jo.rules");
	deliver(fx, "a", "jo@example.org");
	g_assert_cmpint(drain(fx, NULL), ==, 1);
	ASSERT_LS(fx, "SMTP/Outbox", "");
	ASSERT_LS(fx, JO, "Invoice.eml Invoice.txt invoice.pdf rules-error.eml");
	g_assert_cmpint(unlink(other), ==, 0);
	deliver(fx, "b", "jo@example.org");
	g_assert_cmpint(drain(fx, NULL), ==, 1);
	ASSERT_LS(fx, "SMTP/Outbox", "Invoice.eml");
}

/*
 * Trust holds along a cascade: a folder a group member's rules route
 * into (one the member made, whose own rules they wrote and therefore
 * own) sends nothing for them, its owner's rules notwithstanding.
 */
static void
test_cascade_untrusted(Fixture *fx, gconstpointer data)
{
	(void)data;
	account(fx, "Users/member", "forward x@evil.example; copy SMTP/Outbox\n");
	untrusted_account(fx, JO, "if part = 1 then copy Users/member\n", "jo.rules");
	/* the account's own rules may send what goes the same way */
	account(fx, "SMTP/Accounts/c@example.org", "if part = 1 then copy Users/member\n");
	deliver(fx, "a", "jo@example.org");
	g_assert_cmpint(drain(fx, NULL), ==, 1);
	ASSERT_LS(fx, "Users/member", "Invoice.txt");
	ASSERT_LS(fx, "SMTP/Outbox", "");
	ASSERT_LS(fx, JO, "Invoice.eml Invoice.txt invoice.pdf");
	deliver(fx, "b", "c@example.org");
	g_assert_cmpint(drain(fx, NULL), ==, 1);
	ASSERT_LS(fx, "SMTP/Outbox", "Invoice.eml Invoice.txt");
}

/*
 * A round that ends in an I/O error after filing a batch: the same
 * process refiles it carefully, finds it all filed, and still runs its
 * effects and tells its changes (they never ran); only a batch a crash
 * left in work is assumed to have run them (test_replay).
 */
static void
test_error_effects(Fixture *fx, gconstpointer data)
{
	(void)data;
	if (g_test_subprocess()) {
		g_autofree char *k = NULL;
		g_autoptr(GError) error = NULL;

		account(fx, JO, "if part = 0 then notify\n");
		account(fx, "SMTP/Accounts/k@example.org", NULL);
		deliver(fx, "k0", "k@example.org");
		g_assert_cmpint(drain(fx, NULL), ==, 1);
		k = g_build_filename(mdir_store_root(fx->store), "SMTP/Accounts/k@example.org",
		    NULL);
		g_assert_cmpint(g_chmod(k, 0500), ==, 0);
		test_drop_dac_override();
		deliver(fx, "a", "jo@example.org");
		deliver(fx, "b", "k@example.org");
		g_ptr_array_set_size(fx->effects, 0);
		g_assert_cmpint(mdir_classifier_drain(fx->classifier, 100, effect, fx, NULL,
		    &error), ==, -1);
		g_assert_nonnull(error);
		/* jo's batch was filed, k's could not be: nothing told yet */
		ASSERT_LS(fx, JO, "Invoice.eml Invoice.txt invoice.pdf");
		g_assert_cmpuint(fx->effects->len, ==, 0);
		g_assert_cmpint(g_chmod(k, 0700), ==, 0);
		g_assert_cmpint(drain(fx, NULL), ==, 2);
		g_assert_cmpuint(count_effects(fx, "notify " JO " 0"), ==, 1);
		g_assert_cmpuint(count_effects(fx, "change " JO " "), ==, 3);
		g_assert_cmpuint(count_effects(fx, "change SMTP/Accounts/k@example.org "), ==, 3);
		g_assert_cmpuint(count_dir(fx, ".mdird/work"), ==, 0);
		/* owed once: nothing is told again */
		g_assert_cmpint(drain(fx, NULL), ==, 0);
		g_assert_cmpuint(fx->effects->len, ==, 0);
		return;
	}
	g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
	g_test_trap_assert_passed();
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	mdir_log_set_level(LOG_EMERG);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)
	ADD("/classify/plain", test_plain);
	ADD("/classify/routes", test_routes);
	ADD("/classify/cascade-loop", test_cascade_loop);
	ADD("/classify/hold", test_hold);
	ADD("/classify/broken-rules", test_broken_rules);
	ADD("/classify/forward", test_forward);
	ADD("/classify/forward-envelope", test_forward_envelope);
	ADD("/classify/set-aside", test_set_aside);
	ADD("/classify/replay", test_replay);
	ADD("/classify/slices", test_slices);
	ADD("/classify/new-folders-cap", test_new_folders_cap);
	ADD("/classify/account-template", test_account_template);
	ADD("/classify/route-untrusted", test_route_untrusted);
	ADD("/classify/trust-change", test_trust_change);
	ADD("/classify/cascade-untrusted", test_cascade_untrusted);
	ADD("/classify/slices-stopped", test_slices_stopped);
	ADD("/classify/shared-records", test_shared_records);
	ADD("/classify/error-effects", test_error_effects);
	return g_test_run();
}
