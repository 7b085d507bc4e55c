/*
 * test-rules.c: the rules language, mdir-rules(5): every test, every
 * action, first match and continue, templates, and every error message.
 */
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static int
link_file(const char *from, const char *to)
{
	return link(from, to);
}

static MdirRecord *
record(const char *text)
{
	g_autoptr(GError) error = NULL;
	MdirRecord *r = mdir_record_parse(text, -1, &error);

	g_assert_no_error(error);
	return r;
}

static MdirRules *
parse(const char *text)
{
	g_autoptr(GError) error = NULL;
	MdirRules *rules = mdir_rules_parse(text, ".rules", TRUE, &error);

	g_assert_no_error(error);
	return rules;
}

/* The actions for @rec as "kind:arg ..." and whether it is kept. */
static char *
run(const char *rules_text, const char *rec_text)
{
	g_autoptr(MdirRules) rules = parse(rules_text);
	g_autoptr(MdirRecord) r = record(rec_text);
	static const char *names[] = { "copy", "move", "notify", "pipe", "forward" };
	g_autoptr(GPtrArray) acts = NULL;
	GString *s = g_string_new(NULL);
	gboolean keep;

	acts = mdir_rules_eval(rules, r, &keep);
	g_string_append(s, keep ? "keep" : "gone");
	for (guint i = 0; i < acts->len; i++) {
		const MdirAction *a = acts->pdata[i];

		g_string_append_printf(s, " %s", names[a->kind]);
		if (a->arg)
			g_string_append_printf(s, ":%s", a->arg);
		if (a->argv)
			g_string_append_printf(s, ":%s", a->argv[0]);
	}
	return g_string_free(s, FALSE);
}

#define ASSERT_RUN(rules, rec, want)                     \
	do {                                             \
		g_autofree char *got_ = run(rules, rec); \
		g_assert_cmpstr(got_, ==, want);         \
	} while (0)

static const char *msg =
    "from: Ann Example <ann@example.org>\n"
    "to: jo@example.net\n"
    "to: team@example.net\n"
    "subject: Invoice 42 for October\n"
    "list-id: Users list <users.lists.example.org>\n"
    "suggested-name: invoice-42.PDF\n"
    "content-type: application/pdf\n"
    "size: 120000\n"
    "date: Tue, 03 Nov 2026 10:00:00 +0000\n";

static void
test_tests(void)
{
	/* equals and != ignore case; repeated fields: any value */
	ASSERT_RUN("if from = \"ann example <ANN@example.org>\" then copy A", msg, "keep copy:A");
	ASSERT_RUN("if to = team@example.net then copy A", msg, "keep copy:A");
	ASSERT_RUN("if to != team@example.net then copy A", msg, "keep");
	ASSERT_RUN("if to != nobody@example.net then copy A", msg, "keep copy:A");
	ASSERT_RUN("if subject contains invoice then copy A", msg, "keep copy:A");
	ASSERT_RUN("if suggested-name matches \"*.pdf\" then copy A", msg, "keep copy:A");
	ASSERT_RUN("if suggested-name matches \"*.doc\" then copy A", msg, "keep");
	/* regular expressions are case-sensitive unless they say (?i) */
	ASSERT_RUN("if suggested-name ~ \"\\.pdf$\" then copy A", msg, "keep");
	ASSERT_RUN("if suggested-name ~ \"(?i)\\.pdf$\" then copy A", msg, "keep copy:A");
	ASSERT_RUN("if subject !~ \"^Re:\" then copy A", msg, "keep copy:A");
	/* sizes and dates */
	ASSERT_RUN("if size > 100K then copy A", msg, "keep copy:A");
	ASSERT_RUN("if size > 1M then copy A", msg, "keep");
	ASSERT_RUN("if size <= 120000 then copy A", msg, "keep copy:A");
	ASSERT_RUN("if date >= 2026-11-01 and date < 2026-12-01 then copy A", msg,
	    "keep copy:A");
	ASSERT_RUN("if date < 2026-11-03T09:59:59Z then copy A", msg, "keep");
	/* a field that is missing or not a number never compares */
	ASSERT_RUN("if spam-score > 5 then copy A", msg, "keep");
	ASSERT_RUN("if subject > 5 then copy A", msg, "keep");
	/* presence, and/or/not, parentheses */
	ASSERT_RUN("if has list-id then copy A", msg, "keep copy:A");
	ASSERT_RUN("if has x-spam then copy A", msg, "keep");
	ASSERT_RUN("if not has x-spam and (size > 1G or subject contains oct) then copy A", msg,
	    "keep copy:A");
	ASSERT_RUN("if has x-spam or not (from contains ann) then copy A", msg, "keep");
	ASSERT_RUN("if true then copy A", msg, "keep copy:A");
	ASSERT_RUN("if FROM contains ANN then copy A", msg, "keep copy:A");
}

