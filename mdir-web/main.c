/*
 * mdir-web: the admin's web page (DESIGN §4, mdir-web(8)): the day's
 * figures and charts from smtp-stats' database, the accounts (the same
 * library calls as mstore account), and a JSON API under /api/ with the
 * same data.  An HTTP server on libsoup, on 127.0.0.1:8025 by default,
 * meant to sit behind a TLS reverse proxy: it speaks no TLS itself and
 * refuses a non-loopback address unless told ([web] allow_remote).
 * Admins log in with a yescrypt password from [web] users, set with
 * "mdir-web --passwd NAME".  Every change is logged with who made it.
 */
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <syslog.h>

#include <glib-unix.h>
#include <glib.h>

#include "mdir.h"
#include "web.h"

static gboolean
quit(gpointer loop)
{
	g_main_loop_quit(loop);
	return G_SOURCE_CONTINUE;
}

static gboolean
set_password(const MdirConfig *config, const char *name, GError **error)
{
	const char *users = mdir_config_get(config, "web", "users");
	g_autofree char *password = web_passwd_read(error);

	if (password == NULL || !web_passwd_set(users, name, password, error))
		return FALSE;
	explicit_bzero(password, strlen(password));
	mdir_log(LOG_NOTICE, "user=%s action=passwd file=%s", name, users);
	return TRUE;
}

static gboolean
serve(MdirConfig *config, GError **error)
{
	g_autoptr(Web) w = web_new(config, error);
	g_autoptr(GMainLoop) loop = NULL;

	if (w == NULL || !web_listen(w, NULL, error))
		return FALSE;
	if (!g_file_test(w->users, G_FILE_TEST_EXISTS))
		mdir_log(LOG_WARNING, "%s: no users yet: nobody can log in (mdir-web --passwd "
		    "NAME)", w->users);
	loop = g_main_loop_new(NULL, FALSE);
	g_unix_signal_add(SIGTERM, quit, loop);
	g_unix_signal_add(SIGINT, quit, loop);
	g_main_loop_run(loop);
	return TRUE;
}

int
main(int argc, char **argv)
{
	g_autofree char *passwd = NULL;
	GOptionEntry entries[] = {
		{ "passwd", 0, 0, G_OPTION_ARG_STRING, &passwd,
		    "set NAME's password (read twice from standard input)", "NAME" },
		{ NULL, 0, 0, 0, NULL, NULL, NULL },
	};
	g_autoptr(MdirOptions) opts = NULL;
	g_autoptr(MdirConfig) config = NULL;
	g_autoptr(GError) e = NULL;

	g_set_prgname("mdir-web");
	opts = mdir_options_new("mdir-web", "", "Serve the admin's web page; see mdir-web(8).",
	    0);
	mdir_options_add(opts, entries);
	switch (mdir_options_parse(opts, &argc, &argv, 0, 0, &e)) {
	case 0:
		return EX_OK;
	case -1:
		fprintf(stderr, "mdir-web: %s\n", e->message);
		return EX_USAGE;
	}
	mdir_log_open(MDIR_LOG_SYSLOG | MDIR_LOG_STDERR);
	config = mdir_config_load(mdir_options_config(opts), &e);
	if (config == NULL)
		goto out;
	if (passwd) {
		/* a command line: quiet when it worked, the log has the line */
		mdir_log_set_stderr_level(LOG_WARNING);
		set_password(config, passwd, &e);
	}
	else
		serve(config, &e);
out:
	if (e)
		mdir_log(LOG_ERR, "%s", e->message);
	/* the address taken, or not ours to take */
	if (e && e->domain == G_IO_ERROR)
		return EX_UNAVAILABLE;
	return mdir_exit_code(e, MDIR_EXIT_TOOL);
}
