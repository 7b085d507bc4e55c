/* Unit tests of account.c: recipients to account folders (DESIGN §2). */
#include <sys/mman.h>
#include <unistd.h>

#include "testutil.h"

static MdirConfig *
config(const char *text)
{
	g_autofree char *path = test_write_tmp("mdir.conf", text);

	return mdir_config_load(path, NULL);
}

static void
expect(MdirStore *s, MdirConfig *c, const char *rcpt, const char *folder, const char *ext)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *e = NULL;
	g_autoptr(MdirFolder) f = mdir_account_open(s, c, rcpt, &e, &error);

	g_assert_no_error(error);
	g_assert_cmpstr(mdir_folder_name(f), ==, folder);
	g_assert_cmpstr(e, ==, ext);
}

static void
refused(MdirStore *s, MdirConfig *c, const char *rcpt, const char *why)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *e = NULL;
	g_autoptr(MdirFolder) f = mdir_account_open(s, c, rcpt, &e, &error);
	g_autofree char *want = g_strdup_printf("%s: %s", rcpt, why);

	g_assert_null(f);
	g_assert_null(e);
	/* a disabled account refuses with its own code (5.2.1, not 5.1.1) */
	if (strcmp(why, "account disabled") == 0)
		g_assert_error(error, MDIR_ERROR, MDIR_ERROR_DISABLED);
	else
		g_assert_error(error, MDIR_ERROR, MDIR_ERROR_NO_ACCOUNT);
	g_assert_cmpstr(error->message, ==, want);
}

static void
test_accounts(void)
{
	g_autoptr(MdirStore) s = test_store();
	g_autoptr(MdirConfig) c = config("[receive]\nrecipient_delimiter = +-\n");
	g_autoptr(MdirConfig) local = config("[receive]\nlocal_domains = example.org\n");
	g_autofree char *accounts = g_build_filename(mdir_store_root(s), "SMTP", "Accounts", NULL);
	g_autofree char *alias = g_build_filename(accounts, "joe@example.org", NULL);
	g_autofree char *off = g_build_filename(accounts, "off@example.org", ".disabled", NULL);

	mdir_folder_free(mdir_folder_open(s, "SMTP/Accounts/jo@example.org", MDIR_FOLDER_CREATE, NULL));
	mdir_folder_free(mdir_folder_open(s, "SMTP/Accounts/off@example.org", MDIR_FOLDER_CREATE, NULL));
	mdir_folder_free(mdir_folder_open(s, "SMTP/Accounts/@other.test", MDIR_FOLDER_CREATE, NULL));
	g_assert_cmpint(symlink("jo@example.org", alias), ==, 0);
	g_assert_true(g_file_set_contents(off, "", 0, NULL));

	expect(s, c, "jo@example.org", "SMTP/Accounts/jo@example.org", NULL);
	expect(s, c, "Jo+Lists@EXAMPLE.org", "SMTP/Accounts/jo@example.org", "lists");
	expect(s, c, "jo-news@example.org", "SMTP/Accounts/jo@example.org", "news");
	expect(s, c, "joe@example.org", "SMTP/Accounts/jo@example.org", NULL);
	expect(s, c, "anyone@other.test", "SMTP/Accounts/@other.test", NULL);
	expect(s, c, "any+x@other.test", "SMTP/Accounts/@other.test", "x");
	refused(s, c, "nobody@example.org", "no such account");
	refused(s, c, "off@example.org", "account disabled");
	refused(s, c, "nodomain", "not an address with a domain");
	refused(s, c, "@example.org", "not an address with a domain");
	refused(s, c, ".hidden@example.org", "not a valid account name");
	refused(s, c, "a/b@example.org", "not a valid account name");
	refused(s, local, "anyone@other.test", "not a local domain");
	expect(s, local, "jo@example.org", "SMTP/Accounts/jo@example.org", NULL);
	/* callers that do not want the extension pass NULL for it */
	{
		g_autoptr(MdirFolder) f = mdir_account_open(s, c, "jo+x@example.org", NULL, NULL);

		g_assert_nonnull(f);
		g_assert_null(mdir_account_open(s, c, "off@example.org", NULL, NULL));
	}
	g_assert_true(mdir_domain_is_local(local, "EXAMPLE.org"));
	g_assert_false(mdir_domain_is_local(local, "other.test"));
	g_assert_true(mdir_domain_is_local(c, "anything.test")); /* none configured */
}