static void
test_actions(void)
{
	/* first match wins */
	ASSERT_RUN("if has from then copy A\nif has to then copy B", msg, "keep copy:A");
	/* unless it says continue */
	ASSERT_RUN("if has from then copy A; continue\nif has to then copy B", msg,
	    "keep copy:A copy:B");
	/* stop wins over continue */
	ASSERT_RUN("if has from then continue; stop\nif has to then copy B", msg, "keep");
	ASSERT_RUN("move B", msg, "gone move:B");
	ASSERT_RUN("if has from then drop", msg, "gone");
	ASSERT_RUN("notify; forward jo@example.com; pipe /bin/cat -u", msg,
	    "keep notify forward:jo@example.com pipe:/bin/cat");
	/* a rule without a test always matches; comments and blank lines */
	ASSERT_RUN("# a comment\n\n   \ncopy A # why\n", msg, "keep copy:A");
	/* a rule continued on the next line */
	ASSERT_RUN("if has from and \\\n  has to then \\\n  copy A\n", msg, "keep copy:A");
	/* CRLF files from Windows editors */
	ASSERT_RUN("if has from then copy A\r\n", msg, "keep copy:A");
	ASSERT_RUN("", msg, "keep");
}

static void
test_pipe_argv(void)
{
	g_autoptr(MdirRules) rules = parse("pipe /usr/bin/printf \"%s\\n\" \"a b\" c");
	g_autoptr(MdirRecord) r = record(msg);
	g_autoptr(GPtrArray) acts = NULL;
	const MdirAction *a;
	gboolean keep;

	acts = mdir_rules_eval(rules, r, &keep);
	g_assert_cmpuint(acts->len, ==, 1);
	a = acts->pdata[0];
	g_assert_cmpuint(g_strv_length(a->argv), ==, 4);
	g_assert_cmpstr(a->argv[1], ==, "%s\\n");
	g_assert_cmpstr(a->argv[2], ==, "a b");
	g_assert_cmpuint(mdir_rules_count(rules), ==, 1);
}

static void
test_expand(void)
{
	g_autoptr(MdirRecord) r = record(msg);
	g_autoptr(MdirRecord) bad = record("list-id: ../../etc\nsubject: a/b\n"
					   "received-at: 2025-02-03T04:05:06Z\n");
	g_autoptr(MdirRecord) jo = record("account: SMTP/Accounts/jo@example.org\n"
					  "date: Tue, 03 Nov 2026 10:00:00 +0000\n");
	g_autoptr(MdirRecord) odd = record("account: ../../etc\n");
	struct {
		const MdirRecord *r;
		const char *pattern, *want;
	} cases[] = {
		{ r, "Lists/{list-id}", "Lists/users.lists.example.org" },
		{ r, "Statistics/{date:%Y}/{date:%m}", "Statistics/2026/11" },
		{ r, "Days/{date}", "Days/2026-11-03" },
		{ r, "By/{from}", "By/ann@example.org" },
		{ r, "X/{no-such-field}", "X/unknown" },
		/* a value never makes a path: no '/', no leading dot */
		{ bad, "Lists/{list-id}", "Lists/_.._etc" },
		{ bad, "S/{subject}", "S/a_b" },
		/* no date: received-at */
		{ bad, "Y/{date:%Y}", "Y/2025" },
		/* the account's own tree: {account}, or ~/ at the start */
		{ jo, "{account}/Documents/{date:%Y}", "SMTP/Accounts/jo@example.org/Documents/2026" },
		{ jo, "~/Documents/{date:%Y}", "SMTP/Accounts/jo@example.org/Documents/2026" },
		{ jo, "Docs/~/x", "Docs/~/x" },
		{ odd, "~/x", "unknown/x" },
		{ bad, "{account}/x", "unknown/x" },
	};

	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *got = mdir_rules_expand(cases[i].pattern, cases[i].r);

		g_assert_cmpstr(got, ==, cases[i].want);
	}
}

