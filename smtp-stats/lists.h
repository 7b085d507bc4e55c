/*
 * lists.h: the hand-kept policy lists (lists.c), for smtp-stats'
 * whitelist and blacklist commands and for mdir-web.
 */
#ifndef LISTS_H
#define LISTS_H

#include "stats.h"

/*
 * Adds (@add) or removes @kind ("net" or "domain") @value in the
 * whitelist.  MDIR_ERROR_USAGE for another kind; FALSE and @error if
 * SQLite failed.
 */
gboolean lists_whitelist(Stats *s, gboolean add, const char *kind, const char *value,
    GError **error);
/*
 * Blacklists @ip for @seconds (-1: [stats] blacklist_time) "by hand", or
 * (@add FALSE) takes it off.  MDIR_ERROR_USAGE when @ip is not an address.
 */
gboolean lists_blacklist(Stats *s, gboolean add, const char *ip, gint64 seconds,
    GError **error);

#endif /* LISTS_H */
