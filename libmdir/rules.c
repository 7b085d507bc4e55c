/*
 * rules.c: the rules language of a folder's .rules file (mdir-rules(5)).
 *
 * One rule a line ("\" at the end of a line continues it):
 *
 *	if <test> then <action> [; <action>]...
 *	<action> [; <action>]...		(no test: always)
 *
 * Tests look at one header record (a part's, which carries its message's
 * headers too); a field that repeats matches when any of its values does.
 * The first rule whose test holds decides, unless it says "continue".
 * Parsing is all up front, with the line and column of the first error, so
 * that a broken file is refused whole and never half-applied.
 *
 * A rules file is trusted when its folder's owner (or root) wrote it
 * (mdir_rules_load()).  One that is not, a group member's, may file and
 * notify, never act outside the folders: no pipe (a program run as mdir),
 * no forward and no copy or move into an outbox (mail signed and sent as
 * the account).  A destination from a template is judged once filled in,
 * when planned (plan.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <gmime/gmime.h>

#include "mdir.h"
#include "private.h"

typedef enum {
	OP_HAS,
	OP_EQ,
	OP_NE,
	OP_CONTAINS,
	OP_GLOB,
	OP_REGEX,
	OP_NOT_REGEX,
	OP_LT,
	OP_LE,
	OP_GT,
	OP_GE,
} Op;

typedef enum { T_TEST, T_AND, T_OR, T_NOT, T_TRUE } NodeKind;

typedef struct Node Node;
struct Node {
	NodeKind kind;
	Node *a, *b;
	/* T_TEST */
	char *field;
	Op op;
	char *text;	    /* casefolded for EQ/NE/CONTAINS */
	GPatternSpec *glob; /* on the casefolded value */
	GRegex *regex;
	gboolean is_date;   /* a date comparison, else a number */
	gint64 number;	    /* bytes, or seconds since the epoch */
};

struct MdirRules {
	GPtrArray *rules; /* Rule */
	char *file;
	gboolean trusted; /* may pipe and send: see the top */
};

typedef struct {
	Node *test;
	GPtrArray *actions; /* MdirAction */
	gboolean go_on;	    /* "continue" */
	gboolean stops;	    /* "stop" */
	guint line;
} Rule;

/* The parser ---------------------------------------------------------------- */

typedef struct {
	const char *file;
	const char *p;	   /* the next character */
	const char *start; /* of the logical line, for columns */
	guint line;
	gboolean trusted;
	GError **error;
	gboolean failed;
	guint depth; /* of '(' and "not" around the position */
	guint tests; /* in the rule at hand */
} Parser;

/*
 * The parser and the evaluator recurse: a file that nests deeper, or
 * chains more tests, would overflow the stack of mdird (and stop filing
 * for everyone) instead of being refused.
 */
#define MAX_NESTING 100
#define MAX_TESTS 1000

static void
node_free(Node *n)
{
	if (n == NULL)
		return;
	node_free(n->a);
	node_free(n->b);
	g_free(n->field);
	g_free(n->text);
	if (n->glob)
		g_pattern_spec_free(n->glob);
	if (n->regex)
		g_regex_unref(n->regex);
	g_free(n);
}

static void
action_free(gpointer p)
{
	MdirAction *a = p;

	g_free(a->arg);
	g_strfreev(a->argv);
	g_free(a);
}

static void
rule_free(gpointer p)
{
	Rule *r = p;

	node_free(r->test);
	g_ptr_array_unref(r->actions);
	g_free(r);
}

/* Fails the parse at the current position; returns FALSE. */
static gboolean G_GNUC_PRINTF(2, 3)
fail(Parser *ps, const char *format, ...)
{
	g_autofree char *what = NULL;
	va_list ap;

	if (ps->failed)
		return FALSE;
	va_start(ap, format);
	what = g_strdup_vprintf(format, ap);
	va_end(ap);
	g_set_error(ps->error, MDIR_ERROR, MDIR_ERROR_CONFIG, "%s:%u:%ld: %s", ps->file, ps->line,
	    (long)g_utf8_pointer_to_offset(ps->start, ps->p) + 1, what);
	ps->failed = TRUE;
	return FALSE;
}

static void
skip_space(Parser *ps)
{
	while (*ps->p == ' ' || *ps->p == '\t')
		ps->p++;
}

