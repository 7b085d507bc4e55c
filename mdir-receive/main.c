/*
 * mdir-receive: the program Postfix's pipe(8) runs for every message
 * (DESIGN §4, mdir-receive(1)).
 *
 * It reads the message to its end, keeps it byte for byte, splits it into
 * the store, queues a header batch for mdird and pokes it.  It does not
 * classify (mdird does), send (mdir-outbox does) or refuse malformed mail.
 * Postfix bounces on every exit code but 0, 75 and signals, so it returns
 * exactly 0, 67 (no such account) or 75 (anything else: retry later), and
 * its one output line starts with the enhanced status code that agrees,
 * because Postfix believes the text over the code.
 *
 * With --lmtp it speaks LMTP instead (lmtp.c, listen.c): the same
 * delivery per message, a reply per recipient, no process per message.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <syslog.h>
#include <unistd.h>

#include <glib.h>

#include "mdir.h"
#include "receive.h"

/* Postfix quotes the output in its bounce and log, with any line end made
 * a space: "(... no such account )".  A line end only for a person. */
static const char deadline_line[] = "4.3.0 mdir-receive: deadline exceeded, try again later";
static gboolean on_terminal;
static gboolean lmtp_mode;
static char *lmtp_address;

/* The hard deadline: give up before Postfix's command_time_limit bounces. */
static void
on_deadline(int sig)
{
	(void)sig;
	if (write(STDOUT_FILENO, deadline_line, sizeof(deadline_line) - 1) < 0)
		_exit(EX_TEMPFAIL);
	if (on_terminal && write(STDOUT_FILENO, "\n", 1) < 0)
		_exit(EX_TEMPFAIL);
	_exit(EX_TEMPFAIL);
}

static void
arm_deadline(gint64 ms)
{
	struct sigaction sa = { .sa_handler = on_deadline };

	sigaction(SIGALRM, &sa, NULL);
	alarm(ms > 0 ? (unsigned)MAX(1, ms / 1000) : 0);
}

/* The one status line for Postfix, then the exit code that agrees with it. */
static int
finish(const GError *error, const char *what)
{
	int code = mdir_exit_code(error, MDIR_EXIT_MTA);

	/* an LMTP client waits for a greeting: it gets a refusal */
	if (error && lmtp_mode)
		printf("421 %s mdir-receive: %s%s\r\n", mdir_enhanced_status(error),
		    what ? what : "", error->message);
	else if (error)
		printf("%s mdir-receive: %s%s%s", mdir_enhanced_status(error), what ? what : "",
		    error->message, on_terminal ? "\n" : "");
	fflush(stdout);
	return code;
}

/* --lmtp alone: one session on stdin/stdout; --lmtp=ADDRESS: resident. */
static gboolean
on_lmtp(const char *name, const char *value, gpointer data, GError **error)
{
	(void)name;
	(void)data;
	(void)error;
	lmtp_mode = TRUE;
	g_free(lmtp_address);
	lmtp_address = g_strdup(value);
	return TRUE;
}

/* The LMTP server's start: errors go to the log and stderr, not to Postfix. */
static int
serve_lmtp(const MdirConfig *config)
{
	g_autoptr(GError) error = NULL;

	signal(SIGPIPE, SIG_IGN);
	if (lmtp_address == NULL) {
		lmtp_session(config, STDIN_FILENO, STDOUT_FILENO, NULL, NULL);
		return EX_OK;
	}
	if (!lmtp_listen(config, lmtp_address, &error)) {
		mdir_log(LOG_CRIT, "lmtp: %s", error->message);
		if (!isatty(STDERR_FILENO)) /* else the log said it there */
			g_printerr("mdir-receive: %s\n", error->message);
		return mdir_exit_code(error, MDIR_EXIT_TOOL);
	}
	return EX_OK;
}

