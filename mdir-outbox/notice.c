/*
 * notice.c: telling a sender that a message did not go out, by a small
 * message filed into a folder (their account's, else the admin's, else
 * SMTP/Failed) — never by mail, so a notice can never cause a notice.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "outbox.h"

/* Where a notice for @sender goes: their account, the admin's, Failed. */
static MdirFolder *
notice_folder(MdirStore *store, const MdirConfig *config, const char *sender)
{
	const char *admin = mdir_config_get(config, "outbox", "admin");
	const char *who[] = { sender, admin };

	for (gsize i = 0; i < G_N_ELEMENTS(who); i++) {
		MdirFolder *f = who[i] ? mdir_account_open(store, config, who[i], NULL, NULL) :
		    NULL;

		if (f)
			return f;
	}
	return mdir_folder_open(store, "SMTP/Failed", MDIR_FOLDER_CREATE, NULL);
}

static gboolean
copy_into(FILE *dst, const char *path)
{
	FILE *src = fopen(path, "re");
	char buf[65536];
	size_t n;
	gboolean ok = src != NULL;

	while (ok && (n = fread(buf, 1, sizeof(buf), src)) > 0)
		ok = fwrite(buf, 1, n, dst) == n;
	if (src)
		fclose(src);
	return ok;
}

void
notice_file(MdirStore *store, const MdirConfig *config, const char *tmpdir,
    const char *original, const char *sender, const char *subject, const char *why)
{
	g_autoptr(MdirFolder) f = notice_folder(store, config, sender);
	g_autofree char *path = g_strdup_printf("%s/notice.%08x", tmpdir, g_random_int());
	g_autoptr(GDateTime) now = g_date_time_new_now_utc();
	g_autofree char *stamp = g_date_time_format(now, "%Y-%m-%dT%H:%M:%SZ");
	g_autofree char *date = g_date_time_format(now, "%d %b %Y %H:%M:%S +0000");
	g_autofree char *subj = g_strdup_printf("Not sent: %s", subject && *subject ? subject :
	    "(no subject)");
	g_autofree char *name = NULL;
	g_autofree char *used = NULL;
	g_autoptr(MdirRecord) r = mdir_record_new();
	g_autoptr(GError) e = NULL;
	FILE *out;
	gboolean ok;

	if (f == NULL) {
		mdir_log(LOG_ERR, "notice for <%s>: no folder to put it in", sender ? sender : "");
		return;
	}
	out = fopen(path, "wxe");
	if (out == NULL) {
		mdir_log(LOG_ERR, "%s: %s", path, g_strerror(errno));
		return;
	}
	/* a plain message, the original attached as it was */
	fprintf(out, "From: mdir-outbox <MAILER-DAEMON>\nTo: <%s>\nSubject: %s\nDate: %s\n"
		     "Auto-Submitted: auto-replied\nMIME-Version: 1.0\n"
		     "Content-Type: multipart/mixed; boundary=\"=mdir-notice=\"\n\n"
		     "--=mdir-notice=\nContent-Type: text/plain; charset=utf-8\n\n"
		     "Your message \"%s\" was not sent:\n\n    %s\n\n"
		     "It is attached as it was; it is kept in SMTP/Failed.\n\n"
		     "--=mdir-notice=\nContent-Type: message/rfc822\n"
		     "Content-Disposition: attachment\n\n",
	    sender ? sender : "", subj, date, subject ? subject : "", why);
	ok = copy_into(out, original);
	fprintf(out, "\n--=mdir-notice=--\n");
	ok = fclose(out) == 0 && ok;
	mdir_record_add(r, "content-type", "message/rfc822");
	mdir_record_add(r, "from", "mdir-outbox");
	mdir_record_add(r, "to", sender ? sender : "");
	mdir_record_add(r, "subject", subj);
	mdir_record_add(r, "received-at", stamp);
	mdir_record_add(r, "notice", "outbox");
	mdir_record_add(r, "reason", why);
	name = mdir_sanitize_name(subj, -1);
	{
		g_autofree char *eml = g_strconcat(name ? name : "notice", ".eml", NULL);

		used = ok ? mdir_folder_add(f, path, r, eml, NULL, &e) : NULL;
	}
	if (used)
		mdir_log(LOG_INFO, "notice %s/%s", mdir_folder_name(f), used);
	else
		mdir_log(LOG_ERR, "notice for <%s>: %s", sender ? sender : "",
		    e ? e->message : "cannot write it");
	unlink(path);
}