static gboolean
at_end(Parser *ps)
{
	skip_space(ps);
	return *ps->p == '\0' || *ps->p == '#';
}

/* What is at the position, for "found ..." in messages.  Transfer full. */
static char *
found(Parser *ps)
{
	const char *e = ps->p;

	if (at_end(ps))
		return g_strdup("the end of the line");
	e = ps->p;
	while (*e && *e != ' ' && *e != '\t' && e - ps->p < 20)
		e++;
	return g_strdup_printf("\"%.*s\"", (int)(e - ps->p), ps->p);
}

static gboolean
word_char(char c)
{
	return c && c != ' ' && c != '\t' && c != ';' && c != '"' && c != '#' && c != '(' &&
	    c != ')';
}

/* A bare word or a "quoted string" (\" and \\ escapes).  Transfer full. */
static char *
value(Parser *ps, const char *expected)
{
	GString *s;

	skip_space(ps);
	if (*ps->p == '"') {
		const char *open = ps->p;

		s = g_string_new(NULL);
		for (ps->p++; *ps->p && *ps->p != '"'; ps->p++) {
			if (*ps->p == '\\' && (ps->p[1] == '"' || ps->p[1] == '\\'))
				ps->p++;
			g_string_append_c(s, *ps->p);
		}
		if (*ps->p != '"') {
			ps->p = open;
			fail(ps, "a string that is not closed: expected '\"' before the end of the line");
			g_string_free(s, TRUE);
			return NULL;
		}
		ps->p++;
		return g_string_free(s, FALSE);
	}
	if (!word_char(*ps->p)) {
		g_autofree char *f = found(ps);

		fail(ps, "expected %s, found %s", expected, f);
		return NULL;
	}
	s = g_string_new(NULL);
	while (word_char(*ps->p))
		g_string_append_c(s, *ps->p++);
	return g_string_free(s, FALSE);
}

/* Whether the next word is @kw (then it is consumed). */
static gboolean
keyword(Parser *ps, const char *kw)
{
	gsize n = strlen(kw);

	skip_space(ps);
	if (g_ascii_strncasecmp(ps->p, kw, n) != 0 || word_char(ps->p[n]))
		return FALSE;
	ps->p += n;
	return TRUE;
}

static gboolean
field_name_ok(const char *f)
{
	if (*f == '\0')
		return FALSE;
	for (; *f; f++)
		if (!g_ascii_isalnum(*f) && *f != '-' && *f != '_')
			return FALSE;
	return TRUE;
}

/* A size ("10M") or a date ("2026-01-31", "2026-01-31T08:00:00Z"). */
static gboolean
comparable(Parser *ps, Node *n, const char *v)
{
	g_autoptr(GDateTime) dt = NULL;
	g_autoptr(GTimeZone) utc = g_time_zone_new_utc();
	g_autofree char *full = NULL;
	gint64 size = mdir_parse_size(v, NULL);

	if (size >= 0) {
		n->number = size;
		return TRUE;
	}
	full = strlen(v) == 10 ? g_strconcat(v, "T00:00:00", NULL) : g_strdup(v);
	dt = g_date_time_new_from_iso8601(full, utc);
	if (dt == NULL)
		return fail(ps, "expected a number (like 10M) or a date (like 2026-01-31), "
				"found \"%s\"", v);
	n->is_date = TRUE;
	n->number = g_date_time_to_unix(dt);
	return TRUE;
}

static const struct {
	const char *word;
	Op op;
} ops[] = {
	{ "contains", OP_CONTAINS }, { "matches", OP_GLOB }, { "!=", OP_NE },
	{ "!~", OP_NOT_REGEX },	     { "<=", OP_LE },	     { ">=", OP_GE },
	{ "=", OP_EQ },		     { "~", OP_REGEX },	     { "<", OP_LT },
	{ ">", OP_GT },
};

static gboolean
operator(Parser *ps, Op *op)
{
	skip_space(ps);
	for (gsize i = 0; i < G_N_ELEMENTS(ops); i++) {
		gsize n = strlen(ops[i].word);

		if (g_ascii_isalpha(ops[i].word[0]) ? keyword(ps, ops[i].word) :
		    strncmp(ps->p, ops[i].word, n) == 0) {
			if (!g_ascii_isalpha(ops[i].word[0]))
				ps->p += n;
			*op = ops[i].op;
			return TRUE;
		}
	}
	return FALSE;
}

