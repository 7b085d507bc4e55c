/*
 * notice.c: telling a sender that a message did not go out, by a small
 * message filed into a folder (their account's, else the admin's, else
 * SMTP/Failed) — never by mail, so a notice can never cause a notice.
 *
 * Built with GMime: the reason and the subject are the sender's own text
 * (or a remote one's), so they are encoded as GMime does any header or
 * body, and the original is attached as a message/rfc822 part under a
 * boundary GMime picks, never one the original could contain.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <gmime/gmime.h>

#include "outbox.h"

/* GMime 3 declares no cleanup functions of its own */
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GMimeStream, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GMimeParser, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GMimeMessage, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GMimeMultipart, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GMimeTextPart, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GMimeMessagePart, g_object_unref)

/* Where a notice for @sender goes: their account, the admin's, Failed. */
static MdirFolder *
notice_folder(MdirStore *store, const MdirConfig *config, const char *sender)
{
	const char *admin = mdir_config_get(config, "outbox", "admin");
	const char *who[] = { sender, admin };

	for (gsize i = 0; i < G_N_ELEMENTS(who); i++) {
		MdirFolder *f = who[i] && *who[i] ?
		    mdir_account_open(store, config, who[i], NULL, NULL) : NULL;

		if (f)
			return f;
	}
	return mdir_folder_open(store, "SMTP/Failed", MDIR_FOLDER_CREATE, NULL);
}

/* The original, parsed, or NULL if it cannot be read as a message. */
static GMimeMessage *
parse_original(const char *path)
{
	g_autoptr(GMimeStream) in = g_mime_stream_fs_open(path, O_RDONLY | O_NOFOLLOW, 0, NULL);
	g_autoptr(GMimeParser) parser = NULL;

	if (in == NULL)
		return NULL;
	parser = g_mime_parser_new_with_stream(in);
	return g_mime_parser_construct_message(parser, NULL);
}

GMimeMessage *
notice_build(const char *original, const char *sender, const char *subject, const char *why,
    char **subject_used)
{
	g_autoptr(GMimeMessage) orig = parse_original(original);
	g_autoptr(GMimeMultipart) mixed = g_mime_multipart_new_with_subtype("mixed");
	g_autoptr(GMimeTextPart) text = g_mime_text_part_new_with_subtype("plain");
	g_autoptr(GDateTime) now = g_date_time_new_now_utc();
	GMimeMessage *m = g_mime_message_new(TRUE);
	g_autofree char *body = NULL;
	g_autofree char *id = NULL;

	if ((subject == NULL || *subject == '\0') && orig)
		subject = g_mime_message_get_subject(orig);
	if (subject == NULL || *subject == '\0')
		subject = "(no subject)";
	*subject_used = g_strdup_printf("Not sent: %s", subject);
	g_mime_message_add_mailbox(m, GMIME_ADDRESS_TYPE_FROM, "mdir-outbox", "MAILER-DAEMON");
	if (sender && *sender)
		g_mime_message_add_mailbox(m, GMIME_ADDRESS_TYPE_TO, NULL, sender);
	g_mime_message_set_subject(m, *subject_used, "utf-8");
	g_mime_message_set_date(m, now);
	id = g_mime_utils_generate_message_id("mdir-outbox.invalid");
	g_mime_message_set_message_id(m, id);
	g_mime_object_set_header(GMIME_OBJECT(m), "Auto-Submitted", "auto-replied", NULL);
	body = g_strdup_printf("Your message \"%s\" was not sent:\n\n    %s\n\n"
			       "It is attached as it was; it is kept in SMTP/Failed.\n",
	    subject, why);
	g_mime_text_part_set_text(text, body);
	g_mime_multipart_add(mixed, GMIME_OBJECT(text));
	if (orig) {
		g_autoptr(GMimeMessagePart) att = g_mime_message_part_new_with_message("rfc822",
		    orig);

		g_mime_object_set_disposition(GMIME_OBJECT(att), "attachment");
		g_mime_multipart_add(mixed, GMIME_OBJECT(att));
	}
	g_mime_message_set_mime_part(m, GMIME_OBJECT(mixed));
	/* the parts as GMime wants them: 8-bit text becomes quoted-printable */
	g_mime_object_encode(GMIME_OBJECT(text), GMIME_ENCODING_CONSTRAINT_7BIT);
	return m;
}

/* Writes @m to a new file @path. */
static gboolean
write_message(GMimeMessage *m, const char *path)
{
	/* filed into the account's folder: as readable as [mdir] umask says,
	 * for the group's sync client */
	g_autoptr(GMimeStream) out = g_mime_stream_fs_open(path,
	    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0666, NULL);
	GMimeFormatOptions *fmt;
	gboolean ok;

	if (out == NULL)
		return FALSE;
	fmt = g_mime_format_options_new();
	ok = g_mime_object_write_to_stream(GMIME_OBJECT(m), fmt, out) >= 0 &&
	    g_mime_stream_flush(out) == 0;
	g_mime_format_options_free(fmt);
	return ok;
}

void
notice_file(MdirStore *store, const MdirConfig *config, const char *tmpdir,
    const char *original, const char *sender, const char *subject, const char *why)
{
	g_autoptr(MdirFolder) f = notice_folder(store, config, sender);
	g_autofree char *path = g_strdup_printf("%s/notice.%08x", tmpdir, g_random_int());
	g_autofree char *stamp = send_stamp();
	g_autofree char *subj = NULL;
	g_autofree char *name = NULL;
	g_autofree char *eml = NULL;
	g_autofree char *used = NULL;
	g_autoptr(GMimeMessage) m = NULL;
	g_autoptr(MdirRecord) r = mdir_record_new();
	g_autoptr(GError) e = NULL;

	if (f == NULL) {
		mdir_log(LOG_ERR, "notice for <%s>: no folder to put it in", sender ? sender : "");
		return;
	}
	m = notice_build(original, sender, subject, why, &subj);
	if (!write_message(m, path)) {
		mdir_log(LOG_ERR, "%s: %s", path, g_strerror(errno ? errno : EIO));
		unlink(path);
		return;
	}
	mdir_record_add(r, "content-type", "message/rfc822");
	mdir_record_add(r, "from", "mdir-outbox");
	mdir_record_add(r, "to", sender ? sender : "");
	mdir_record_add(r, "subject", subj);
	mdir_record_add(r, "received-at", stamp);
	mdir_record_add(r, "notice", "outbox");
	mdir_record_add(r, "reason", why);
	name = mdir_sanitize_name(subj, -1);
	eml = g_strconcat(name ? name : "notice", ".eml", NULL);
	used = mdir_folder_add(f, path, r, eml, NULL, &e);
	if (used)
		mdir_log(LOG_INFO, "notice %s/%s", mdir_folder_name(f), used);
	else
		mdir_log(LOG_ERR, "notice for <%s>: %s", sender ? sender : "", e->message);
	unlink(path);
}