static void
test_errors(void)
{
	struct {
		const char *text;
		const char *want;
	} cases[] = {
		{ "if", ".rules:1:3: expected a field name, found the end of the line" },
		{ "if from", ".rules:1:8: expected an operator (=, !=, contains, matches, ~, !~, <, "
			     "<=, >, >=) after \"from\", found the end of the line" },
		{ "if from =", ".rules:1:10: expected a value, found the end of the line" },
		{ "if from = x", ".rules:1:12: expected \"then\" or a test (and, or), found the "
			       "end of the line" },
		{ "if from = x then", ".rules:1:17: expected an action (copy, move, notify, pipe, "
				    "forward, drop, stop, continue), found the end of the line" },
		{ "if from = x then jump A", ".rules:1:18: expected an action (copy, move, notify, "
					   "pipe, forward, drop, stop, continue), found \"jump\"" },
		{ "\n\nif from = \"x then copy A", ".rules:3:11: a string that is not closed: "
						    "expected '\"' before the end of the line" },
		{ "if fr*m = x then drop", ".rules:1:4: \"fr*m\" is not a field name (letters, "
					 "digits and '-')" },
		{ "if subject ~ \"(\" then drop", ".rules:1:14: bad regular expression: " },
		{ "if size > big then drop", ".rules:1:11: expected a number (like 10M) or a date "
					   "(like 2026-01-31), found \"big\"" },
		{ "if (has from then drop", ".rules:1:14: expected ')', found \"then\"" },
		{ "copy A B", ".rules:1:8: expected ';' between actions, or the end of the line, "
			    "found \"B\"" },
		{ "copy", ".rules:1:5: expected a folder, found the end of the line" },
		{ "copy ../x", ".rules:1:6: \"../x\" is not a folder: use a path below the root, "
			     "without empty or dot names" },
		{ "copy /etc", ".rules:1:6: \"/etc\" is not a folder: use a path below the root, "
			     "without empty or dot names" },
		{ "copy Lists/{list-id", ".rules:1:12: a '{' without its '}'" },
		{ "copy Lists/{a b}", ".rules:1:12: a '{' without its '}'" },
		{ "copy \"L/{a b}\"", ".rules:1:9: \"{a b}\" is neither a field name nor "
				  "{date:FORMAT}" },
		{ "copy ~/../x", ".rules:1:6: \"~/../x\" is not a folder: use a path below the root, "
			       "without empty or dot names" },
		{ "copy ~/", ".rules:1:6: \"~/\" is not a folder: use a path below the root, "
			   "without empty or dot names" },
		{ "forward jo", ".rules:1:9: \"jo\" is not a mail address" },
		{ "forward \"a@b.example, c@d.example\"", ".rules:1:9: \"a@b.example, c@d.example\" "
							 "is not a mail address" },
		{ "forward \"Jo <jo@b.example>\"", ".rules:1:9: \"Jo <jo@b.example>\" is not a "
						   "mail address" },
		{ "forward a@b.example,c@d.example", ".rules:1:9: \"a@b.example,c@d.example\" is "
						   "not a mail address" },
		{ "forward \"a@b.example c@d.example\"", ".rules:1:9: \"a@b.example c@d.example\" "
							"is not a mail address" },
		{ "forward @b.example", ".rules:1:9: \"@b.example\" is not a mail address" },
		{ "forward a@", ".rules:1:9: \"a@\" is not a mail address" },
		{ "forward list:a@b.example;", ".rules:1:9: \"list:a@b.example\" is not a mail "
						"address" },
		{ "pipe", ".rules:1:5: expected a program after pipe" },
		{ "pipe cat", ".rules:1:6: the program of a pipe must be an absolute path, not "
			    "\"cat\"" },
		{ "copy A\nif has x then drop\n if", ".rules:3:4: expected a field name, found the "
						     "end of the line" },
		{ "if has x and \\\n has y then oops", ".rules:1:27: expected an action (copy, "
							"move, notify, pipe, forward, drop, stop, continue), "
							"found \"oops\"" },
	};

	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(MdirRules) rules = mdir_rules_parse(cases[i].text, ".rules", TRUE, &error);

		g_assert_null(rules);
		g_assert_error(error, MDIR_ERROR, MDIR_ERROR_CONFIG);
		if (!g_str_has_prefix(error->message, cases[i].want))
			g_error("rules \"%s\": got \"%s\", want \"%s\"", cases[i].text,
			    error->message, cases[i].want);
	}
}