/* FIELD OP VALUE, or "has FIELD". */
static Node *
test(Parser *ps)
{
	Node *n = g_new0(Node, 1);
	const char *at;
	g_autofree char *v = NULL;
	GError *e = NULL;
	gboolean has = FALSE;

	n->kind = T_TEST;
	if (++ps->tests > MAX_TESTS) {
		fail(ps, "more than %d tests in one rule", MAX_TESTS);
		node_free(n);
		return NULL;
	}
	if (keyword(ps, "has")) {
		has = TRUE;
	} else if (keyword(ps, "true")) {
		n->kind = T_TRUE;
		return n;
	}
	skip_space(ps);
	at = ps->p;
	n->field = value(ps, "a field name");
	if (n->field && !field_name_ok(n->field)) {
		ps->p = at;
		fail(ps, "\"%s\" is not a field name (letters, digits and '-')", n->field);
	}
	if (ps->failed || has)
		goto out;
	if (!operator(ps, &n->op)) {
		g_autofree char *f = found(ps);

		fail(ps, "expected an operator (=, !=, contains, matches, ~, !~, <, <=, >, >=) "
			 "after \"%s\", found %s", n->field, f);
		goto out;
	}
	skip_space(ps);
	at = ps->p;
	v = value(ps, "a value");
	if (v == NULL)
		goto out;
	switch (n->op) {
	case OP_EQ:
	case OP_NE:
	case OP_CONTAINS:
		n->text = g_utf8_casefold(v, -1);
		break;
	case OP_GLOB:
		n->text = g_utf8_casefold(v, -1);
		n->glob = g_pattern_spec_new(n->text);
		break;
	case OP_REGEX:
	case OP_NOT_REGEX:
		n->regex = g_regex_new(v, G_REGEX_OPTIMIZE, 0, &e);
		if (n->regex == NULL) {
			ps->p = at;
			fail(ps, "bad regular expression: %s", e->message);
			g_error_free(e);
		}
		break;
	default:
		ps->p = at;
		if (comparable(ps, n, v))
			ps->p = at + strlen(v) + (*at == '"' ? 2 : 0);
		break;
	}
out:
	if (n->field) {
		char *lower = g_ascii_strdown(n->field, -1);

		g_free(n->field);
		n->field = lower;
	}
	if (ps->failed) {
		node_free(n);
		return NULL;
	}
	return n;
}

static Node *expr(Parser *ps);

static Node *
node2(NodeKind kind, Node *a, Node *b)
{
	Node *n = g_new0(Node, 1);

	n->kind = kind;
	n->a = a;
	n->b = b;
	return n;
}

/* "not" FACTOR, "(" EXPR ")" or a test. */
static Node *
factor(Parser *ps)
{
	gboolean negated;
	const char *at;
	Node *n;

	skip_space(ps);
	at = ps->p;
	negated = keyword(ps, "not");
	skip_space(ps);
	if (!negated && *ps->p != '(')
		return test(ps);
	if (++ps->depth > MAX_NESTING) {
		ps->p = at;
		fail(ps, "tests nested deeper than %d levels", MAX_NESTING);
		return NULL;
	}
	if (negated) {
		n = factor(ps);
		ps->depth--;
		return n ? node2(T_NOT, n, NULL) : NULL;
	}
	ps->p++;
	n = expr(ps);
	ps->depth--;
	if (n == NULL)
		return NULL;
	skip_space(ps);
	if (*ps->p != ')') {
		g_autofree char *f = found(ps);

		fail(ps, "expected ')', found %s", f);
		node_free(n);
		return NULL;
	}
	ps->p++;
	return n;
}

static Node *
term(Parser *ps)
{
	Node *n = factor(ps);

	while (n && keyword(ps, "and")) {
		Node *b = factor(ps);

		if (b == NULL) {
			node_free(n);
			return NULL;
		}
		n = node2(T_AND, n, b);
	}
	return n;
}

static Node *
expr(Parser *ps)
{
	Node *n = term(ps);

	while (n && keyword(ps, "or")) {
		Node *b = term(ps);

		if (b == NULL) {
			node_free(n);
			return NULL;
		}
		n = node2(T_OR, n, b);
	}
	return n;
}

/*
 * A destination folder: relative, no dot names; {field}, {date:FMT} and
 * {account}; "~/" at the start stands for "{account}/".
 */
