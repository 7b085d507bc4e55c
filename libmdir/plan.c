/*
 * plan.c: the planning half of the classifier (classify.c has the round):
 * a batch's records, the account folder's rules and the rules of each
 * folder they file into decide where every entry goes, what runs after,
 * and what is forwarded (mdir-rules(5)).  Nothing is filed here; folders
 * a rule names are made, at most [mdird] max_new_folders of them from
 * templates a batch.  The rules files are parsed once and kept until they
 * change; a broken one gets a notice in its folder, once a version.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <gmime/gmime.h>
#include <glib.h>

#include "mdir.h"
#include "private.h"
#include "classify.h"

char *
classify_mdird_dir(MdirStore *store, const char *sub)
{
	return g_build_filename(mdir_store_root(store), ".mdird", sub, NULL);
}
/* Notices --------------------------------------------------------------------- */

/*
 * Files a message into @folder telling its owner what went wrong (a rules
 * file that does not parse), as rules-error.eml, at once: the folder's
 * rules are what is broken.  Best effort: it is logged anyway.
 */
static void
post_notice(MdirClassifier *c, MdirFolder *folder, const char *subject, const char *text)
{
	GMimeMessage *m = mdir_generated_new("mdird", NULL, subject, "auto-generated");
	GMimeTextPart *body = g_mime_text_part_new_with_subtype("plain");
	g_autoptr(MdirRecord) fields = mdir_record_new();
	g_autoptr(GError) e = NULL;

	g_mime_text_part_set_text(body, text);
	/* filed, never sent: 8-bit text left as it is, readable as it is */
	g_mime_object_encode(GMIME_OBJECT(body), GMIME_ENCODING_CONSTRAINT_8BIT);
	g_mime_message_set_mime_part(m, GMIME_OBJECT(body));
	mdir_record_add(fields, "suggested-name", "rules-error.eml");
	mdir_record_add(fields, "notice", "mdird");
	if (!mdir_generated_file(c->store, NULL, m, folder, fields, MDIR_GENERATED_DIRECT, NULL,
	    &e))
		mdir_log(LOG_ERR, "%s: cannot file a notice: %s", mdir_folder_name(folder),
		    e->message);
	g_object_unref(body);
	g_object_unref(m);
}

/* Rules ------------------------------------------------------------------------ */

/* A Cached made for @st, the status of a .rules file. */
static Cached *
cached_new(const struct stat *st)
{
	Cached *k = g_new0(Cached, 1);

	k->dev = st->st_dev;
	k->ino = st->st_ino;
	k->size = st->st_size;
	k->ctime_ns = (gint64)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
	return k;
}

/* Whether @k was made for the file @st is: same file, same change time. */
static gboolean
cached_same(const Cached *k, const struct stat *st)
{
	/* the change time: the text changes it, and so do the owner and the
	 * links that decide what the file may do */
	return !k->missing && k->dev == st->st_dev && k->ino == st->st_ino &&
	    k->size == st->st_size &&
	    k->ctime_ns == (gint64)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
}

/* Parses @path, the rules of @folder, into @k; a notice if it is broken. */
static void
load_rules(MdirClassifier *c, MdirFolder *folder, const char *path, Cached *k)
{
	g_autoptr(GError) e = NULL;
	g_autofree char *text = NULL;
	struct stat dst;

	if (stat(mdir_folder_path(folder), &dst) < 0)
		dst.st_uid = 0;
	k->rules = mdir_rules_load(path, dst.st_uid, &e);
	if (k->rules)
		return;
	/* once per version of the file: it is cached until it changes */
	mdir_log(LOG_ERR, "%s (entries stay in the folder until it is fixed)", e->message);
	text = g_strdup_printf("mdird could not read the rules of the folder %s:\n\n  %s\n\n"
			       "Until the file is fixed, entries arriving in this folder stay "
			       "here and no rule of it runs.\nNothing is lost.\n",
	    mdir_folder_name(folder), e->message);
	post_notice(c, folder, "rules error", text);
}

/*
 * The rules of @folder (NULL if it has none or they are broken) and
 * whether it holds a .hold, looked at once a drain: the batches of a round
 * see the folder as it was when the round first came to it.
 */