static void
test_pipe_refused(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MdirRules) rules = mdir_rules_parse("notify\npipe /bin/true", "/r/.rules",
	    FALSE, &error);

	g_assert_null(rules);
	g_assert_cmpstr(error->message, ==, "/r/.rules:2:5: pipe is allowed only in a rules "
					    "file owned by root or by the folder's owner, with no other link to it, "
					    "that no one else may write");
	g_clear_error(&error);
	rules = mdir_rules_parse("copy A\n\xff\n", "/r/.rules", TRUE, &error);
	g_assert_null(rules);
	g_assert_cmpstr(error->message, ==, "/r/.rules: not UTF-8 text");
}

/* Parses @text as a rules file that may not be trusted; the error or "". */
static char *
untrusted_error(const char *text)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MdirRules) rules = mdir_rules_parse(text, "/r/.rules", FALSE, &error);

	if (rules) {
		g_assert_false(mdir_rules_trusted(rules));
		return g_strdup("");
	}
	g_assert_error(error, MDIR_ERROR, MDIR_ERROR_CONFIG);
	return g_strdup(error->message);
}

#define OWNER_RULE "is allowed only in a rules file owned by root or by the folder's owner, " \
		   "with no other link to it, that no one else may write"

/*
 * What may not pipe may not send either (issue 16.4): no forward, and no
 * copy or move into an outbox named as it is.  A template is judged when
 * it is filled in (test-classify); a spelling that leads into an outbox
 * through a dot name or an empty one is no folder name anyway.
 */
static void
test_route_refused(void)
{
	static const struct {
		const char *text;
		const char *want;
	} cases[] = {
		{ "forward x@evil.example", "/r/.rules:1:1: forward " OWNER_RULE },
		{ "notify\nif has x then forward x@evil.example", "/r/.rules:2:15: forward "
								  OWNER_RULE },
		{ "copy SMTP/Accounts/jo@example.org/Outbox", "/r/.rules:1:6: copy into an "
							       "outbox (SMTP/Accounts/jo@example.org/Outbox) " OWNER_RULE },
		{ "move SMTP/Outbox", "/r/.rules:1:6: move into an outbox (SMTP/Outbox) "
				      OWNER_RULE },
		{ "copy A; move \"SMTP/Outbox\"", "/r/.rules:1:14: move into an outbox "
						  "(SMTP/Outbox) " OWNER_RULE },
		/* case folded: a file system may fold it too */
		{ "copy smtp/accounts/Jo@Example.org/OUTBOX", "/r/.rules:1:6: copy into an "
							       "outbox (smtp/accounts/Jo@Example.org/OUTBOX) " OWNER_RULE },
		{ "copy SMTP/Outbox/", "/r/.rules:1:6: \"SMTP/Outbox/\" is not a folder" },
		{ "copy SMTP//Outbox", "/r/.rules:1:6: \"SMTP//Outbox\" is not a folder" },
		{ "copy SMTP/Accounts/../Outbox", "/r/.rules:1:6: \"SMTP/Accounts/../Outbox\" is "
						 "not a folder" },
		/* not outboxes: allowed */
		{ "copy SMTP/Outbox/Drafts; copy SMTP/Accounts/jo@example.org; copy Outbox", "" },
		{ "copy SMTP/Accounts/jo@example.org/Old/Outbox; copy SMTP/Sent", "" },
		/* templates: judged when planned */
		{ "copy ~/Outbox; move {account}/Outbox; copy SMTP/Accounts/{to}/Outbox", "" },
	};

	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *got = untrusted_error(cases[i].text);

		if (!g_str_has_prefix(got, cases[i].want) || (*cases[i].want == '\0' && *got))
			g_error("rules \"%s\": got \"%s\", want \"%s\"", cases[i].text, got,
			    cases[i].want);
	}
}

