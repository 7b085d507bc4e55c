/*
 * pages.c: the pages still to come answer with a placeholder.
 */
#include "web.h"

void
web_accounts(Web *w, SoupServerMessage *msg, WebSession *s, GHashTable *form)
{
	(void)w, (void)form;
	web_page(msg, s, "Accounts", "<h1>Accounts</h1>");
}

void
web_api_accounts(Web *w, SoupServerMessage *msg, WebSession *s, GHashTable *form)
{
	(void)w, (void)form, (void)s;
	web_json(msg, SOUP_STATUS_OK, g_strdup("{}\n"));
}