static Cached *
folder_state(MdirClassifier *c, MdirFolder *folder)
{
	const char *dir = mdir_folder_path(folder);
	g_autofree char *path = g_build_filename(dir, ".rules", NULL);
	g_autofree char *hold = NULL;
	Cached *k = g_hash_table_lookup(c->rules, dir);
	struct stat st;

	if (k && k->drain == c->drains)
		return k;
	/* lstat: a link in place of .rules is refused by the load, not followed */
	if (lstat(path, &st) < 0) {
		if (k == NULL || !k->missing) {
			k = g_new0(Cached, 1);
			k->missing = TRUE;
			g_hash_table_replace(c->rules, g_strdup(dir), k);
		}
	} else if (k == NULL || !cached_same(k, &st)) {
		k = cached_new(&st);
		g_hash_table_replace(c->rules, g_strdup(dir), k);
		load_rules(c, folder, path, k);
	}
	hold = g_build_filename(dir, ".hold", NULL);
	k->held = g_file_test(hold, G_FILE_TEST_EXISTS);
	k->drain = c->drains;
	return k;
}

/* Planning ---------------------------------------------------------------------- */

MdirFolder *
classify_batch_folder(MdirClassifier *c, Batch *b, const char *name, gboolean create,
    GError **error)
{
	MdirFolder *f = g_hash_table_lookup(b->folders, name);

	if (f)
		return f;
	/* opened once for all the batches of a round: each open resolves
	 * the path component by component */
	f = g_hash_table_lookup(c->folders, name);
	if (f == NULL) {
		f = mdir_folder_open(c->store, name, create ? MDIR_FOLDER_CREATE : 0, error);
		if (f == NULL)
			return NULL;
		g_hash_table_insert(c->folders, g_strdup(name), f);
	}
	g_hash_table_insert(b->folders, g_strdup(name), f);
	return f;
}

static void
plan_filing(Batch *b, MdirFolder *f, const char *src, const MdirRecord *r, const char *name)
{
	const char *url = mdir_record_get(r, "url");
	char *key = g_strdup_printf("%s\t%s", mdir_folder_name(f), url ? url : "");
	Filing *fi;

	/* an entry goes into a folder once, however many rules send it there */
	if (!g_hash_table_add(b->planned, key))
		return;
	fi = g_new0(Filing, 1);
	fi->folder = g_strdup(mdir_folder_name(f));
	fi->src = g_strdup(src);
	fi->record = mdir_record_copy(r);
	fi->name = g_strdup(name);
	g_ptr_array_add(b->filings, fi);
}

static void
plan_later(Batch *b, MdirEffectKind kind, MdirFolder *f, const char *src,
    const MdirRecord *r, char **argv)
{
	Later *l = g_new0(Later, 1);

	l->kind = kind;
	l->folder = g_strdup(mdir_folder_name(f));
	l->src = g_strdup(src);
	l->record = mdir_record_copy(r);
	l->argv = g_strdupv(argv);
	g_ptr_array_add(b->later, l);
}

/*
 * The envelope of a forward, in its record for mdir-outbox (mdir(5)): the
 * account forwarding it as the sender (empty: the null sender) and the
 * rule's address as the one recipient.  Nothing the message says counts:
 * whatever outbox-* fields a record brought along go first.
 */
static void
set_envelope(MdirRecord *r, const char *account, const char *to)
{
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	g_autofree char *sender = account ? g_path_get_basename(account) : NULL;

	for (guint i = 0; i < mdir_record_length(r); i++) {
		const char *n, *v;

		mdir_record_nth(r, i, &n, &v);
		if (g_ascii_strncasecmp(n, "outbox-", 7) == 0)
			g_ptr_array_add(names, g_strdup(n));
	}
	for (guint i = 0; i < names->len; i++)
		mdir_record_remove(r, names->pdata[i]);
	mdir_record_set(r, "outbox-sender", sender && strchr(sender, '@') ? sender : "");
	mdir_record_set(r, "outbox-recipient", to);
}