/* The rules file of the folder's owner may route anywhere, and says so. */
static void
test_route_trusted(void)
{
	g_autoptr(MdirRules) rules = parse("forward x@elsewhere.example\n"
					   "copy SMTP/Outbox; move SMTP/Accounts/jo@example.org/Outbox\n");

	g_assert_true(mdir_rules_trusted(rules));
	ASSERT_RUN("forward x@elsewhere.example; copy SMTP/Outbox", "x: 1\n",
	    "keep forward:x@elsewhere.example copy:SMTP/Outbox");
}

static void
test_load_owner(void)
{
	g_autofree char *path = test_write_tmp("rules", "pipe /bin/true\n");
	g_autoptr(GError) error = NULL;
	g_autoptr(MdirRules) mine = mdir_rules_load(path, getuid(), &error);
	g_autoptr(MdirRules) theirs = NULL;

	g_assert_no_error(error);
	g_assert_nonnull(mine);
	if (getuid() == 0) {
		/* root's own file may pipe in anyone's folder: make it someone's */
		g_assert_cmpint(chown(path, 65534, 65534), ==, 0);
		theirs = mdir_rules_load(path, 1000, &error);
		g_assert_null(theirs);
		g_assert_nonnull(strstr(error->message, "pipe is allowed only"));
		g_clear_error(&error);
		theirs = mdir_rules_load(path, 65534, &error);
		g_assert_no_error(error);
	}
	g_clear_pointer(&theirs, mdir_rules_free);
	theirs = mdir_rules_load("/nonexistent/.rules", 0, &error);
	g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
}

/*
 * 100 '(' and a test that fails: the parser stepped one byte past the end
 * of the line per '(' (the sanitizer build sees it).
 */
static void
test_open_parens_overread(void)
{
	g_autoptr(GString) s = g_string_new("if ");
	g_autoptr(GError) error = NULL;
	g_autoptr(MdirRules) rules = NULL;

	for (guint i = 0; i < 100; i++)
		g_string_append_c(s, '(');
	g_string_append(s, "from");
	rules = mdir_rules_parse(s->str, ".rules", TRUE, &error);
	g_assert_null(rules);
	g_assert_error(error, MDIR_ERROR, MDIR_ERROR_CONFIG);
	g_assert_true(g_str_has_prefix(error->message, ".rules:1:108: expected an operator"));
}

static void
assert_too_deep(const char *unit, guint n, const char *tail, const char *want)
{
	g_autoptr(GString) s = g_string_new("\nif ");
	g_autoptr(GError) error = NULL;
	g_autoptr(MdirRules) rules = NULL;

	for (guint i = 0; i < n; i++)
		g_string_append(s, unit);
	g_string_append(s, tail);
	rules = mdir_rules_parse(s->str, ".rules", TRUE, &error);
	g_assert_null(rules);
	g_assert_error(error, MDIR_ERROR, MDIR_ERROR_CONFIG);
	g_assert_cmpstr(error->message, ==, want);
}

static void
test_nesting(void)
{
	g_autoptr(GString) ok = g_string_new("if ");
	g_autoptr(MdirRules) rules = NULL;

	/* 300,000 deep overflowed the stack; now an error at the first level too deep */
	assert_too_deep("(", 300000, "has x", ".rules:2:104: tests nested deeper than 100 "
					     "levels");
	assert_too_deep("not ", 300000, "has x", ".rules:2:404: tests nested deeper than "
						 "100 levels");
	assert_too_deep("( not ", 1000, "has x", ".rules:2:304: tests nested deeper than "
						 "100 levels");
	/* a chain of and/or is a tree as deep as it is long */
	assert_too_deep("has x and ", 300000, "has x", ".rules:2:10004: more than 1000 tests "
						      "in one rule");
	/* up to the limit is fine, and still evaluates */
	for (guint i = 0; i < 100; i++)
		g_string_append_c(ok, '(');
	g_string_append(ok, "has x");
	for (guint i = 0; i < 100; i++)
		g_string_append_c(ok, ')');
	g_string_append(ok, " then move A\n");
	rules = parse(ok->str);
	g_assert_cmpuint(mdir_rules_count(rules), ==, 1);
	ASSERT_RUN(ok->str, "x: 1\n", "gone move:A");
}

