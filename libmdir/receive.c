/*
 * receive.c: one delivery from the MTA into the store and the queue
 * (DESIGN §4 mdir-receive, mdir(5) STATES AND INVARIANTS).
 *
 * The order is what makes a crash or a time-out harmless:
 *   1. recipients to accounts: with none, read the input and say so;
 *   2. the input spooled to .mstore/tmp, read to its very end, and the
 *      accounts looked up again (one disabled or removed meanwhile gets
 *      none of it: an LMTP client's DATA may take minutes);
 *   3. split, from that file, into parts and records;
 *   4. the whole message published with one rename (or found there);
 *   5. a header batch per account written durably to .mdird/queue;
 *   6. mdird poked; if it does not listen, the batch waits.
 * The MTA hears "delivered" only after 5.  A failure before that leaves
 * nothing visible but a tmp directory; the MTA retries; the retry finds the
 * message already stored (4) and writes the batch it lacked.  mdir's own
 * messages (generated.c) come in at 3, written into the transaction.
 */
#include <errno.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <glib.h>

#include "mdir.h"
#include "private.h"

struct MdirDelivery {
	char *stored_id;
	char *message_id;
	GPtrArray *accounts; /* NULL-terminated */
	GPtrArray *unknown;  /* NULL-terminated */
	guint64 size;
	guint parts;
	guint defects;
	gboolean duplicate;
};

typedef struct {
	MdirFolder *folder;
	char *extension;
	const char *recipient;
} Target;

static void
target_clear(gpointer p)
{
	Target *t = p;

	mdir_folder_free(t->folder);
	g_free(t->extension);
}

void
mdir_delivery_free(MdirDelivery *d)
{
	if (d == NULL)
		return;
	g_free(d->stored_id);
	g_free(d->message_id);
	g_ptr_array_unref(d->accounts);
	g_ptr_array_unref(d->unknown);
	g_free(d);
}

/* The pipe mode's reader: the fd, read to its end. */
static gssize
read_fd(gpointer data, char *buf, gsize size, GError **error)
{
	int fd = GPOINTER_TO_INT(data);
	ssize_t n;

	while ((n = read(fd, buf, size)) < 0 && errno == EINTR)
		;
	if (n < 0)
		mdir_set_errno(error, errno, "standard input");
	return n;
}

/* Reads the input to its end, keeping nothing: Postfix wants its input read. */
static void
drain(MdirReadFunc reader, gpointer data)
{
	char buf[65536];
	gssize n;

	while ((n = reader(data, buf, sizeof(buf), NULL)) > 0)
		;
}

static gboolean
spool(MdirStoreTxn *txn, MdirReadFunc reader, gpointer data, GError **error)
{
	char buf[65536];
	gssize n;

	if (!mdir_store_txn_open_part(txn, 0, error))
		return FALSE;
	while ((n = reader(data, buf, sizeof(buf), error)) != 0) {
		if (n < 0)
			return FALSE;
		if (!mdir_store_txn_write(txn, buf, n, error))
			return FALSE;
	}
	return mdir_store_txn_close_part(txn, error);
}

/* Every recipient with an account becomes a target; the others are listed. */
static GArray *
resolve_targets(MdirStore *store, const MdirConfig *config, const MdirEnvelope *env,
    MdirDelivery *d, GError **no_account, GError **error)
{
	g_autoptr(GArray) targets = g_array_new(FALSE, TRUE, sizeof(Target));

	g_array_set_clear_func(targets, target_clear);
	if (env->folder) {
		Target t = { .recipient = env->recipients && env->recipients[0] ?
			env->recipients[0] : env->folder };

		t.folder = mdir_folder_open(store, env->folder, MDIR_FOLDER_CREATE, error);
		if (t.folder == NULL)
			return NULL;
		g_array_append_val(targets, t);
		return g_steal_pointer(&targets);
	}
	for (const char *const *r = env->recipients; r && *r; r++) {
		Target t = { .recipient = *r };
		GError *e = NULL;

		t.folder = mdir_account_open(store, config, *r, &t.extension, &e);
		if (t.folder) {
			g_array_append_val(targets, t);
			continue;
		}
		if (!mdir_error_is_refusal(e)) {
			g_propagate_error(error, e);
			return NULL;
		}
		g_ptr_array_add(d->unknown, g_strdup(*r));
		if (*no_account == NULL)
			*no_account = e;
		else
			g_error_free(e);
	}
	return g_steal_pointer(&targets);
}