static gboolean
check_destination(Parser *ps, const char *at, const char *dest)
{
	g_auto(GStrv) parts = g_strsplit(g_str_has_prefix(dest, "~/") ? dest + 2 : dest, "/", -1);
	const char *open = NULL;

	for (const char *c = dest; *c; c++) {
		if (*c == '{' && open)
			break;
		if (*c == '{')
			open = c;
		else if (*c == '}' && open) {
			g_autofree char *in = g_strndup(open + 1, c - open - 1);

			if (!g_str_has_prefix(in, "date:") && strcmp(in, "date") != 0 &&
			    !field_name_ok(in)) {
				ps->p = at + (open - dest) + (*at == '"');
				return fail(ps, "\"{%s}\" is neither a field name nor {date:FORMAT}", in);
			}
			open = NULL;
		}
	}
	if (open) {
		ps->p = at + (open - dest) + (*at == '"');
		return fail(ps, "a '{' without its '}'");
	}
	for (guint i = 0; parts[i] || i == 0; i++)
		if (parts[i] == NULL || parts[i][0] == '.' || parts[i][0] == '\0') {
			ps->p = at;
			return fail(ps, "\"%s\" is not a folder: use a path below the root, "
					"without empty or dot names", dest);
		}
	return TRUE;
}

/*
 * Whether @text is one addr-spec (local@domain) and nothing else: no
 * name, no list, no group, no comment (GMime's parser, then the address
 * it found must be the whole text).
 */
static gboolean
one_addr_spec(const char *text)
{
	InternetAddressList *list;
	InternetAddress *a;
	const char *addr = NULL;
	const char *at;
	gboolean ok;

	mdir_mime_init();
	list = internet_address_list_parse(NULL, text);
	if (list && internet_address_list_length(list) == 1) {
		a = internet_address_list_get_address(list, 0);
		if (INTERNET_ADDRESS_IS_MAILBOX(a))
			addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a));
	}
	at = addr ? strrchr(addr, '@') : NULL;
	ok = at && at > addr && at[1] && strcmp(addr, text) == 0 &&
	    strpbrk(addr, " \t{}<>,;:()\"") == NULL;
	if (list)
		g_object_unref(list);
	return ok;
}

static const struct {
	const char *word;
	MdirActionKind kind;
} action_words[] = {
	{ "copy", MDIR_ACTION_COPY },	    { "move", MDIR_ACTION_MOVE },
	{ "notify", MDIR_ACTION_NOTIFY },   { "pipe", MDIR_ACTION_PIPE },
	{ "forward", MDIR_ACTION_FORWARD }, { "drop", MDIR_ACTION_DROP },
	{ "stop", MDIR_ACTION_STOP },	    { "continue", MDIR_ACTION_CONTINUE },
};

/* Fails the parse: @what (an action) needs a trusted rules file. */
static gboolean
untrusted(Parser *ps, const char *what)
{
	return fail(ps, "%s is allowed only in a rules file owned by root or by the folder's "
			"owner, with no other link to it, that no one else may write", what);
}

/* The arguments of a pipe action: words and strings up to ';'. */
static gboolean
pipe_args(Parser *ps, MdirAction *a)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
	const char *program;

	if (!ps->trusted)
		return untrusted(ps, "pipe");
	skip_space(ps);
	program = ps->p;
	while (!at_end(ps) && *ps->p != ';') {
		char *w = value(ps, "a program or an argument");

		if (w == NULL)
			return FALSE;
		g_ptr_array_add(argv, w);
	}
	if (argv->len == 0)
		return fail(ps, "expected a program after pipe");
	if (!g_path_is_absolute(argv->pdata[0]) && (ps->p = program))
		return fail(ps, "the program of a pipe must be an absolute path, not \"%s\"",
		    (char *)argv->pdata[0]);
	g_ptr_array_add(argv, NULL);
	a->argv = (char **)g_ptr_array_free(g_steal_pointer(&argv), FALSE);
	return TRUE;
}

/* Whether a destination is a template, filled in from each record. */
static gboolean
is_template(const char *dest)
{
	return strchr(dest, '{') != NULL || g_str_has_prefix(dest, "~/");
}

