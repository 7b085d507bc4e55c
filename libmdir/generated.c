/*
 * generated.c: the messages mdir writes itself (notices, reports,
 * answers).  Their programs build them with GMime, so that untrusted text
 * (a subject, a reason, an attached original) is encoded as GMime encodes
 * any header or body, under a boundary GMime picks; they are filed here,
 * one way for all: written straight into a store transaction, stored as
 * received mail is (mdir_receive()'s steps), then either filed at once or
 * queued for mdird and its rules.  Nothing is written outside the
 * transaction, so a failure leaves nothing in .mstore/tmp.
 */
#include <string.h>

#include <gmime/gmime.h>
#include <glib.h>

#include "mdir.h"
#include "private.h"
#include "txnstream.h"

gpointer
mdir_generated_new(const char *from_name, const char *to, const char *subject,
    const char *auto_submitted)
{
	GMimeMessage *m;
	g_autofree char *date = mdir_time_now(MDIR_TIME_RFC5322);
	g_autofree char *domain = g_strconcat(from_name, ".invalid", NULL);
	g_autofree char *id = NULL;
	/* an address needs a domain (RFC 5322 3.4.1): this host's, as Postfix's */
	g_autofree char *from = g_strconcat("MAILER-DAEMON@", g_get_host_name(), NULL);

	g_return_val_if_fail(from_name != NULL && subject != NULL, NULL);
	mdir_mime_init();
	m = g_mime_message_new(TRUE);
	g_mime_message_add_mailbox(m, GMIME_ADDRESS_TYPE_FROM, from_name, from);
	if (to && *to)
		g_mime_message_add_mailbox(m, GMIME_ADDRESS_TYPE_TO, NULL, to);
	g_mime_message_set_subject(m, subject, "utf-8");
	g_mime_object_set_header(GMIME_OBJECT(m), "Date", date, NULL);
	id = g_mime_utils_generate_message_id(domain);
	g_mime_message_set_message_id(m, id);
	if (auto_submitted)
		g_mime_object_set_header(GMIME_OBJECT(m), "Auto-Submitted", auto_submitted, NULL);
	return m;
}

/* @m as part 0 of @txn, byte for byte as GMime writes it. */
static gboolean
write_part0(MdirStoreTxn *txn, GMimeMessage *m, GError **error)
{
	g_autoptr(TxnStream) s = NULL;

	if (!mdir_store_txn_open_part(txn, 0, error))
		return FALSE;
	s = txn_stream_new(txn, NULL);
	if (g_mime_object_write_to_stream(GMIME_OBJECT(m), NULL, GMIME_STREAM(s)) < 0 ||
	    s->error) {
		if (s->error)
			g_propagate_error(error, g_steal_pointer(&s->error));
		else
			g_set_error(error, MDIR_ERROR, MDIR_ERROR_FAILED,
			    "a generated message cannot be written");
		return FALSE;
	}
	return mdir_store_txn_close_part(txn, error);
}

/* Who the envelope names: the message's first To address, else the folder. */
static char *
recipient(GMimeMessage *m, MdirFolder *folder)
{
	InternetAddressList *to = g_mime_message_get_to(m);
	InternetAddress *a = to && internet_address_list_length(to) > 0 ?
	    internet_address_list_get_address(to, 0) : NULL;

	if (a && INTERNET_ADDRESS_IS_MAILBOX(a))
		return g_strdup(internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a)));
	return g_strdup(mdir_folder_name(folder));
}

/* Part 0 of the stored message into @folder under its suggested name. */
static char *
file_part0(MdirStore *store, MdirFolder *folder, const MdirDelivery *d, GError **error)
{
	g_autofree char *url = mdir_url_build(mdir_delivery_stored_id(d), 0);
	g_autoptr(MdirRecord) r = mdir_store_load_record(store, url, error);
	g_autofree char *src = r ? mdir_store_part_path(store, url, error) : NULL;
	const char *want = r ? mdir_record_get(r, "suggested-name") : NULL;
	g_autofree char *name = want ? mdir_sanitize_name(want, -1) : NULL;

	if (src == NULL)
		return NULL;
	return mdir_folder_add(folder, src, r, name ? name : "message.eml", NULL, error);
}

gboolean
mdir_generated_file(MdirStore *store, const MdirConfig *config, gpointer message,
    MdirFolder *folder, const MdirRecord *fields, MdirGeneratedFlags flags, char **entry,
    GError **error)
{
	g_autoptr(MdirConfig) own = NULL;
	g_autoptr(MdirStoreTxn) txn = NULL;
	g_autoptr(MdirDelivery) d = NULL;
	g_autofree char *rcpt = NULL;
	const char *rcpts[] = { NULL, NULL };
	MdirEnvelope env = { .sender = "", .recipients = rcpts };
	char *used;

	g_return_val_if_fail(GMIME_IS_MESSAGE(message), FALSE);
	g_return_val_if_fail(folder != NULL, FALSE);
	if (entry)
		*entry = NULL;
	if (config == NULL)
		config = own = mdir_config_new_default(mdir_store_root(store));
	if (g_mime_message_get_message_id(message) == NULL) {
		g_autofree char *id = g_mime_utils_generate_message_id("mdir.invalid");

		g_mime_message_set_message_id(message, id);
	}
	rcpts[0] = rcpt = recipient(message, folder);
	env.folder = mdir_folder_name(folder);
	txn = mdir_store_txn_begin(store, error);
	if (txn == NULL || !write_part0(txn, message, error))
		return FALSE;
	d = mdir_receive_txn(store, config, txn, &env, fields, flags & MDIR_GENERATED_RULES,
	    error);
	if (d == NULL)
		return FALSE;
	if (flags & MDIR_GENERATED_RULES)
		return TRUE;
	if ((used = file_part0(store, folder, d, error)) == NULL)
		return FALSE;
	if (entry)
		*entry = used;
	else
		g_free(used);
	return TRUE;
}
