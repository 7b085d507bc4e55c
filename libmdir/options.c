/*
 * options.c: the one option parser of every program (DESIGN §4, §5).
 *
 * GOption underneath, with what all programs share added once: -c FILE
 * (--config=FILE), --help and --version, accepted before a subcommand or
 * after it.  Arguments are taken as the UTF-8 bytes they are, whatever the
 * locale: Postfix's pipe(8) and cron start programs with an empty
 * environment, locale C, and GOption would run every string option through
 * g_locale_to_utf8() and refuse "x@bücher.example".  So string options are
 * parsed as GOption's filenames (no conversion on Unix), after checking
 * that every argument is valid UTF-8.  Nothing is printed on errors: the
 * program says what went wrong, in its own way (a status line for Postfix,
 * stderr for a person).
 */
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "mdir.h"

struct MdirOptions {
	char *program; /* "mstore", or "mstore put" for a subcommand */
	char *prefix;  /* "" or "put: ", before error messages */
	char *version_name; /* "mstore" */
	char *parameters;   /* "FILE|- [FOLDER]", for the usage error */
	GOptionContext *ctx;
	MdirOptions *parent;
	MdirOptionsFlags flags;
	GString *commands; /* "  name  summary" lines, for --help */
	char *description;
	char *config;
	gboolean help;
	gboolean version;
};

static void
add_common(MdirOptions *o)
{
	GOptionEntry common[] = {
		{ "config", 'c', 0, G_OPTION_ARG_FILENAME, &o->config,
		    "the configuration file", "FILE" },
		{ "help", (o->flags & MDIR_OPTIONS_NO_SHORT_HELP) ? 0 : 'h', 0,
		    G_OPTION_ARG_NONE, &o->help, "show this help", NULL },
		{ "version", 'V', 0, G_OPTION_ARG_NONE, &o->version, "show the version", NULL },
		{ NULL, 0, 0, 0, NULL, NULL, NULL },
	};

	g_option_context_add_main_entries(o->ctx, common, NULL);
}

static MdirOptions *
options_new(const char *program, const char *version_name, const char *parameters,
    const char *summary, MdirOptionsFlags flags)
{
	MdirOptions *o = g_new0(MdirOptions, 1);

	o->program = g_strdup(program);
	o->prefix = g_strdup("");
	o->version_name = g_strdup(version_name);
	o->parameters = g_strdup(parameters ? parameters : "");
	o->flags = flags;
	o->ctx = g_option_context_new(parameters);
	/* ours, printed with fputs: GOption's would be converted to the
	 * locale's charset, "?" for every non-ASCII letter under locale C */
	g_option_context_set_help_enabled(o->ctx, FALSE);
	g_option_context_set_strict_posix(o->ctx, (flags & MDIR_OPTIONS_COMMAND) != 0);
	if (summary)
		g_option_context_set_summary(o->ctx, summary);
	add_common(o);
	return o;
}

MdirOptions *
mdir_options_new(const char *program, const char *parameters, const char *summary,
    MdirOptionsFlags flags)
{
	g_return_val_if_fail(program != NULL, NULL);
	return options_new(program, program, parameters, summary, flags);
}

MdirOptions *
mdir_options_new_command(MdirOptions *parent, const char *command, const char *parameters,
    const char *summary)
{
	g_autofree char *program = NULL;
	g_autofree char *params = NULL;
	MdirOptions *o;

	g_return_val_if_fail(parent != NULL && command != NULL, NULL);
	program = g_strconcat(parent->program, " ", command, NULL);
	params = g_strconcat(command, parameters && *parameters ? " " : "",
	    parameters ? parameters : "", NULL);
	o = options_new(program, parent->version_name, params, summary, 0);
	g_free(o->parameters);
	o->parameters = g_strdup(parameters ? parameters : "");
	o->parent = parent;
	g_free(o->prefix);
	o->prefix = g_strconcat(command, ": ", NULL);
	return o;
}

void
mdir_options_add(MdirOptions *o, const GOptionEntry *entries)
{
	g_autoptr(GArray) copy = g_array_new(TRUE, TRUE, sizeof(GOptionEntry));

	g_return_if_fail(o != NULL);
	for (const GOptionEntry *e = entries; e && e->long_name; e++) {
		GOptionEntry c = *e;

		/* GOption converts strings from the locale's charset, not
		 * filenames: the arguments are UTF-8 already (checked) */
		if (c.arg == G_OPTION_ARG_STRING)
			c.arg = G_OPTION_ARG_FILENAME;
		else if (c.arg == G_OPTION_ARG_STRING_ARRAY)
			c.arg = G_OPTION_ARG_FILENAME_ARRAY;
		else if (c.arg == G_OPTION_ARG_CALLBACK && !(c.flags & G_OPTION_FLAG_NO_ARG))
			c.flags |= G_OPTION_FLAG_FILENAME;
		g_array_append_val(copy, c);
	}
	g_option_context_add_main_entries(o->ctx, (GOptionEntry *)(void *)copy->data, NULL);
}