/* The folder of a copy or move; an outbox named as it is only in a trusted file. */
static gboolean
destination(Parser *ps, MdirAction *a)
{
	g_autofree char *what = NULL;
	const char *at;

	skip_space(ps);
	at = ps->p;
	a->arg = value(ps, "a folder");
	if (a->arg == NULL || !check_destination(ps, at, a->arg))
		return FALSE;
	if (ps->trusted || is_template(a->arg) || !mdir_is_outbox(a->arg))
		return TRUE;
	ps->p = at;
	what = g_strdup_printf("%s into an outbox (%s)",
	    a->kind == MDIR_ACTION_MOVE ? "move" : "copy", a->arg);
	return untrusted(ps, what);
}

static MdirAction *
action(Parser *ps)
{
	MdirAction *a = g_new0(MdirAction, 1);
	const char *at;
	gsize i;

	skip_space(ps);
	at = ps->p;
	for (i = 0; i < G_N_ELEMENTS(action_words); i++)
		if (keyword(ps, action_words[i].word))
			break;
	if (i == G_N_ELEMENTS(action_words)) {
		g_autofree char *f = found(ps);

		fail(ps, "expected an action (copy, move, notify, pipe, forward, drop, stop, "
			 "continue), found %s", f);
		goto bad;
	}
	a->kind = action_words[i].kind;
	switch (a->kind) {
	case MDIR_ACTION_COPY:
	case MDIR_ACTION_MOVE:
		if (!destination(ps, a))
			goto bad;
		break;
	case MDIR_ACTION_FORWARD:
		if (!ps->trusted) {
			ps->p = at;
			untrusted(ps, "forward");
			goto bad;
		}
		skip_space(ps);
		at = ps->p;
		a->arg = value(ps, "an address");
		if (a->arg && !one_addr_spec(a->arg)) {
			ps->p = at;
			fail(ps, "\"%s\" is not a mail address", a->arg);
		}
		if (ps->failed)
			goto bad;
		break;
	case MDIR_ACTION_PIPE:
		if (!pipe_args(ps, a))
			goto bad;
		break;
	default:
		break;
	}
	return a;
bad:
	(void)at;
	action_free(a);
	return NULL;
}

/* One logical line, @text, into @rules; FALSE on the first error. */
static gboolean
rule_line(Parser *ps, const char *text, GPtrArray *rules)
{
	Rule *r;

	ps->p = ps->start = text;
	ps->depth = 0;
	ps->tests = 0;
	if (at_end(ps))
		return TRUE;
	r = g_new0(Rule, 1);
	r->actions = g_ptr_array_new_with_free_func(action_free);
	r->line = ps->line;
	g_ptr_array_add(rules, r);
	if (keyword(ps, "if")) {
		r->test = expr(ps);
		if (r->test == NULL)
			return FALSE;
		if (!keyword(ps, "then")) {
			g_autofree char *f = found(ps);

			return fail(ps, "expected \"then\" or a test (and, or), found %s", f);
		}
	}
	for (;;) {
		MdirAction *a = action(ps);

		if (a == NULL)
			return FALSE;
		/* "stop" wins over "continue" in one rule */
		if (a->kind == MDIR_ACTION_CONTINUE || a->kind == MDIR_ACTION_STOP)
			r->go_on = a->kind == MDIR_ACTION_CONTINUE && !r->stops;
		r->stops |= a->kind == MDIR_ACTION_STOP;
		g_ptr_array_add(r->actions, a);
		if (at_end(ps))
			return TRUE;
		if (*ps->p != ';') {
			g_autofree char *f = found(ps);

			return fail(ps, "expected ';' between actions, or the end of the line, "
					"found %s", f);
		}
		ps->p++;
	}
}

MdirRules *
mdir_rules_parse(const char *text, const char *file, gboolean trusted, GError **error)
{
	g_autoptr(MdirRules) rules = g_new0(MdirRules, 1);
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
	g_autoptr(GString) logical = g_string_new(NULL);
	Parser ps = { .file = file ? file : "rules", .trusted = trusted, .error = error };
	guint first = 1;

	rules->rules = g_ptr_array_new_with_free_func(rule_free);
	rules->file = g_strdup(ps.file);
	rules->trusted = trusted;
	if (!g_utf8_validate(text, -1, NULL)) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_CONFIG, "%s: not UTF-8 text", ps.file);
		return NULL;
	}
	for (guint i = 0; lines[i]; i++) {
		gsize len = strlen(lines[i]);

		if (len > 0 && lines[i][len - 1] == '\r')
			lines[i][--len] = '\0';
		if (logical->len == 0)
			first = i + 1;
		if (len > 0 && lines[i][len - 1] == '\\') {
			g_string_append_len(logical, lines[i], len - 1);
			g_string_append_c(logical, ' ');
			continue;
		}
		g_string_append(logical, lines[i]);
		ps.line = first;
		if (!rule_line(&ps, logical->str, rules->rules))
			return NULL;
		g_string_truncate(logical, 0);
	}
	return g_steal_pointer(&rules);
}