/* What the MTA said, into a record (the store's or a batch's). */
static void
set_envelope(MdirRecord *r, const MdirEnvelope *env, const char *received_at)
{
	mdir_record_set(r, "envelope-from", env->sender ? env->sender : "");
	mdir_record_set(r, "client-address", env->client_address && *env->client_address ?
	    env->client_address : NULL);
	mdir_record_set(r, "client-helo", env->client_helo && *env->client_helo ?
	    env->client_helo : NULL);
	mdir_record_set(r, "received-at", received_at);
}

/* @fields over the fields of the same names in @r. */
static void
set_fields(MdirRecord *r, const MdirRecord *fields)
{
	for (guint i = 0; fields && i < mdir_record_length(fields); i++) {
		const char *name, *value;

		mdir_record_nth(fields, i, &name, &value);
		mdir_record_remove(r, name);
	}
	for (guint i = 0; fields && i < mdir_record_length(fields); i++) {
		const char *name, *value;

		mdir_record_nth(fields, i, &name, &value);
		mdir_record_add(r, name, value);
	}
}

/*
 * Steps 3 and 4: the message spooled as part 0 of @txn split and
 * published; with @final_sync, the publishing rename made durable too
 * (else the batch's sync does it).
 */
static gboolean
store_message(MdirStoreTxn *txn, const MdirConfig *config, const MdirEnvelope *env,
    const char *received_at, const MdirRecord *fields, gboolean final_sync, MdirDelivery *d,
    GError **error)
{
	MdirSplitOptions opts = {
		.max_depth = (guint)mdir_config_get_int(config, "receive", "max_depth"),
		.max_size = mdir_config_get_int(config, "receive", "max_size"),
		.max_parts = (guint)MAX(mdir_config_get_int(config, "receive", "max_parts"), 0),
	};
	MdirSplitResult res = { 0 };
	MdirStoreOutcome outcome;
	gboolean ok;

	ok = mdir_mime_split(txn, &opts, &res, error);
	if (ok) {
		for (guint i = 0; i < mdir_store_txn_n_parts(txn); i++)
			set_envelope(mdir_store_txn_record(txn, i), env, received_at);
		set_fields(mdir_store_txn_record(txn, 0), fields);
		/* the batch's sync, next, makes the publishing rename durable
		 * too; the batch is written after it, so it never names a
		 * message that a crash could leave unpublished.  With no
		 * batch to follow (a generated message filed at once), the
		 * publishing syncs itself */
		ok = mdir_store_txn_publish(txn, res.message_id, &d->stored_id, &outcome,
		    final_sync, error);
	}
	d->message_id = g_steal_pointer(&res.message_id);
	d->defects = res.defects;
	d->duplicate = ok && outcome == MDIR_STORE_DUPLICATE;
	mdir_split_result_clear(&res);
	return ok;
}

/*
 * A delivery is its bytes and its recipient (DESIGN §5): the key of both
 * lets Postfix's retry after a kill queue nothing twice (mdir(5) DELIVERY
 * KEYS).  @records: the batch, whose second record is part 0's.
 */
