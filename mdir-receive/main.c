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
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <syslog.h>
#include <unistd.h>

#include <glib.h>

#include "mdir.h"

/* Postfix quotes the output in its bounce and log, with any line end made
 * a space: "(... no such account )".  A line end only for a person. */
static const char deadline_line[] = "4.3.0 mdir-receive: deadline exceeded, try again later";
static gboolean on_terminal;

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

/* For smtp-stats: what was delivered to whom, and what was refused. */
static void
record_events(const MdirConfig *config, const char *sender, const char *client,
    const MdirDelivery *d)
{
	const char *at = sender ? strrchr(sender, '@') : NULL;
	g_autofree char *size = g_strdup_printf("%" G_GUINT64_FORMAT, mdir_delivery_size(d));

	for (const char *const *a = mdir_delivery_accounts(d); *a; a++)
		mdir_events_record(config, "delivered", "account", *a, "ip", client, "size", size,
		    "sender_domain", at ? at + 1 : NULL, "message_id",
		    mdir_delivery_message_id(d), NULL);
	for (const char *const *u = mdir_delivery_unknown(d); *u; u++)
		mdir_events_record(config, "unknown", "rcpt", *u, "ip", client, "sender_domain",
		    at ? at + 1 : NULL, NULL);
}

/* The one status line for Postfix, then the exit code that agrees with it. */
static int
finish(const GError *error, const char *what)
{
	int code = mdir_exit_code(error, MDIR_EXIT_MTA);

	if (error) {
		printf("%s mdir-receive: %s%s%s", mdir_enhanced_status(error), what ? what : "",
		    error->message, on_terminal ? "\n" : "");
		fflush(stdout);
	}
	return code;
}

static char *
join(const char *const *v)
{
	GString *s = g_string_new(NULL);

	for (; *v; v++)
		g_string_append_printf(s, "%s%s", s->len ? "," : "", *v);
	return g_string_free(s, FALSE);
}

static void
log_delivery(const char *queue_id, const char *sender, const MdirDelivery *d, gint64 start)
{
	g_autofree char *accounts = join(mdir_delivery_accounts(d));
	const char *const *unknown = mdir_delivery_unknown(d);
	g_autofree char *refused = join(unknown);

	/* a second recipient of one message finds it stored: shared, not
	 * dropped (the store keeps one copy; each account gets its batch) */
	mdir_log(LOG_INFO, "%s: message-id=<%s> from=<%s> to=%s%s%s size=%" G_GUINT64_FORMAT
	    " parts=%u defects=%u outcome=delivered stored=%s ms=%" G_GINT64_FORMAT,
	    queue_id ? queue_id : "-",
	    mdir_delivery_message_id(d) ? mdir_delivery_message_id(d) : "",
	    sender ? sender : "", accounts, unknown[0] ? " no-account=" : "", refused,
	    mdir_delivery_size(d), mdir_delivery_parts(d), mdir_delivery_defects(d),
	    mdir_delivery_duplicate(d) ? "shared" : "new",
	    (g_get_monotonic_time() - start) / 1000);
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
	if (recipients == NULL || recipients[0] == NULL) {
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
		mdir_log(g_error_matches(error, MDIR_ERROR, MDIR_ERROR_NO_ACCOUNT) ? LOG_NOTICE :
		    LOG_ERR, "%s: from=<%s> %s", queue_id ? queue_id : "-", sender ? sender : "",
		    error->message);
		if (g_error_matches(error, MDIR_ERROR, MDIR_ERROR_NO_ACCOUNT))
			for (char **r = recipients; *r; r++)
				mdir_events_record(config, "unknown", "rcpt", *r, "ip", client, NULL);
		return finish(error, NULL);
	}
	log_delivery(queue_id, sender, d, start);
	record_events(config, sender, client, d);
	return EX_OK;
}