static void
normalized(const char *address, const char *want)
{
	g_autofree char *got = mdir_address_normalize(address);

	g_assert_cmpstr(got, ==, want);
}

/* SMTPUTF8: one form per address, whatever spelling the envelope used. */
static void
test_normalize(void)
{
	normalized("Jo@Example.ORG", "jo@example.org");
	normalized("x@xn--bcher-kva.example", "x@bücher.example");
	normalized("x@XN--BCHER-KVA.EXAMPLE", "x@bücher.example");
	normalized("x@BÜCHER.example", "x@bücher.example");
	/* NFD (u and a combining diaeresis) is NFC after */
	normalized("J\u00f6rg@bu\xcc\x88" "cher.example", "j\u00f6rg@bücher.example");
	normalized("Jo\xcc\x88rg@example.org", "j\u00f6rg@example.org");
	normalized("Дмитрий@Пример.РФ", "дмитрий@пример.рф");
	normalized("dmitry@xn--e1afmkfd.xn--p1ai", "dmitry@пример.рф");
	normalized("用户@例子.广告", "用户@例子.广告");
	normalized("أحمد@مثال.إختبار", "أحمد@مثال.إختبار");
	normalized("😀@xn--e28h.example", "😀@😀.example");
	normalized("nodomain", "nodomain");
	normalized("a@example.org.", "a@example.org");
	/* not IDNA: lower-cased, kept */
	normalized("a@XN--ZZ.example", "a@xn--zz.example");
	g_assert_null(mdir_address_normalize("x@b\xfcr.example"));
}

static void
test_accounts_utf8(void)
{
	g_autoptr(MdirStore) s = test_store();
	g_autoptr(MdirConfig) c = config("[receive]\nrecipient_delimiter = +\n");
	g_autoptr(MdirConfig) ace = config("[receive]\nlocal_domains = xn--bcher-kva.example\n");
	g_autoptr(MdirConfig) uni = config("[receive]\nlocal_domains = Bücher.example\n");

	mdir_folder_free(mdir_folder_open(s, "SMTP/Accounts/jörg@bücher.example",
	    MDIR_FOLDER_CREATE, NULL));
	mdir_folder_free(mdir_folder_open(s, "SMTP/Accounts/дмитрий@пример.рф",
	    MDIR_FOLDER_CREATE, NULL));
	mdir_folder_free(mdir_folder_open(s, "SMTP/Accounts/@xn--r8jz45g.example",
	    MDIR_FOLDER_CREATE, NULL));
	mdir_folder_free(mdir_folder_open(s, "SMTP/Accounts/jo@xn--e28h.example",
	    MDIR_FOLDER_CREATE, NULL));

	expect(s, c, "JÖRG@BÜCHER.EXAMPLE", "SMTP/Accounts/jörg@bücher.example", NULL);
	expect(s, c, "jörg+news@xn--bcher-kva.example", "SMTP/Accounts/jörg@bücher.example",
	    "news");
	expect(s, c, "Jo\xcc\x88rg@bu\xcc\x88" "cher.example", "SMTP/Accounts/jörg@bücher.example",
	    NULL);
	expect(s, c, "Дмитрий+спам@ПРИМЕР.РФ", "SMTP/Accounts/дмитрий@пример.рф", "спам");
	expect(s, c, "ДМИТРИЙ@xn--e1afmkfd.xn--p1ai", "SMTP/Accounts/дмитрий@пример.рф", NULL);
	/* a folder made with the A-label serves the U-label's mail */
	expect(s, c, "誰か@例え.example", "SMTP/Accounts/@xn--r8jz45g.example", NULL);
	expect(s, c, "jo@😀.example", "SMTP/Accounts/jo@xn--e28h.example", NULL);
	refused(s, c, "jörg@bücher.example\xff", "not valid UTF-8");
	expect(s, ace, "jörg@bücher.example", "SMTP/Accounts/jörg@bücher.example", NULL);
	expect(s, uni, "jörg@xn--bcher-kva.example", "SMTP/Accounts/jörg@bücher.example", NULL);
	g_assert_true(mdir_domain_is_local(ace, "BÜCHER.example"));
	g_assert_true(mdir_domain_is_local(uni, "xn--bcher-kva.EXAMPLE"));
	g_assert_false(mdir_domain_is_local(uni, "bucher.example"));
}

/*
 * A domain that is not UTF-8 (the policy service's recipient comes as
 * Postfix got it) is nobody's: GLib's UTF-8 functions step past its end by
 * the lead byte's length, reading and writing beside the heap block (the
 * fuzzer's ASan crash).  The domain ends a page here, and a page no one
 * may read follows: a step past the end is a crash, not a silent read.
 */