static gboolean
queue_once(MdirStore *store, GPtrArray *records, const char *recipient, GError **error)
{
	const char *sha = mdir_record_get(records->pdata[1], "sha256");
	g_autofree char *both = g_strconcat(sha ? sha : "", "\n", recipient, NULL);
	g_autofree char *key = mdir_sha256_hex(both, strlen(both));
	g_autofree char *name = NULL;

	if (sha == NULL) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_CORRUPT, "%s: no sha256",
		    mdir_record_get(records->pdata[1], "url"));
		return FALSE;
	}
	if (!mdir_queue_write_once(store, records, key, &name, error))
		return FALSE;
	if (name == NULL)
		mdir_log(LOG_INFO, "%s: delivered before (key %.16s): nothing queued again",
		    recipient, key);
	return TRUE;
}

/*
 * Part @part's record as stored: the one @txn published, or for a message
 * that was there before, the store's.  Transfer full.
 */
static MdirRecord *
stored_record(MdirStore *store, MdirStoreTxn *txn, const MdirDelivery *d, guint part,
    GError **error)
{
	g_autofree char *url = NULL;

	if (!d->duplicate)
		return mdir_record_copy(mdir_store_txn_record(txn, part));
	url = mdir_url_build(d->stored_id, part);
	return mdir_store_load_record(store, url, error);
}

/* The batch for one account: a header, then every part's record. */
static gboolean
queue_batch(MdirStore *store, MdirStoreTxn *txn, const MdirEnvelope *env, const Target *t,
    const char *received_at, MdirDelivery *d, GError **error)
{
	g_autoptr(GPtrArray) records = g_ptr_array_new_with_free_func(
	    (GDestroyNotify)mdir_record_free);
	g_autofree char *anchor = mdir_url_build(d->stored_id, 0);
	MdirRecord *head = mdir_record_new();

	g_ptr_array_add(records, head);
	mdir_record_add(head, "batch", "1");
	mdir_record_add(head, "anchor", anchor);
	mdir_record_add(head, "account", mdir_folder_name(t->folder));
	mdir_record_add(head, "envelope-to", t->recipient);
	mdir_record_add(head, "queue-id", env->queue_id);
	mdir_record_set_int(head, "parts", d->parts);
	for (guint i = 0; i <= d->parts; i++) {
		MdirRecord *r = stored_record(store, txn, d, i, error);

		if (r == NULL)
			return FALSE;
		/* this delivery's own envelope: a duplicate's store record has
		 * the first delivery's */
		set_envelope(r, env, received_at);
		mdir_record_set(r, "envelope-to", t->recipient);
		mdir_record_set(r, "account", mdir_folder_name(t->folder));
		mdir_record_set(r, "extension", t->extension);
		mdir_record_set(r, "queue-id", env->queue_id);
		g_ptr_array_add(records, r);
	}
	return queue_once(store, records, t->recipient, error);
}

static MdirDelivery *
delivery_new(void)
{
	MdirDelivery *d = g_new0(MdirDelivery, 1);

	d->accounts = g_ptr_array_new_with_free_func(g_free);
	d->unknown = g_ptr_array_new_with_free_func(g_free);
	return d;
}

/*
 * Steps 3 to 6 for the message spooled as part 0 of @txn: stored, then,
 * with @targets, a batch queued for each and mdird poked.  Transfer full.
 */
static MdirDelivery *
deliver(MdirStore *store, const MdirConfig *config, MdirStoreTxn *txn, GArray *targets,
    const MdirEnvelope *env, const char *received_at, const MdirRecord *fields,
    MdirDelivery *delivery, GError **error)
{
	g_autoptr(MdirDelivery) d = delivery;
	g_autoptr(MdirRecord) r0 = NULL;
	GError *e = NULL;

	if (!store_message(txn, config, env, received_at, fields, targets == NULL, d, error))
		return NULL;
	r0 = stored_record(store, txn, d, 0, error);
	if (r0 == NULL)
		return NULL;
	d->parts = (guint)mdir_record_get_int(r0, "parts", 0);
	d->size = (guint64)mdir_record_get_int(r0, "size", 0);
	for (guint i = 0; targets && i < targets->len; i++) {
		Target *t = &g_array_index(targets, Target, i);

		if (!queue_batch(store, txn, env, t, received_at, d, error))
			return NULL;
		g_ptr_array_add(d->accounts, g_strdup(mdir_folder_name(t->folder)));
	}
	if (targets) {
		mdir_test_fault("receive-before-poke");
		if (!mdir_daemon_poke(mdir_config_get(config, "mdir", "socket"), &e)) {
			mdir_log(LOG_DEBUG, "mdird not poked (the batch waits): %s", e->message);
			g_error_free(e);
		}
	}
	g_ptr_array_add(d->accounts, NULL);
	g_ptr_array_add(d->unknown, NULL);
	return g_steal_pointer(&d);
}