/*
 * A rules file is judged by what is opened, without following a link: a
 * symbolic link is refused, a file with another link (a stored part moved
 * into place) may not pipe.
 */
static void
test_load_links(void)
{
	g_autofree char *part = test_write_tmp("part", "pipe /bin/sh -c x\n");
	g_autofree char *plain = test_write_tmp("plain", "copy A\n");
	g_autofree char *link = g_build_filename(test_dir(), "link.rules", NULL);
	g_autofree char *hard = g_build_filename(test_dir(), "hard.rules", NULL);
	g_autofree char *hard2 = g_build_filename(test_dir(), "hard2.rules", NULL);
	g_autofree char *fwd = test_write_tmp("fwd", "forward x@evil.example\n");
	g_autofree char *hard3 = g_build_filename(test_dir(), "hard3.rules", NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(MdirRules) rules = NULL;

	g_assert_cmpint(symlink(part, link), ==, 0);
	rules = mdir_rules_load(link, getuid(), &error);
	g_assert_null(rules);
	g_assert_error(error, MDIR_ERROR, MDIR_ERROR_CONFIG);
	g_assert_nonnull(strstr(error->message, "a symbolic link"));
	g_clear_error(&error);
	/* the store part itself, linked to .rules: no pipe */
	g_assert_cmpint(link_file(part, hard), ==, 0);
	rules = mdir_rules_load(hard, getuid(), &error);
	g_assert_null(rules);
	g_assert_nonnull(strstr(error->message, "with no other link to it"));
	g_clear_error(&error);
	/* a linked file without pipe still files */
	g_assert_cmpint(link_file(plain, hard2), ==, 0);
	rules = mdir_rules_load(hard2, getuid(), &error);
	g_assert_no_error(error);
	g_assert_cmpuint(mdir_rules_count(rules), ==, 1);
	g_assert_false(mdir_rules_trusted(rules));
	g_clear_pointer(&rules, mdir_rules_free);
	/* nor forwards: a group member's file may not send the account's mail */
	rules = mdir_rules_load(fwd, getuid(), &error);
	g_assert_no_error(error);
	g_assert_true(mdir_rules_trusted(rules));
	g_clear_pointer(&rules, mdir_rules_free);
	g_assert_cmpint(link_file(fwd, hard3), ==, 0);
	rules = mdir_rules_load(hard3, getuid(), &error);
	g_assert_null(rules);
	g_assert_nonnull(strstr(error->message, ":1:1: forward is allowed only in a rules file "
						"owned by root or by the folder's owner, with no "
						"other link to it"));
	g_clear_error(&error);
	/* a directory is not a rules file */
	rules = mdir_rules_load(test_dir(), getuid(), &error);
	g_assert_null(rules);
	g_assert_nonnull(strstr(error->message, "not a regular file"));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	g_test_add_func("/rules/tests", test_tests);
	g_test_add_func("/rules/actions", test_actions);
	g_test_add_func("/rules/pipe-argv", test_pipe_argv);
	g_test_add_func("/rules/expand", test_expand);
	g_test_add_func("/rules/errors", test_errors);
	g_test_add_func("/rules/pipe-refused", test_pipe_refused);
	g_test_add_func("/rules/route-refused", test_route_refused);
	g_test_add_func("/rules/route-trusted", test_route_trusted);
	g_test_add_func("/rules/load-owner", test_load_owner);
	g_test_add_func("/rules/open-parens-overread", test_open_parens_overread);
	g_test_add_func("/rules/nesting", test_nesting);
	g_test_add_func("/rules/load-links", test_load_links);
	return g_test_run();
}
