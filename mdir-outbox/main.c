/*
 * mdir-outbox: sends what is in the outboxes through sendmail, from cron,
 * every minute (DESIGN §4, §6b, mdir-outbox(1)): each account's
 * SMTP/Accounts/<addr>/Outbox, as that account only, and mdir's own
 * SMTP/Outbox, to the envelope its records give (outbox.c, policy.c).
 *
 * For each message: a DKIM signature (or two) when its From is ours,
 * sendmail -i -f SENDER -- RCPT..., and by its exit code the message goes
 * to SMTP/Sent, stays for a later try, or goes to SMTP/Failed with a
 * notice (send.c has the at-most-once rule).  It does not queue or retry
 * within a run (sendmail's MTA does that once it has the message), and it
 * never mails a notice.  Quiet when all goes well: cron mails whatever it
 * prints; the log has a line per message.  One run at a time: a second
 * one exits 0 at once.
 */
#include <stdio.h>
#include <sysexits.h>
#include <syslog.h>

#include <gmime/gmime.h>

#include "outbox.h"

int
main(int argc, char **argv)
{
	gboolean record = FALSE;
	gboolean dry_run = FALSE;
	gboolean verbose = FALSE;
	g_autoptr(MdirConfig) config = NULL;
	g_autoptr(Outbox) outbox = NULL;
	GOptionEntry entries[] = {
		{ "dry-run", 'n', 0, G_OPTION_ARG_NONE, &dry_run,
		    "show what would be sent; send nothing, move nothing", NULL },
		{ "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "say what is done", NULL },
		{ "dkim-record", 0, 0, G_OPTION_ARG_NONE, &record,
		    "print the DNS records of the DKIM keys", NULL },
		{ NULL, 0, 0, 0, NULL, NULL, NULL },
	};
	g_autoptr(MdirOptions) opts = NULL;
	g_autoptr(GError) e = NULL;

	g_set_prgname("mdir-outbox");
	g_mime_init(); /* addresses are parsed, and 8-bit mail re-encoded, by GMime */
	opts = mdir_options_new("mdir-outbox", "[FOLDER]", "Send the outbox (FOLDER, or "
	    "SMTP/Outbox and every account's Outbox); see mdir-outbox(1).", 0);
	mdir_options_add(opts, entries);
	switch (mdir_options_parse(opts, &argc, &argv, 0, 1, &e)) {
	case 0:
		return EX_OK;
	case -1:
		fprintf(stderr, "mdir-outbox: %s\n", e->message);
		return EX_USAGE;
	}
	mdir_log_open(MDIR_LOG_SYSLOG | MDIR_LOG_STDERR);
	/* cron mails what is printed: only problems on stderr, unless -v; the
	 * log ([mdir] log_level, info) has every message either way */
	mdir_log_set_stderr_level(verbose ? LOG_INFO : LOG_WARNING);
	config = mdir_config_load(mdir_options_config(opts), &e);
	if (config == NULL)
		goto out;
	outbox = outbox_open(config, (dry_run ? OUTBOX_DRY_RUN : 0) | (verbose ? OUTBOX_VERBOSE : 0) |
	    (record ? OUTBOX_KEYS_ONLY : 0), &e);
	if (outbox == NULL)
		goto out;
	if (record)
		outbox_print_records(outbox, &e);
	else
		outbox_run(outbox, argc > 1 ? argv[1] : NULL, &e);
out:
	if (e)
		mdir_log(e->domain == MDIR_ERROR && e->code == MDIR_ERROR_CONFIG ? LOG_CRIT :
		    LOG_ERR, "%s", e->message);
	return mdir_exit_code(e, MDIR_EXIT_TOOL);
}