/* A copy of the raw message into the outbox for @to, once per batch. */
static void
plan_forward(MdirClassifier *c, Batch *b, const MdirRecord *r, const char *to)
{
	const char *anchor = mdir_record_get(r, "anchor");
	g_autofree char *lower = g_ascii_strdown(to, -1);
	Filing *fi;
	char *src;

	/* once per address; a folder name never starts with a tab */
	if (!g_hash_table_add(b->planned, g_strconcat("\tforward\t", lower, NULL)))
		return;
	src = anchor ? mdir_store_part_path(c->store, anchor, NULL) : NULL;
	if (src == NULL) {
		mdir_log(LOG_WARNING, "batch %s: no raw message to forward to %s", b->name, to);
		return;
	}
	fi = g_new0(Filing, 1);
	fi->folder = g_strdup(OUTBOX);
	fi->src = src;
	fi->record = mdir_store_load_record(c->store, anchor, NULL);
	if (fi->record == NULL)
		fi->record = mdir_record_new();
	mdir_record_set(fi->record, "batch", b->name);
	mdir_record_set(fi->record, "forward-to", to);
	mdir_record_set(fi->record, "account", mdir_record_get(r, "account"));
	set_envelope(fi->record, mdir_record_get(r, "account"), to);
	fi->name = g_strdup(mdir_record_get(fi->record, "suggested-name"));
	if (fi->name == NULL || !mdir_name_is_safe(fi->name))
		g_free(g_steal_pointer(&fi->name)), fi->name = g_strdup("forward.eml");
	fi->forward_to = g_strdup(to);
	g_ptr_array_add(b->filings, fi);
}

static Route route(MdirClassifier *c, Batch *b, MdirFolder *f, const char *src,
    const MdirRecord *r, const char *name, GPtrArray *chain, GError **error);

/*
 * Whether the rule may make the folder @dest for this batch: a folder
 * named by a template ({subject}, ...) that does not exist yet counts
 * against the cap, so a sender cannot make folders at will.
 */
static gboolean
may_make(MdirClassifier *c, Batch *b, MdirFolder *from, const MdirAction *a,
    const char *dest)
{
	g_autoptr(MdirFolder) f = NULL;
	g_autoptr(GError) e = NULL;

	if (strchr(a->arg, '{') == NULL || g_hash_table_contains(b->folders, dest))
		return TRUE;
	f = mdir_folder_open(c->store, dest, 0, &e);
	if (f || !g_error_matches(e, MDIR_ERROR, MDIR_ERROR_NOT_FOUND))
		return TRUE;
	if (b->new_folders < c->max_new_folders) {
		b->new_folders++;
		return TRUE;
	}
	if (b->new_folders++ == c->max_new_folders)
		mdir_log(LOG_WARNING, "batch %s: %s: rules would make more than %u new folders "
				      "([mdird] max_new_folders); the entries stay here", b->name,
		    mdir_folder_name(from), c->max_new_folders);
	return FALSE;
}

/* Notes @a for the batch's log line, once. */
static void
note_action(Batch *b, const MdirAction *a, const char *arg)
{
	static const char *const words[] = { "copy", "move", "notify", "pipe", "forward" };
	g_autofree char *s = NULL;

	if ((guint)a->kind >= G_N_ELEMENTS(words))
		return;
	s = arg ? g_strdup_printf("%s %s", words[a->kind], arg) : g_strdup(words[a->kind]);
	for (guint i = 0; i < b->actions->len; i++)
		if (strcmp(b->actions->pdata[i], s) == 0)
			return;
	if (b->actions->len < 50)
		g_ptr_array_add(b->actions, g_steal_pointer(&s));
}

/*
 * Whether the folder @dest is an outbox or leads into one through a link
 * in the root (an account's alias, or one a group member made).
 */
static gboolean
leads_to_outbox(MdirStore *store, const char *dest)
{
	const char *root = mdir_store_root(store);
	g_autofree char *real = NULL;

	if (mdir_is_outbox(dest))
		return TRUE;
	real = mdir_resolve(store, dest, NULL);
	return real && g_str_has_prefix(real, root) && mdir_is_outbox(real + strlen(root));
}

/*
 * Whether a copy or move into @dest is refused, and logged so: rules that
 * may not send (a group member's: mdir_rules_load()), or that an entry
 * reached through such rules, route into no outbox, whose mail is signed
 * and sent as the account (issue 16.4).
 */
static gboolean
refused(Batch *b, MdirStore *store, MdirFolder *from, const MdirAction *a, const char *dest)
{
	g_autofree char *note = NULL;

	if (b->untrusted == 0 || !leads_to_outbox(store, dest))
		return FALSE;
	mdir_log(LOG_WARNING, "%s: rules: %s into the outbox %s refused: only a rules file "
			      "owned by root or by the folder's owner, with no other link to it, "
			      "reached through such files only, may route into an outbox; the "
			      "entry stays here",
	    mdir_folder_name(from), a->kind == MDIR_ACTION_MOVE ? "move" : "copy", dest);
	note = g_strdup_printf("%s (refused)", dest);
	note_action(b, a, note);
	return TRUE;
}