/* A rules file bigger than this is no one's hand-written rules. */
#define MAX_RULES_FILE (1024 * 1024)

/* The text of the rules file open at @fd, whose status is @st.  Transfer full. */
static char *
read_rules(int fd, const char *path, const struct stat *st, GError **error)
{
	g_autoptr(GString) s = g_string_sized_new(st->st_size + 1);
	char buf[4096];
	ssize_t n;

	if (!S_ISREG(st->st_mode) || st->st_size > MAX_RULES_FILE) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_CONFIG, "%s: %s", path,
		    S_ISREG(st->st_mode) ? "more than 1 MB: not a rules file" :
					   "not a regular file");
		return NULL;
	}
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			mdir_set_errno(error, errno, path);
			return NULL;
		}
		g_string_append_len(s, buf, n);
		if (s->len > MAX_RULES_FILE) {
			g_set_error(error, MDIR_ERROR, MDIR_ERROR_CONFIG,
			    "%s: more than 1 MB: not a rules file", path);
			return NULL;
		}
	}
	return g_string_free(g_steal_pointer(&s), FALSE);
}

/*
 * The file is opened without following a link and judged by what was
 * opened (fstat), never by its path again: a group member can put a
 * symbolic link, or a hard link to a stored part (which mdir owns), in
 * place of .rules.  A file with more than one link may be a stored part:
 * it may file, never pipe nor send.
 */
