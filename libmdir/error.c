/*
 * error.c: the MDIR_ERROR domain and the one mapping from errors to exit
 * codes.  Two policies: programs an MTA runs may only say 0, 67 or 75
 * (Postfix's pipe(8) bounces on anything else), interactive tools say what
 * sysexits(3) has for the cause.
 */
#include <errno.h>
#include <sysexits.h>

#include <glib.h>
#include <gio/gio.h>

#include "mdir.h"

G_DEFINE_QUARK(mdir-error-quark, mdir_error)

static int
tool_code_mdir(int code)
{
	switch (code) {
	case MDIR_ERROR_USAGE:
		return EX_USAGE;
	case MDIR_ERROR_CONFIG:
		return EX_CONFIG;
	case MDIR_ERROR_BAD_URL:
	case MDIR_ERROR_BAD_NAME:
	case MDIR_ERROR_CORRUPT:
		return EX_DATAERR;
	case MDIR_ERROR_NOT_FOUND:
		return EX_NOINPUT;
	case MDIR_ERROR_NO_ACCOUNT:
	case MDIR_ERROR_DISABLED:
		return EX_NOUSER;
	case MDIR_ERROR_LOCK_TIMEOUT:
	case MDIR_ERROR_TEMPFAIL:
		return EX_TEMPFAIL;
	case MDIR_ERROR_OUTSIDE_ROOT:
	case MDIR_ERROR_EXISTS:
		return EX_CANTCREAT;
	default:
		return EX_SOFTWARE;
	}
}

static int
tool_code_file(int code)
{
	switch (code) {
	case G_FILE_ERROR_NOENT:
	case G_FILE_ERROR_NOTDIR:
		return EX_NOINPUT;
	case G_FILE_ERROR_ACCES:
	case G_FILE_ERROR_PERM:
	case G_FILE_ERROR_ROFS:
		return EX_NOPERM;
	case G_FILE_ERROR_NOSPC:
	case G_FILE_ERROR_AGAIN:
	case G_FILE_ERROR_INTR:
	case G_FILE_ERROR_NOMEM:
	case G_FILE_ERROR_MFILE:
	case G_FILE_ERROR_NFILE:
		return EX_TEMPFAIL;
	case G_FILE_ERROR_EXIST:
	case G_FILE_ERROR_ISDIR:
		return EX_CANTCREAT;
	default:
		return EX_IOERR;
	}
}

gboolean
mdir_error_is_refusal(const GError *error)
{
	return g_error_matches(error, MDIR_ERROR, MDIR_ERROR_NO_ACCOUNT) ||
	    g_error_matches(error, MDIR_ERROR, MDIR_ERROR_DISABLED);
}

int
mdir_exit_code(const GError *error, MdirExitPolicy policy)
{
	if (error == NULL)
		return EX_OK;
	if (policy == MDIR_EXIT_MTA) {
		if (mdir_error_is_refusal(error))
			return EX_NOUSER;
		return EX_TEMPFAIL;
	}
	if (error->domain == MDIR_ERROR)
		return tool_code_mdir(error->code);
	if (error->domain == G_FILE_ERROR)
		return tool_code_file(error->code);
	if (error->domain == G_KEY_FILE_ERROR)
		return EX_CONFIG;
	if (error->domain == G_OPTION_ERROR)
		return EX_USAGE;
	if (error->domain == G_IO_ERROR && error->code == G_IO_ERROR_NO_SPACE)
		return EX_TEMPFAIL;
	return EX_SOFTWARE;
}

const char *
mdir_enhanced_status(const GError *error)
{
	int code = mdir_exit_code(error, MDIR_EXIT_MTA);

	if (code == EX_OK)
		return "2.0.0";
	/* 5.2.1: mailbox disabled, not accepting messages (RFC 3463) */
	if (code == EX_NOUSER)
		return g_error_matches(error, MDIR_ERROR, MDIR_ERROR_DISABLED) ? "5.2.1" : "5.1.1";
	/* 4.3.1: mail system full (RFC 3463) */
	if ((error->domain == G_FILE_ERROR && error->code == G_FILE_ERROR_NOSPC) ||
	    (error->domain == G_IO_ERROR && error->code == G_IO_ERROR_NO_SPACE))
		return "4.3.1";
	return "4.3.0";
}