/*
 * Whether a forward is refused, and logged so: the entry came through
 * rules that may not send (a group member's rules in an account's folder
 * route into a folder the member made, whose rules the member owns).
 */
static gboolean
forward_refused(Batch *b, MdirFolder *f, const MdirAction *a)
{
	g_autofree char *note = NULL;

	if (b->untrusted == 0)
		return FALSE;
	mdir_log(LOG_WARNING, "%s: rules: forward to %s refused: the entry came through a "
			      "rules file not owned by root or by its folder's owner, or with "
			      "another link to it", mdir_folder_name(f), a->arg);
	note = g_strdup_printf("%s (refused)", a->arg);
	note_action(b, a, note);
	return TRUE;
}

/* A copy or move of the entry into the folder a rule names. */
static Route
route_to(MdirClassifier *c, Batch *b, MdirFolder *from, const MdirAction *a,
    const char *src, const MdirRecord *r, const char *name, GPtrArray *chain, GError **error)
{
	g_autofree char *dest = mdir_rules_expand(a->arg, r);
	GError *e = NULL;
	MdirFolder *to;

	if (refused(b, c->store, from, a, dest) || !may_make(c, b, from, a, dest)) {
		plan_filing(b, from, src, r, name);
		return ROUTED;
	}
	to = classify_batch_folder(c, b, dest, TRUE, &e);
	if (to == NULL) {
		if (e->domain == G_FILE_ERROR && e->code != G_FILE_ERROR_NOTDIR) {
			g_propagate_error(error, e);
			return FAILED;
		}
		/* a name a rule made that cannot be a folder: keep it here */
		mdir_log(LOG_ERR, "%s: rules: %s; the entry stays here", mdir_folder_name(from),
		    e->message);
		g_error_free(e);
		plan_filing(b, from, src, r, name);
		return ROUTED;
	}
	note_action(b, a, dest);
	return route(c, b, to, src, r, name, chain, error);
}

/*
 * Where one entry arriving in @f goes, by @f's rules and those after.
 * Trust holds along the way: once rules that may not send have routed
 * the entry, no rules after them send it (b->untrusted).
 */
static Route
route(MdirClassifier *c, Batch *b, MdirFolder *f, const char *src, const MdirRecord *r,
    const char *name, GPtrArray *chain, GError **error)
{
	g_autoptr(GPtrArray) acts = NULL;
	Cached *state;
	MdirRules *rules;
	gboolean keep;
	gboolean doubtful;
	Route how = ROUTED;

	for (guint i = 0; i < chain->len; i++)
		if (strcmp(chain->pdata[i], mdir_folder_name(f)) == 0) {
			/* a loop: the entry stays here, once, and its rules stop */
			mdir_log(LOG_WARNING, "%s: rules loop back into this folder; the entry "
					      "stays here", mdir_folder_name(f));
			plan_filing(b, f, src, r, name);
			return ROUTED;
		}
	state = folder_state(c, f);
	if (state->held)
		return HELD;
	rules = chain->len < MAX_CASCADE ? state->rules : NULL;
	if (chain->len >= MAX_CASCADE)
		mdir_log(LOG_WARNING, "%s: rules cascade deeper than %d; not followed further",
		    mdir_folder_name(f), MAX_CASCADE);
	if (rules == NULL) {
		plan_filing(b, f, src, r, name);
		return ROUTED;
	}
	acts = mdir_rules_eval(rules, r, &keep);
	if (keep)
		plan_filing(b, f, src, r, name);
	g_ptr_array_add(chain, (gpointer)(guintptr)mdir_folder_name(f));
	doubtful = !mdir_rules_trusted(rules);
	b->untrusted += doubtful;
	for (guint i = 0; i < acts->len && how == ROUTED; i++) {
		const MdirAction *a = acts->pdata[i];

		switch (a->kind) {
		case MDIR_ACTION_COPY:
		case MDIR_ACTION_MOVE:
			how = route_to(c, b, f, a, src, r, name, chain, error);
			break;
		case MDIR_ACTION_NOTIFY:
			note_action(b, a, NULL);
			plan_later(b, MDIR_EFFECT_NOTIFY, f, src, r, NULL);
			break;
		case MDIR_ACTION_PIPE:
			note_action(b, a, a->argv[0]);
			plan_later(b, MDIR_EFFECT_PIPE, f, src, r, a->argv);
			break;
		case MDIR_ACTION_FORWARD:
			if (forward_refused(b, f, a))
				break;
			note_action(b, a, a->arg);
			plan_forward(c, b, r, a->arg);
			break;
		default:
			break;
		}
	}
	b->untrusted -= doubtful;
	g_ptr_array_set_size(chain, chain->len - 1);
	return how;
}

