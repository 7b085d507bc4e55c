/*
 * answer.c: what mdir-command writes.  The answer is a generated message
 * (GMime, mdir_generated_new()) filed into SMTP/Outbox with its envelope
 * in the entry's record, as mdird's forward does (DESIGN §6b: mdir's own
 * outbox sends to whom mdir's records say, never to whom headers say), so
 * mdir-outbox signs it (DKIM) and sends it at most once.  A refused
 * request gets no answer at all: a notice is filed into the admin's
 * account, else SMTP/Command, and nothing is ever mailed to a sender who
 * may be forged.
 */
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <gmime/gmime.h>

#include "command.h"
#include "smime.h"

#define NOTICE_FOLDER "SMTP/Command"
#define OUTBOX "SMTP/Outbox"

G_DEFINE_AUTOPTR_CLEANUP_FUNC(GMimeMessage, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GMimeTextPart, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GMimeObject, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(InternetAddress, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GMimeStream, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GMimeParser, g_object_unref)

/*
 * The answer's entity sealed (smime_seal()): signed with the server's
 * certificate when [command] has one, and, when the request was
 * encrypted, encrypted to the sender's certificate and to that of @copy,
 * the admin who gets a copy (NULL: none).  Without server_cert, as it is.
 * Transfer full.
 */
static GMimeObject *
answer_seal(const CommandConf *cc, GMimeObject *entity, const Request *req, const char *copy,
    GError **error)
{
	const char *const to[] = { req->from, copy, NULL };
	g_autofree char *text = NULL;
	g_autoptr(GBytes) in = NULL;
	g_autoptr(GBytes) sealed = NULL;
	g_autoptr(GMimeStream) s = NULL;
	g_autoptr(GMimeParser) p = NULL;
	SmimeConfig config;
	GMimeObject *o;
	gsize len;
	const char *data;

	if (!conf_seals(cc))
		return g_object_ref(entity);
	conf_smime(cc, &config);
	text = g_mime_object_to_string(entity, NULL);
	len = strlen(text);
	in = g_bytes_new_take(g_steal_pointer(&text), len);
	sealed = smime_seal(&config, in, req->encrypted ? to : NULL, error);
	if (sealed == NULL) {
		g_prefix_error(error, "S/MIME: cannot seal the answer: ");
		return NULL;
	}
	data = g_bytes_get_data(sealed, &len);
	s = g_mime_stream_mem_new_with_buffer(data, len);
	p = g_mime_parser_new_with_stream(s);
	if ((o = g_mime_parser_construct_part(p, NULL)) == NULL)
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_FAILED,
		    "S/MIME: the sealed answer is not MIME");
	return o;
}

/* A text/plain UTF-8 part, quoted-printable where 8-bit. */
static GMimeTextPart *
text_part(const char *body)
{
	GMimeTextPart *t = g_mime_text_part_new_with_subtype("plain");

	g_mime_text_part_set_text(t, body);
	g_mime_object_encode(GMIME_OBJECT(t), GMIME_ENCODING_CONSTRAINT_7BIT);
	return t;
}

/*
 * Whom a copy of the answer to a failure goes to: the admin, unless the
 * admin sent the request; NULL if nobody.  An answer encrypted to the
 * sender is encrypted to the admin as well, so with no certificate for the
 * admin in certs_dir the admin gets no copy, which could not be read: the
 * log says so.
 */
static const char *
admin_copy(const CommandConf *cc, const Request *req, gboolean failed)
{
	g_autoptr(X509) cert = NULL;
	g_autoptr(GError) e = NULL;
	SmimeConfig config;

	if (!failed || cc->admin == NULL || *cc->admin == '\0' ||
	    g_ascii_strcasecmp(cc->admin, req->from) == 0)
		return NULL;
	if (!req->encrypted)
		return cc->admin;
	conf_smime(cc, &config);
	cert = smime_load_address_cert(&config, cc->admin, &e);
	if (cert == NULL) {
		mdir_log(LOG_WARNING, "answer: no copy to the admin <%s>: the answer is "
				      "encrypted, and %s",
		    cc->admin, e->message);
		return NULL;
	}
	return cc->admin;
}

