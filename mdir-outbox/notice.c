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
#include <fcntl.h>
#include <syslog.h>

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
	GMimeMessage *m;
	g_autofree char *body = NULL;

	if ((subject == NULL || *subject == '\0') && orig)
		subject = g_mime_message_get_subject(orig);
	if (subject == NULL || *subject == '\0')
		subject = "(no subject)";
	*subject_used = g_strdup_printf("Not sent: %s", subject);
	m = mdir_generated_new("mdir-outbox", sender, *subject_used, "auto-replied");
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

void
notice_file(MdirStore *store, const MdirConfig *config, const char *original,
    const char *sender, const char *subject, const char *why)
{
	g_autoptr(MdirFolder) f = notice_folder(store, config, sender);
	g_autoptr(GMimeMessage) m = NULL;
	g_autoptr(MdirRecord) fields = mdir_record_new();
	g_autofree char *subj = NULL;
	g_autofree char *used = NULL;
	g_autoptr(GError) e = NULL;

	if (f == NULL) {
		mdir_log(LOG_ERR, "notice for <%s>: no folder to put it in", sender ? sender : "");
		return;
	}
	m = notice_build(original, sender, subject, why, &subj);
	mdir_record_add(fields, "notice", "outbox");
	mdir_record_add(fields, "reason", why);
	/* filed at once: the folder's rules never see it, so a notice can
	 * never be forwarded into a notice */
	if (mdir_generated_file(store, config, m, f, fields, MDIR_GENERATED_DIRECT, &used, &e))
		mdir_log(LOG_INFO, "notice %s/%s", mdir_folder_name(f), used);
	else
		mdir_log(LOG_ERR, "notice for <%s>: %s", sender ? sender : "", e->message);
}
