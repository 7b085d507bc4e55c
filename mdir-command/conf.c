/*
 * conf.c: [command] of mdir.conf(5), checked once at start, so that a
 * missing address or a bad auth stops the program with a clear line
 * rather than in the middle of a request.
 */
#include <string.h>

#include "command.h"
#include "smime.h"

static gboolean
bad(GError **error, const char *key, const char *what)
{
	g_set_error(error, MDIR_ERROR, MDIR_ERROR_CONFIG, "[command] %s: %s", key, what);
	return FALSE;
}

static gboolean
auth_mode(const char *v, AuthMode *mode)
{
	static const struct {
		const char *name;
		AuthMode mode;
	} modes[] = { { "totp", AUTH_TOTP }, { "smime", AUTH_SMIME }, { "both", AUTH_BOTH } };

	for (gsize i = 0; i < G_N_ELEMENTS(modes); i++)
		if (v && g_ascii_strcasecmp(v, modes[i].name) == 0) {
			*mode = modes[i].mode;
			return TRUE;
		}
	return FALSE;
}

/* auth smime or both: every file S/MIME needs named (crl_file optional). */
static gboolean
smime_keys(const CommandConf *cc, GError **error)
{
	const struct {
		const char *key;
		const char *value;
	} need[] = {
		{ "ca_file", cc->ca_file },
		{ "certs_dir", cc->certs_dir },
		{ "server_cert", cc->server_cert },
		{ "server_key", cc->server_key },
	};

	for (gsize i = 0; i < G_N_ELEMENTS(need); i++)
		if (need[i].value == NULL || *need[i].value == '\0')
			return bad(error, need[i].key, "not set, and auth needs S/MIME");
	return TRUE;
}

gboolean
conf_seals(const CommandConf *cc)
{
	return cc->server_cert && *cc->server_cert && cc->server_key && *cc->server_key;
}

void
conf_smime(const CommandConf *cc, SmimeConfig *out)
{
	*out = (SmimeConfig){ .ca_file = cc->ca_file, .crl_file = cc->crl_file,
		.certs_dir = cc->certs_dir, .server_cert = cc->server_cert,
		.server_key = cc->server_key, .max_age = cc->max_signature_age_ms / 1000 };
}

gboolean
conf_load(CommandConf *cc, const MdirConfig *config, gboolean requests, GError **error)
{
	const char *s = "command";

	memset(cc, 0, sizeof(*cc));
	cc->config = config;
	cc->address = mdir_config_get(config, s, "address");
	cc->tag = mdir_config_get(config, s, "subject");
	cc->plugins = mdir_config_get(config, s, "plugins");
	cc->secrets = mdir_config_get(config, s, "totp_secrets");
	cc->db = mdir_config_get(config, s, "replay_db");
	cc->admin = mdir_config_get(config, s, "admin");
	cc->timeout_ms = mdir_config_get_duration_ms(config, s, "timeout");
	cc->max_output = (gsize)mdir_config_get_int(config, s, "max_output");
	cc->max_failures = (guint)mdir_config_get_int(config, s, "max_failures");
	cc->failure_window_ms = mdir_config_get_duration_ms(config, s, "failure_window");
	cc->max_signature_age_ms = mdir_config_get_duration_ms(config, s, "max_signature_age");
	cc->ca_file = mdir_config_get(config, s, "ca_file");
	cc->crl_file = mdir_config_get(config, s, "crl_file");
	cc->certs_dir = mdir_config_get(config, s, "certs_dir");
	cc->server_cert = mdir_config_get(config, s, "server_cert");
	cc->server_key = mdir_config_get(config, s, "server_key");
	if (requests && (cc->address == NULL || strchr(cc->address, '@') == NULL ||
	    strpbrk(cc->address, " \t<>,;") != NULL))
		return bad(error, "address", "not set to one address (the commands' address)");
	if (cc->tag == NULL || *cc->tag == '\0' || strpbrk(cc->tag, "#\r\n") != NULL)
		return bad(error, "subject", "empty, or holds '#'");
	if (!auth_mode(mdir_config_get(config, s, "auth"), &cc->auth))
		return bad(error, "auth", "not totp, smime or both");
	if (requests && (cc->auth & AUTH_SMIME) && !smime_keys(cc, error))
		return FALSE;
	if ((cc->server_cert == NULL) != (cc->server_key == NULL))
		return bad(error, cc->server_key ? "server_cert" : "server_key",
		    "not set, but its other half is (the answers' signature needs both)");
	if (cc->admin && strchr(cc->admin, '@') == NULL)
		return bad(error, "admin", "not an address");
	if (cc->timeout_ms <= 0)
		return bad(error, "timeout", "must be more than 0");
	if (cc->max_output == 0)
		return bad(error, "max_output", "must be more than 0");
	if (cc->max_failures == 0)
		return bad(error, "max_failures", "must be more than 0");
	return TRUE;
}