void
mdir_options_set_description(MdirOptions *o, const char *description)
{
	g_return_if_fail(o != NULL);
	g_free(o->description);
	o->description = g_strdup(description);
}

void
mdir_options_add_command(MdirOptions *o, const char *name, const char *summary)
{
	g_return_if_fail(o != NULL && name != NULL);
	if (o->commands == NULL)
		o->commands = g_string_new("Commands:\n");
	g_string_append_printf(o->commands, "  %-10s %s\n", name, summary ? summary : "");
}

/* @text with each byte that is not UTF-8 shown as \xNN. */
static char *
escape_invalid(const char *text)
{
	GString *s = g_string_new(NULL);
	const char *p = text;
	const char *bad;

	while (!g_utf8_validate(p, -1, &bad)) {
		g_string_append_len(s, p, bad - p);
		g_string_append_printf(s, "\\x%02x", *(const guchar *)bad);
		p = bad + 1;
	}
	g_string_append(s, p);
	return g_string_free(s, FALSE);
}

static gboolean
check_utf8(const MdirOptions *o, int argc, char **argv, GError **error)
{
	for (int i = 1; i < argc; i++) {
		g_autofree char *shown = NULL;

		if (g_utf8_validate(argv[i], -1, NULL))
			continue;
		shown = escape_invalid(argv[i]);
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_USAGE,
		    "%snot valid UTF-8: '%s'", o->prefix, shown);
		return FALSE;
	}
	return TRUE;
}

/* The subcommand's -c replaces the one given before it. */
static void
pass_config_up(MdirOptions *o)
{
	MdirOptions *top = o;

	if (o->config == NULL)
		return;
	while (top->parent)
		top = top->parent;
	if (top == o)
		return;
	g_free(top->config);
	top->config = g_steal_pointer(&o->config);
}

int
mdir_options_parse(MdirOptions *o, int *argc, char ***argv, int min_args, int max_args,
    GError **error)
{
	g_autoptr(GError) e = NULL;
	int left;

	g_return_val_if_fail(o != NULL && argc != NULL && argv != NULL, -1);
	if (!check_utf8(o, *argc, *argv, error))
		return -1;
	if (!g_option_context_parse(o->ctx, argc, argv, &e)) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_USAGE, "%s%s", o->prefix, e->message);
		return -1;
	}
	pass_config_up(o);
	if (o->help) {
		g_autofree char *text = mdir_options_help(o);

		fputs(text, stdout);
		fflush(stdout);
		return 0;
	}
	if (o->version) {
		printf("%s %s\n", o->version_name, MDIR_VERSION_STRING);
		fflush(stdout);
		return 0;
	}
	left = *argc - 1;
	if (left < min_args || (max_args >= 0 && left > max_args)) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_USAGE, "%s%s arguments: expected %s",
		    o->prefix, left < min_args ? "too few" : "too many",
		    *o->parameters ? o->parameters : "none");
		return -1;
	}
	return 1;
}

const char *
mdir_options_config(const MdirOptions *o)
{
	g_return_val_if_fail(o != NULL, NULL);
	while (o->parent)
		o = o->parent;
	return o->config;
}

char *
mdir_options_help(const MdirOptions *o)
{
	g_autoptr(GString) text = g_string_new(NULL);

	g_return_val_if_fail(o != NULL, NULL);
	if (o->commands)
		g_string_append_printf(text, "%s\n'%s COMMAND --help' describes each.\n",
		    o->commands->str, o->program);
	if (o->description)
		g_string_append_printf(text, "%s%s", text->len ? "\n" : "", o->description);
	g_option_context_set_description(o->ctx, text->len ? text->str : NULL);
	return g_option_context_get_help(o->ctx, TRUE, NULL);
}

void
mdir_options_free(MdirOptions *o)
{
	if (o == NULL)
		return;
	g_option_context_free(o->ctx);
	g_free(o->program);
	g_free(o->prefix);
	g_free(o->version_name);
	g_free(o->parameters);
	if (o->commands)
		g_string_free(o->commands, TRUE);
	g_free(o->description);
	g_free(o->config);
	g_free(o);
}