MdirDelivery *
mdir_receive(MdirStore *store, const MdirConfig *config, int fd, const MdirEnvelope *env,
    GError **error)
{
	return mdir_receive_read(store, config, read_fd, GINT_TO_POINTER(fd), env, error);
}

MdirDelivery *
mdir_receive_read(MdirStore *store, const MdirConfig *config, MdirReadFunc reader,
    gpointer data, const MdirEnvelope *env, GError **error)
{
	g_autoptr(MdirDelivery) d = delivery_new();
	g_autoptr(GArray) targets = NULL;
	g_autoptr(MdirStoreTxn) txn = NULL;
	g_autofree char *received_at = mdir_time_now(MDIR_TIME_ISO8601);
	GError *no_account = NULL;

	targets = resolve_targets(store, config, env, d, &no_account, error);
	if (targets == NULL || targets->len == 0) {
		drain(reader, data);
		if (targets)
			g_propagate_error(error, g_steal_pointer(&no_account));
		g_clear_error(&no_account);
		return NULL;
	}
	g_clear_error(&no_account);
	txn = mdir_store_txn_begin(store, error);
	if (txn == NULL || !spool(txn, reader, data, error))
		return NULL;
	g_clear_pointer(&targets, g_array_unref);
	g_ptr_array_set_size(d->unknown, 0);
	targets = resolve_targets(store, config, env, d, &no_account, error);
	if (targets == NULL || targets->len == 0) {
		if (targets)
			g_propagate_error(error, g_steal_pointer(&no_account));
		g_clear_error(&no_account);
		return NULL;
	}
	g_clear_error(&no_account);
	return deliver(store, config, txn, targets, env, received_at, NULL,
	    g_steal_pointer(&d), error);
}

MdirDelivery *
mdir_receive_txn(MdirStore *store, const MdirConfig *config, MdirStoreTxn *txn,
    const MdirEnvelope *env, const MdirRecord *fields, gboolean queue, GError **error)
{
	g_autoptr(MdirDelivery) d = delivery_new();
	g_autoptr(GArray) targets = NULL;
	g_autofree char *received_at = mdir_time_now(MDIR_TIME_ISO8601);

	g_return_val_if_fail(env->folder != NULL, NULL);
	if (queue && (targets = resolve_targets(store, config, env, d, NULL, error)) == NULL)
		return NULL;
	return deliver(store, config, txn, targets, env, received_at, fields,
	    g_steal_pointer(&d), error);
}

const char *
mdir_delivery_stored_id(const MdirDelivery *d)
{
	return d->stored_id;
}

const char *
mdir_delivery_message_id(const MdirDelivery *d)
{
	return d->message_id;
}

const char *const *
mdir_delivery_accounts(const MdirDelivery *d)
{
	return (const char *const *)d->accounts->pdata;
}

const char *const *
mdir_delivery_unknown(const MdirDelivery *d)
{
	return (const char *const *)d->unknown->pdata;
}

guint64
mdir_delivery_size(const MdirDelivery *d)
{
	return d->size;
}

guint
mdir_delivery_parts(const MdirDelivery *d)
{
	return d->parts;
}

guint
mdir_delivery_defects(const MdirDelivery *d)
{
	return d->defects;
}

gboolean
mdir_delivery_duplicate(const MdirDelivery *d)
{
	return d->duplicate;
}
