/*
 * mdir-command: commands by mail (DESIGN §4, mdir-command(1)).  Reads one
 * message on standard input (from a rule's pipe or a Postfix pipe
 * transport), authenticates its sender (a TOTP code in the subject, or
 * S/MIME), runs the plugins its body names and files the answer into
 * SMTP/Outbox for mdir-outbox to sign and send (handle.c).
 *
 * It never answers a request it refused, nor bounces one: the sender may
 * be forged; the admin gets a notice in a folder instead.  It never sends
 * mail itself, and never runs a shell.  Exit codes are the MTA's: 0 (done,
 * refusals included), 75 (try again later); Postfix bounces on any other.
 */
#include <stdio.h>
#include <sysexits.h>
#include <syslog.h>
#include <unistd.h>

#include <gmime/gmime.h>

#include "command.h"

static int
enrol(const CommandConf *cc, const char *address)
{
	g_autoptr(GError) e = NULL;
	g_autofree char *secret = NULL;
	g_autofree char *uri = NULL;

	if (!totp_enrol(cc->secrets, address, &secret, &e)) {
		mdir_log(LOG_ERR, "%s", e->message);
		return mdir_exit_code(e, MDIR_EXIT_TOOL);
	}
	uri = totp_uri(address, secret);
	printf("address %s\nsecret %s\nuri %s\n", address, secret, uri);
	mdir_log(LOG_NOTICE, "totp: new secret for <%s> in %s", address, cc->secrets);
	return EX_OK;
}

int
main(int argc, char **argv)
{
	g_autofree char *enrol_address = NULL;
	GOptionEntry entries[] = {
		{ "totp-enrol", 0, 0, G_OPTION_ARG_STRING, &enrol_address,
		    "write a new TOTP secret for ADDRESS; print it and its otpauth:// URI",
		    "ADDRESS" },
		{ NULL, 0, 0, 0, NULL, NULL, NULL },
	};
	g_autoptr(MdirOptions) opts = NULL;
	g_autoptr(MdirConfig) config = NULL;
	g_autoptr(GError) e = NULL;
	CommandConf cc;

	g_set_prgname("mdir-command");
	g_mime_init();
	opts = mdir_options_new("mdir-command", "", "Run the commands of the request on "
	    "standard input; see mdir-command(1).", 0);
	mdir_options_add(opts, entries);
	switch (mdir_options_parse(opts, &argc, &argv, 0, 0, &e)) {
	case 0:
		return EX_OK;
	case -1:
		fprintf(stderr, "mdir-command: %s\n", e->message);
		return enrol_address ? EX_USAGE : EX_TEMPFAIL;
	}
	mdir_log_open(MDIR_LOG_SYSLOG | MDIR_LOG_STDERR);
	/* enrolling prints what it did: only trouble on stderr */
	if (enrol_address)
		mdir_log_set_stderr_level(LOG_WARNING);
	config = mdir_config_load(mdir_options_config(opts), &e);
	if (config == NULL || !conf_load(&cc, config, enrol_address == NULL, &e)) {
		/* a broken config: the MTA keeps the request for later */
		mdir_log(LOG_CRIT, "%s", e->message);
		return mdir_exit_code(e, enrol_address ? MDIR_EXIT_TOOL : MDIR_EXIT_MTA);
	}
	for (const char *const *w = mdir_config_warnings(config); *w; w++)
		mdir_log(LOG_WARNING, "%s", *w);
	if (enrol_address)
		return enrol(&cc, enrol_address);
	return handle_request(&cc, STDIN_FILENO);
}