MdirRules *
mdir_rules_load(const char *path, uid_t folder_owner, GError **error)
{
	g_autofree char *text = NULL;
	struct stat st;
	gboolean trusted;
	int fd;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 && errno == ELOOP) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_CONFIG,
		    "%s: a symbolic link: rules files are read only as real files", path);
		return NULL;
	}
	if (fd < 0 || fstat(fd, &st) < 0) {
		mdir_set_errno(error, errno, path);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	text = read_rules(fd, path, &st, error);
	close(fd);
	if (text == NULL)
		return NULL;
	/* and nobody else may write it: a group member could append to a
	 * group-writable file in place, and it would still be its owner's */
	trusted = (st.st_uid == 0 || st.st_uid == folder_owner) && st.st_nlink == 1 &&
	    (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
	return mdir_rules_parse(text, path, trusted, error);
}

void
mdir_rules_free(MdirRules *rules)
{
	if (rules == NULL)
		return;
	if (rules->rules)
		g_ptr_array_unref(rules->rules);
	g_free(rules->file);
	g_free(rules);
}

guint
mdir_rules_count(const MdirRules *rules)
{
	return rules->rules->len;
}

gboolean
mdir_rules_trusted(const MdirRules *rules)
{
	return rules->trusted;
}

/*
 * The outboxes are mdir-outbox(1)'s: SMTP/Outbox and
 * SMTP/Accounts/<address>/Outbox.  Compared without case, and with empty,
 * "." and ".." names taken out first, so that no spelling of one passes
 * for another folder (a file system may fold case).
 */
gboolean
mdir_is_outbox(const char *folder)
{
	g_autofree char *canon = g_canonicalize_filename(folder, "/");
	g_auto(GStrv) all = g_strsplit(canon, "/", -1);
	const char *parts[5] = { NULL };
	guint n = 0;

	for (guint i = 0; all[i]; i++)
		if (all[i][0] != '\0' && n++ < G_N_ELEMENTS(parts))
			parts[n - 1] = all[i];
	if ((n != 2 && n != 4) || g_ascii_strcasecmp(parts[0], "SMTP") != 0 ||
	    g_ascii_strcasecmp(parts[n - 1], "Outbox") != 0)
		return FALSE;
	return n == 2 || g_ascii_strcasecmp(parts[1], "Accounts") == 0;
}

/* The evaluator ------------------------------------------------------------- */

/* A field's value as a time: RFC 3339 (received-at) or RFC 5322 (date). */
static gboolean
value_time(const char *v, gint64 *t)
{
	g_autoptr(GDateTime) dt = g_date_time_new_from_iso8601(v, NULL);

	if (dt == NULL) {
		mdir_mime_init();
		dt = g_mime_utils_header_decode_date(v);
	}
	if (dt == NULL)
		return FALSE;
	*t = g_date_time_to_unix(dt);
	return TRUE;
}

static gboolean
compare(const Node *n, const char *v)
{
	gint64 x;
	char *end;

	if (n->is_date) {
		if (!value_time(v, &x))
			return FALSE;
	} else {
		x = g_ascii_strtoll(v, &end, 10);
		if (end == v || *end != '\0')
			return FALSE;
	}
	switch (n->op) {
	case OP_LT:
		return x < n->number;
	case OP_LE:
		return x <= n->number;
	case OP_GT:
		return x > n->number;
	default:
		return x >= n->number;
	}
}

/*
 * The values of the fields one evaluation has looked at, each casefolded
 * once if a test needs it: a hundred rules on a few fields cost a few
 * lookups, not a hundred lookups and copies.
 */
typedef struct {
	const char *field;
	const char **all;  /* the record's values */
	char **folded;	   /* casefolded, once a test needed them */
} Seen;

typedef struct {
	const MdirRecord *record;
	Seen seen[16];
	guint n;
} Memo;

static void
memo_clear(Memo *m)
{
	for (guint i = 0; i < m->n; i++) {
		g_free(m->seen[i].all);
		g_strfreev(m->seen[i].folded);
	}
	m->n = 0;
}

/* The values of @field, looked up once an evaluation (NULL: too many fields). */
static Seen *
seen_field(Memo *m, const char *field)
{
	Seen *s;

	for (guint i = 0; i < m->n; i++)
		if (g_ascii_strcasecmp(m->seen[i].field, field) == 0)
			return &m->seen[i];
	if (m->n == G_N_ELEMENTS(m->seen))
		return NULL;
	s = &m->seen[m->n++];
	s->field = field;
	s->all = mdir_record_get_all(m->record, field);
	s->folded = NULL;
	return s;
}

static gboolean
needs_folding(Op op)
{
	return op == OP_EQ || op == OP_NE || op == OP_CONTAINS || op == OP_GLOB;
}

/* Whether one value (@folded: casefolded, if the test needs it) passes a positive test. */
static gboolean
value_passes(const Node *n, const char *v, const char *folded)
{
	switch (n->op) {
	case OP_HAS:
		return TRUE;
	case OP_EQ:
	case OP_NE:
		return strcmp(folded, n->text) == 0;
	case OP_CONTAINS:
		return strstr(folded, n->text) != NULL;
	case OP_GLOB:
		return g_pattern_spec_match_string(n->glob, folded);
	case OP_REGEX:
	case OP_NOT_REGEX:
		return g_regex_match(n->regex, v, 0, NULL);
	default:
		return compare(n, v);
	}
}

/* Whether any of @all passes @n (casefolded here when not given). */
static gboolean
any_passes(const Node *n, const char *const *all, char **folded)
{
	gboolean any = FALSE;

	for (guint i = 0; all && all[i] && !any; i++) {
		g_autofree char *f = NULL;

		if (needs_folding(n->op) && folded == NULL)
			f = g_utf8_casefold(all[i], -1);
		any = value_passes(n, all[i], folded ? folded[i] : f);
	}
	return any;
}

static gboolean
holds(const Node *n, Memo *m)
{
	g_autofree const char **all = NULL;
	Seen *s;
	gboolean any;

	switch (n->kind) {
	case T_TRUE:
		return TRUE;
	case T_AND:
		return holds(n->a, m) && holds(n->b, m);
	case T_OR:
		return holds(n->a, m) || holds(n->b, m);
	case T_NOT:
		return !holds(n->a, m);
	case T_TEST:
		break;
	}
	s = seen_field(m, n->field);
	if (s == NULL) {
		all = mdir_record_get_all(m->record, n->field);
		any = any_passes(n, all, NULL);
	} else {
		if (needs_folding(n->op) && s->folded == NULL) {
			guint len = 0;

			while (s->all[len])
				len++;
			s->folded = g_new0(char *, len + 1);
			for (guint i = 0; i < len; i++)
				s->folded[i] = g_utf8_casefold(s->all[i], -1);
		}
		any = any_passes(n, s->all, s->folded);
	}
	return (n->op == OP_NE || n->op == OP_NOT_REGEX) ? !any : any;
}

/* The value a template's {field} stands for: the part in <> if any. */
static char *
field_for_path(const MdirRecord *r, const char *field)
{
	const char *v = mdir_record_get(r, field);
	const char *lt = v ? strrchr(v, '<') : NULL;
	const char *gt = lt ? strchr(lt, '>') : NULL;
	g_autofree char *raw = NULL;
	char *safe;

	if (v == NULL)
		return g_strdup("unknown");
	raw = gt && gt > lt + 1 ? g_strndup(lt + 1, gt - lt - 1) : g_strdup(v);
	safe = mdir_sanitize_name(g_strstrip(raw), -1);
	return safe ? safe : g_strdup("unknown");
}

/* The message's date (else received-at, else now) formatted by @format. */
static char *
date_for_path(const MdirRecord *r, const char *format)
{
	g_autoptr(GDateTime) dt = NULL;
	g_autofree char *out = NULL;
	const char *fields[] = { "date", "received-at" };
	gint64 t;
	char *safe;

	for (guint i = 0; i < G_N_ELEMENTS(fields) && dt == NULL; i++) {
		const char *v = mdir_record_get(r, fields[i]);

		if (v && value_time(v, &t))
			dt = g_date_time_new_from_unix_utc(t);
	}
	if (dt == NULL)
		dt = g_date_time_new_now_utc();
	out = g_date_time_format(dt, format ? format : "%Y-%m-%d");
	safe = out ? mdir_sanitize_name(out, -1) : NULL;
	return safe ? safe : g_strdup("unknown");
}

/*
 * The account folder of the record, "SMTP/Accounts/<address>", checked:
 * it is mdird's own field, but a name goes into a path only when safe.
 */
static char *
account_for_path(const MdirRecord *r)
{
	const char *v = mdir_record_get(r, "account");
	const char *prefix = "SMTP/Accounts/";

	if (v && g_str_has_prefix(v, prefix) && mdir_name_is_safe(v + strlen(prefix)))
		return g_strdup(v);
	return g_strdup("unknown");
}

char *
mdir_rules_expand(const char *pattern, const MdirRecord *record)
{
	GString *s = g_string_new(NULL);
	const char *p = pattern;

	if (g_str_has_prefix(p, "~/")) {
		g_autofree char *a = account_for_path(record);

		g_string_append_printf(s, "%s/", a);
		p += 2;
	}

	while (*p) {
		const char *close = *p == '{' ? strchr(p, '}') : NULL;
		g_autofree char *in = NULL;
		g_autofree char *v = NULL;

		if (close == NULL) {
			g_string_append_c(s, *p++);
			continue;
		}
		in = g_strndup(p + 1, close - p - 1);
		if (strcmp(in, "date") == 0 || g_str_has_prefix(in, "date:"))
			v = date_for_path(record, in[4] ? in + 5 : NULL);
		else if (strcmp(in, "account") == 0)
			v = account_for_path(record);
		else
			v = field_for_path(record, in);
		g_string_append(s, v);
		p = close + 1;
	}
	return g_string_free(s, FALSE);
}

GPtrArray *
mdir_rules_eval(const MdirRules *rules, const MdirRecord *record, gboolean *keep)
{
	GPtrArray *out = g_ptr_array_new();
	Memo m = { .record = record };

	*keep = TRUE;
	for (guint i = 0; i < rules->rules->len; i++) {
		const Rule *r = rules->rules->pdata[i];

		if (r->test && !holds(r->test, &m))
			continue;
		for (guint j = 0; j < r->actions->len; j++) {
			MdirAction *a = r->actions->pdata[j];

			if (a->kind == MDIR_ACTION_MOVE || a->kind == MDIR_ACTION_DROP)
				*keep = FALSE;
			if (a->kind != MDIR_ACTION_STOP && a->kind != MDIR_ACTION_CONTINUE &&
			    a->kind != MDIR_ACTION_DROP)
				g_ptr_array_add(out, a);
		}
		if (!r->go_on)
			break;
	}
	memo_clear(&m);
	return out;
}