static GMimeMessage *
answer_build(const CommandConf *cc, const Request *req, const char *body, const char *copy,
    GError **error)
{
	g_autofree char *subject = g_strconcat("Re: ", req->subject, NULL);
	g_autoptr(GMimeMessage) m = mdir_generated_new("mdir-command", req->from, subject,
	    "auto-replied");
	g_autoptr(GMimeTextPart) text = text_part(body);
	const char *at = strrchr(cc->address, '@');
	g_autofree char *id = g_mime_utils_generate_message_id(at ? at + 1 : "mdir.invalid");
	InternetAddressList *from = g_mime_message_get_from(m);
	g_autoptr(InternetAddress) us = internet_address_mailbox_new("mdir-command",
	    cc->address);
	g_autoptr(GMimeObject) sealed = NULL;

	internet_address_list_clear(from);
	internet_address_list_add(from, us);
	g_mime_message_set_message_id(m, id);
	if (copy)
		g_mime_message_add_mailbox(m, GMIME_ADDRESS_TYPE_CC, NULL, copy);
	if (req->message_id) {
		g_autofree char *ref = g_strdup_printf("<%s>", req->message_id);

		g_mime_object_set_header(GMIME_OBJECT(m), "In-Reply-To", ref, NULL);
		g_mime_object_set_header(GMIME_OBJECT(m), "References", ref, NULL);
	}
	sealed = answer_seal(cc, GMIME_OBJECT(text), req, copy, error);
	if (sealed == NULL)
		return NULL;
	g_mime_message_set_mime_part(m, sealed);
	return g_steal_pointer(&m);
}

/*
 * SMTP/Outbox sends to whom its records say: only mdir may write there.
 * Made 0700 when we make it (mdir-outbox refuses to send from it open to
 * others and not its own).
 */
static void
outbox_private(MdirFolder *outbox)
{
	struct stat st;

	if (stat(mdir_folder_path(outbox), &st) == 0 && st.st_uid == geteuid() &&
	    (st.st_mode & 077) != 0)
		chmod(mdir_folder_path(outbox), 0700);
}

gboolean
answer_file(MdirStore *store, const CommandConf *cc, const Request *req, const char *body,
    gboolean failed, GError **error)
{
	const char *copy = admin_copy(cc, req, failed);
	g_autoptr(GMimeMessage) m = answer_build(cc, req, body, copy, error);
	g_autoptr(MdirFolder) outbox = NULL;
	g_autoptr(MdirRecord) fields = mdir_record_new();
	g_autofree char *used = NULL;

	if (m == NULL)
		return FALSE;
	outbox = mdir_folder_open(store, OUTBOX, MDIR_FOLDER_CREATE, error);
	if (outbox == NULL)
		return FALSE;
	outbox_private(outbox);
	/* the envelope: ours, from mdir's own record (mdir-outbox(1)) */
	mdir_record_add(fields, "outbox-sender", cc->address);
	mdir_record_add(fields, "outbox-recipient", req->from);
	if (copy)
		mdir_record_add(fields, "outbox-recipient", copy);
	mdir_record_add(fields, "command-request", req->message_id);
	if (!mdir_generated_file(store, cc->config, m, outbox, fields, MDIR_GENERATED_DIRECT,
	    &used, error))
		return FALSE;
	mdir_log(LOG_INFO, "answer %s/%s to=<%s>%s", OUTBOX, used, req->from,
	    copy ? " admin-copy=yes" : "");
	return TRUE;
}

/* The admin's account, else SMTP/Command (made if missing). */
static MdirFolder *
notice_folder(MdirStore *store, const CommandConf *cc)
{
	MdirFolder *f = cc->admin && *cc->admin ?
	    mdir_account_open(store, cc->config, cc->admin, NULL, NULL) : NULL;

	return f ? f : mdir_folder_open(store, NOTICE_FOLDER, MDIR_FOLDER_CREATE, NULL);
}

void
answer_notice(MdirStore *store, const CommandConf *cc, const Request *req, const char *why)
{
	g_autoptr(MdirFolder) f = notice_folder(store, cc);
	g_autofree char *subject = g_strdup_printf("Command refused: %s", req->subject);
	g_autofree char *body = g_strdup_printf("A request to %s was refused and not "
						"answered:\n\n    %s\n\nFrom: %s\nSubject: %s\n"
						"Message-ID: <%s>\n",
	    cc->address, why, req->from ? req->from : "(none)", req->subject,
	    req->message_id ? req->message_id : "");
	g_autoptr(GMimeMessage) m = NULL;
	g_autoptr(GMimeTextPart) text = text_part(body);
	g_autoptr(MdirRecord) fields = mdir_record_new();
	g_autoptr(GError) e = NULL;
	g_autofree char *used = NULL;

	if (f == NULL) {
		mdir_log(LOG_ERR, "notice: no folder to put it in");
		return;
	}
	m = mdir_generated_new("mdir-command", cc->admin, subject, "auto-generated");
	g_mime_message_set_mime_part(m, GMIME_OBJECT(text));
	mdir_record_add(fields, "notice", "command");
	mdir_record_add(fields, "reason", why);
	/* filed at once, no rules run: a notice is never forwarded */
	if (mdir_generated_file(store, cc->config, m, f, fields, MDIR_GENERATED_DIRECT, &used, &e))
		mdir_log(LOG_INFO, "notice %s/%s", mdir_folder_name(f), used);
	else
		mdir_log(LOG_ERR, "notice: %s", e->message);
}