int
main(int argc, char **argv)
{
	g_autofree char *queue_id = NULL, *sender = NULL;
	g_autofree char *client = NULL, *helo = NULL;
	g_auto(GStrv) recipients = NULL;
	GOptionEntry entries[] = {
		{ "queue-id", 'q', 0, G_OPTION_ARG_STRING, &queue_id, "the MTA's queue id", "ID" },
		{ "sender", 'f', 0, G_OPTION_ARG_STRING, &sender, "envelope sender", "ADDR" },
		{ "client-address", 'a', 0, G_OPTION_ARG_STRING, &client, "client IP", "IP" },
		{ "helo", 'h', 0, G_OPTION_ARG_STRING, &helo, "client HELO name", "NAME" },
		{ "lmtp", 0, G_OPTION_FLAG_OPTIONAL_ARG, G_OPTION_ARG_CALLBACK, (gpointer)on_lmtp,
		    "serve LMTP: on stdin/stdout, or resident on ADDRESS (unix:PATH, "
		    "inet:127.0.0.1:PORT)", "ADDRESS" },
		{ G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_STRING_ARRAY, &recipients, NULL, NULL },
		{ NULL, 0, 0, 0, NULL, NULL, NULL },
	};
	g_autoptr(MdirOptions) opts = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(MdirConfig) config = NULL;
	g_autoptr(MdirStore) store = NULL;
	g_autoptr(MdirDelivery) d = NULL;
	gint64 start = g_get_monotonic_time();
	MdirEnvelope env;
	int go;

	g_set_prgname("mdir-receive");
	on_terminal = isatty(STDOUT_FILENO);
	/* run by the MTA, stdout and stderr become Postfix's status text: only
	 * the status line goes there, the log goes to syslog */
	mdir_log_open(MDIR_LOG_SYSLOG | (isatty(STDERR_FILENO) ? MDIR_LOG_STDERR : 0));
	/* -h is the HELO name */
	opts = mdir_options_new("mdir-receive", "[--] RECIPIENT...", "Receive one message on "
	    "standard input for the recipients; see mdir-receive(1).",
	    MDIR_OPTIONS_NO_SHORT_HELP);
	mdir_options_add(opts, entries);
	go = mdir_options_parse(opts, &argc, &argv, 0, -1, &error);
	if (go < 0) {
		mdir_log(LOG_CRIT, "bad arguments (check master.cf): %s", error->message);
		return finish(error, "bad arguments: ");
	}
	if (go == 0)
		return EX_OK;
	if (!lmtp_mode && (recipients == NULL || recipients[0] == NULL)) {
		g_set_error(&error, MDIR_ERROR, MDIR_ERROR_USAGE, "no recipient given");
		mdir_log(LOG_CRIT, "no recipient given (check master.cf: -- ${recipient})");
		return finish(error, NULL);
	}
	config = mdir_config_load(mdir_options_config(opts), &error);
	if (config == NULL) {
		mdir_log(LOG_CRIT, "%s", error->message);
		return finish(error, "configuration: ");
	}
	for (const char *const *w = mdir_config_warnings(config); *w; w++)
		mdir_log(LOG_WARNING, "%s", *w);
	mdir_log_set_level(mdir_log_level_from_string(mdir_config_get(config, "mdir",
	    "log_level")));
	if (lmtp_mode)
		return serve_lmtp(config);
	arm_deadline(mdir_config_get_duration_ms(config, "receive", "deadline"));
	store = mdir_store_open_config(config, &error);
	if (store == NULL) {
		mdir_log(LOG_CRIT, "%s", error->message);
		return finish(error, NULL);
	}
	env = (MdirEnvelope){ sender, client, helo, queue_id, (const char *const *)recipients,
		NULL };
	d = mdir_receive(store, config, STDIN_FILENO, &env, &error);
	if (d == NULL) {
		mdir_log(mdir_error_is_refusal(error) ? LOG_NOTICE :
		    LOG_ERR, "%s: from=<%s> %s", queue_id ? queue_id : "-", sender ? sender : "",
		    error->message);
		if (g_error_matches(error, MDIR_ERROR, MDIR_ERROR_NO_ACCOUNT))
			for (char **r = recipients; *r; r++)
				mdir_events_record(config, "unknown", "rcpt", *r, "ip", client, NULL);
		return finish(error, NULL);
	}
	receive_log_delivery(queue_id, sender, d, start);
	receive_record_events(config, sender, client, d);
	return EX_OK;
}