static void
test_domain_not_utf8(void)
{
	static const char *const tails[] = { "\xf4", "\xe0", "\xc3", "x\xfe", "\xf0\x9f" };
	g_autoptr(MdirConfig) local = config("[receive]\nlocal_domains = example.org\n");
	long page = sysconf(_SC_PAGESIZE);
	char *map = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	g_assert_true(map != MAP_FAILED);
	g_assert_cmpint(mprotect(map + page, page, PROT_NONE), ==, 0);
	for (gsize i = 0; i < G_N_ELEMENTS(tails); i++) {
		g_autofree char *text = g_strconcat("example.org", tails[i], NULL);
		char *at = map + page - strlen(text) - 1;

		memcpy(at, text, strlen(text) + 1);
		g_assert_false(mdir_domain_is_local(local, at));
	}
	munmap(map, 2 * page);
}

/*
 * The account verbs write .rules and .disabled through the account
 * folder's descriptor (DESIGN 6b).  A link put where .rules goes, by a
 * group member, is said and left as it is, and what it leads to is not
 * read nor touched (before, it was read, and the link replaced without a
 * word); a .disabled is made under a fresh name and renamed over a link,
 * never written through it.
 */
static void
test_verbs_no_links(void)
{
	g_autoptr(MdirStore) s = test_store();
	g_autoptr(GError) e = NULL;
	g_autofree char *jo = g_build_filename(mdir_store_root(s), "SMTP", "Accounts",
	    "jo@example.org", NULL);
	g_autofree char *rules = g_build_filename(jo, ".rules", NULL);
	g_autofree char *off = g_build_filename(jo, ".disabled", NULL);
	g_autofree char *victim = test_write_tmp("victim", "# mstore account: forward, written by mstore(1)\n");
	g_autofree char *gone = g_strconcat(victim, ".absent", NULL);
	g_autofree char *text = NULL;
	GStatBuf st;

	g_assert_true(mdir_account_add(s, "jo@example.org", 0, NULL));
	g_assert_cmpint(symlink(victim, rules), ==, 0);
	g_assert_false(mdir_account_forward(s, "jo@example.org", "x@far.test", FALSE, &e));
	g_assert_error(e, MDIR_ERROR, MDIR_ERROR_OUTSIDE_ROOT);
	g_assert_nonnull(strstr(e->message, "symbolic link"));
	g_clear_error(&e);
	g_assert_cmpint(g_lstat(rules, &st), ==, 0);
	g_assert_true(S_ISLNK(st.st_mode));
	g_assert_true(g_file_get_contents(victim, &text, NULL, NULL));
	g_assert_cmpstr(text, ==, "# mstore account: forward, written by mstore(1)\n");
	g_assert_cmpint(unlink(rules), ==, 0);

	/* .disabled: a dangling link is replaced, not made into a file behind it */
	g_assert_cmpint(symlink(gone, off), ==, 0);
	g_assert_true(mdir_account_set_disabled(s, "jo@example.org", TRUE, &e));
	g_assert_no_error(e);
	g_assert_false(g_file_test(gone, G_FILE_TEST_EXISTS));
	g_assert_cmpint(g_lstat(off, &st), ==, 0);
	g_assert_true(S_ISREG(st.st_mode));
	g_assert_cmpint(unlink(off), ==, 0);

	/* and without links, both work as before */
	g_assert_true(mdir_account_forward(s, "jo@example.org", "x@far.test", TRUE, &e));
	g_assert_no_error(e);
	g_assert_true(mdir_account_set_disabled(s, "jo@example.org", TRUE, &e));
	g_assert_no_error(e);
	g_assert_true(g_file_test(off, G_FILE_TEST_IS_REGULAR));
	g_assert_true(mdir_account_set_disabled(s, "jo@example.org", FALSE, &e));
	g_assert_no_error(e);
	g_assert_false(g_file_test(off, G_FILE_TEST_EXISTS));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	g_test_add_func("/account/resolve", test_accounts);
	g_test_add_func("/account/normalize", test_normalize);
	g_test_add_func("/account/resolve-utf8", test_accounts_utf8);
	g_test_add_func("/account/domain-not-utf8", test_domain_not_utf8);
	g_test_add_func("/account/verbs-no-links", test_verbs_no_links);
	return g_test_run();
}
