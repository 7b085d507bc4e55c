/*
 * config.c: "mstore config [-n]": the configuration in effect, defaults
 * included, or with -n only what the file sets, like postconf(1) and
 * postconf -n.  Loading it checks every value, so a bad one exits 78
 * with FILE:LINE: an admin checks a file here before reloading a daemon.
 */
#include <stdio.h>
#include <syslog.h>

#include <glib.h>

#include "mdir.h"
#include "mstore.h"

int
cmd_config(Mstore *ms, int argc, char **argv, GError **error)
{
	gboolean only_set = FALSE;
	GOptionEntry entries[] = {
		{ "non-default", 'n', 0, G_OPTION_ARG_NONE, &only_set,
		    "only what the file sets", NULL },
		{ NULL, 0, 0, 0, NULL, NULL, NULL },
	};
	g_autofree char *text = NULL;
	const char *file;

	if (!mstore_parse_config("config", "", "Print the configuration in effect, checked.",
	    entries, &argc, &argv, error))
		return 1;
	for (const char *const *w = mdir_config_warnings(ms->config); *w; w++)
		mdir_log(LOG_WARNING, "%s", *w);
	file = mdir_config_file(ms->config);
	text = mdir_config_dump(ms->config, only_set);
	printf("# %s\n%s", file ? file : "built-in defaults (no configuration file)", text);
	return 0;
}
