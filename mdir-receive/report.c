/*
 * report.c: the log line and the statistics events of one delivery, the
 * same whether it came through pipe(8) or over LMTP, so that the log and
 * smtp-stats cannot tell the two modes apart.
 */
#include <string.h>
#include <syslog.h>

#include <glib.h>

#include "mdir.h"
#include "receive.h"

void
receive_record_events(const MdirConfig *config, const char *sender, const char *client,
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

static char *
join(const char *const *v)
{
	GString *s = g_string_new(NULL);

	for (; *v; v++)
		g_string_append_printf(s, "%s%s", s->len ? "," : "", *v);
	return g_string_free(s, FALSE);
}

void
receive_log_delivery(const char *queue_id, const char *sender, const MdirDelivery *d,
    gint64 start)
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