/* Moves a batch from where it is to .mdird/failed, saying why. */
static void
set_aside(MdirStore *store, const Batch *b, const char *why)
{
	g_autofree char *failed = classify_mdird_dir(store, "failed");
	g_autofree char *from = g_build_filename(b->dir, b->name, NULL);
	g_autofree char *to = g_build_filename(failed, b->name, NULL);

	mdir_mkdir_durable(failed, NULL);
	if (rename(from, to) < 0)
		mdir_log(LOG_CRIT, "batch %s: %s; and cannot set it aside: %s", b->name, why,
		    g_strerror(errno));
	else
		mdir_log(LOG_ERR, "batch %s: %s; set aside in .mdird/failed", b->name, why);
}

/*
 * Reads the batch and opens its account folder, or sets it aside; FALSE
 * and *@how when there is nothing more to plan.
 */
static gboolean
plan_start(MdirClassifier *c, Batch *b, Route *how, GError **error)
{
	g_autofree char *path = g_build_filename(b->dir, b->name, NULL);
	g_autoptr(GPtrArray) recs = NULL;
	const char *account;
	GError *e = NULL;

	*how = ROUTED;
	recs = mdir_queue_read(path, &e);
	if (recs == NULL && g_error_matches(e, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
		g_error_free(e); /* someone else took it */
		g_clear_pointer(&b->dir, g_free);
		return FALSE;
	}
	if (recs == NULL || recs->len < 2 ||
	    (account = mdir_record_get(recs->pdata[0], "account")) == NULL) {
		set_aside(c->store, b, e ? e->message : "not a header batch");
		g_clear_error(&e);
		g_clear_pointer(&b->dir, g_free);
		return FALSE;
	}
	b->account = g_strdup(account);
	b->message_id = g_strdup(mdir_record_get(recs->pdata[1], "message-id"));
	if (classify_batch_folder(c, b, account, FALSE, &e) == NULL) {
		if (!g_error_matches(e, MDIR_ERROR, MDIR_ERROR_NOT_FOUND) &&
		    !g_error_matches(e, MDIR_ERROR, MDIR_ERROR_OUTSIDE_ROOT)) {
			g_propagate_error(error, e);
			*how = FAILED;
			return FALSE;
		}
		set_aside(c->store, b, e->message);
		g_error_free(e);
		g_clear_pointer(&b->dir, g_free);
		return FALSE;
	}
	b->recs = g_steal_pointer(&recs);
	b->plan_next = 1;
	return TRUE;
}

Route
classify_plan(MdirClassifier *c, Batch *b, GError **error)
{
	g_autoptr(GPtrArray) chain = g_ptr_array_new();
	MdirFolder *f;
	Route how;
	guint end;

	if (b->recs == NULL && !plan_start(c, b, &how, error))
		return how;
	f = classify_batch_folder(c, b, b->account, FALSE, error);
	if (f == NULL)
		return FAILED;
	end = MIN(b->recs->len, b->plan_next + PLAN_SLICE);
	for (; b->plan_next < end; b->plan_next++) {
		MdirRecord *r = b->recs->pdata[b->plan_next];
		const char *url = mdir_record_get(r, "url");
		const char *want = mdir_record_get(r, "suggested-name");
		g_autofree char *src = url ? mdir_store_part_path(c->store, url, NULL) : NULL;
		g_autofree char *name = want ? mdir_sanitize_name(want, -1) : NULL;

		if (src == NULL) {
			mdir_log(LOG_WARNING, "batch %s: %s: not in the store; not filed", b->name,
			    url ? url : "a record without url");
			continue;
		}
		if (name == NULL)
			name = g_strdup_printf("part-%s", mdir_record_get(r, "part"));
		mdir_record_set(r, "batch", b->name);
		how = route(c, b, f, src, r, name, chain, error);
		if (how != ROUTED)
			return how;
	}
	if (b->plan_next < b->recs->len)
		return PLANNING;
	g_clear_pointer(&b->recs, g_ptr_array_unref);
	return ROUTED;
}
