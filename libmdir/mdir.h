/*
 * mdir.h: the one public header of libmdir.
 *
 * libmdir holds everything the mdir programs share: the configuration, the
 * header records, durable file writes, the content store (the mstore), the
 * folders with their versions and change logs, the file-name sanitiser,
 * logging and the mapping of errors to exit codes.  mdir(5) describes the
 * files these functions read and write; DESIGN.md gives the reasons.
 *
 * Conventions, everywhere below:
 * - Failure is reported through a GError ** given last; a function returns
 *   FALSE, NULL or -1 exactly when it sets it.  Errors from the operating
 *   system are G_FILE_ERROR with the path in the message; the library's own
 *   conditions are MDIR_ERROR.
 * - "transfer full" means the caller owns the result and frees it with the
 *   function named; "transfer none" means the result belongs to the object
 *   it came from and stays valid as long as the text says.
 * - Every _free() function accepts NULL, and every type has a g_autoptr()
 *   cleanup.
 * - No function keeps global mutable state, except mdir_log_open(), which
 *   sets how the process logs: one daemon may serve many clients.
 */
#ifndef MDIR_H
#define MDIR_H

#include <sys/types.h>

#include <glib.h>

G_BEGIN_DECLS

#if defined(MDIR_COMPILATION)
#define MDIR_API __attribute__((visibility("default")))
#else
#define MDIR_API
#endif

#define MDIR_VERSION_STRING "0.1.0"

/* Errors ---------------------------------------------------------------- */

#define MDIR_ERROR (mdir_error_quark())

typedef enum {
	MDIR_ERROR_FAILED,	 /* nothing more precise fits */
	MDIR_ERROR_USAGE,	 /* the caller's words are wrong */
	MDIR_ERROR_CONFIG,	 /* bad configuration file or value */
	MDIR_ERROR_BAD_URL,	 /* not an mstore: URL */
	MDIR_ERROR_BAD_NAME,	 /* a name that is not allowed here */
	MDIR_ERROR_NOT_FOUND,	 /* no such message, part, entry or folder */
	MDIR_ERROR_NO_ACCOUNT,	 /* no folder for that recipient */
	MDIR_ERROR_LOCK_TIMEOUT, /* a lock was not had in time */
	MDIR_ERROR_OUTSIDE_ROOT, /* a path or link leads outside the root */
	MDIR_ERROR_CORRUPT,	 /* a file of ours is not as written */
	MDIR_ERROR_EXISTS,	 /* the name is taken */
	MDIR_ERROR_TEMPFAIL,	 /* try again later (a deadline passed) */
	MDIR_ERROR_DISABLED,	 /* the recipient's account refuses mail */
} MdirError;

MDIR_API GQuark mdir_error_quark(void);

/*
 * Whether @error refuses a recipient for good: MDIR_ERROR_NO_ACCOUNT or
 * MDIR_ERROR_DISABLED (exit 67; 5.1.1 and 5.2.1).
 */
MDIR_API gboolean mdir_error_is_refusal(const GError *error);

typedef enum {
	/*
	 * Programs an MTA runs: 0 delivered, 67 (EX_NOUSER) no such account,
	 * 75 (EX_TEMPFAIL) anything else.  Postfix's pipe(8) bounces on any
	 * other non-zero code, so no other code may ever be returned.
	 */
	MDIR_EXIT_MTA,
	/* Interactive tools: a sysexits(3) code chosen by cause. */
	MDIR_EXIT_TOOL,
} MdirExitPolicy;

/*
 * The exit code for @error (NULL: success, 0) under @policy.  For
 * MDIR_EXIT_MTA the result is always 0, 67 or 75.
 */
MDIR_API int mdir_exit_code(const GError *error, MdirExitPolicy policy);

/*
 * The RFC 3463 enhanced status code that agrees with mdir_exit_code() under
 * MDIR_EXIT_MTA: "2.0.0", "5.1.1" or "4.3.0" (or "4.3.1" for a full disk).
 * Transfer none: a static string.
 */
MDIR_API const char *mdir_enhanced_status(const GError *error);

/* Logging ---------------------------------------------------------------- */

typedef enum {
	MDIR_LOG_STDERR = 1 << 0, /* write "prog: message" to stderr */
	MDIR_LOG_SYSLOG = 1 << 1, /* send to syslog, facility LOG_MAIL */
} MdirLogFlags;

/*
 * Sets where mdir_log() writes, for the whole process, and the identity
 * (g_get_prgname()).  Call once, early in main().  Without it, mdir_log()
 * writes to stderr only.  When stderr is systemd's journal (JOURNAL_STREAM),
 * a line that goes to the log is not also written to stderr.
 */
MDIR_API void mdir_log_open(MdirLogFlags flags);

/*
 * Messages below this syslog(3) priority are not logged (default LOG_INFO,
 * [mdir] log_level), nor written to stderr unless
 * mdir_log_set_stderr_level() says otherwise.
 */
MDIR_API void mdir_log_set_level(int priority);

/*
 * Messages below this priority are not written to stderr, whatever the
 * log's level (a program run by cron: LOG_WARNING, LOG_INFO with -v).
 * -1, the default: the log's level.
 */
MDIR_API void mdir_log_set_stderr_level(int priority);

/*
 * Logs to the file @path (appended, created 0640, one line a message with
 * its UTC time, the program and its pid) instead of syslog: [mdir]
 * log_file, for hosts without a syslog daemon.  NULL goes back to syslog.
 * mdir_config_load() calls it.  Errors: the file's.
 */
MDIR_API gboolean mdir_log_set_file(const char *path, GError **error);

/* Parses "debug", "info", "notice", "warning", "err", "crit"; -1 if unknown. */
MDIR_API int mdir_log_level_from_string(const char *name);

/* One line, no final newline needed; @priority is a syslog(3) level. */
MDIR_API void mdir_log(int priority, const char *format, ...) G_GNUC_PRINTF(2, 3);

/* Time stamps -------------------------------------------------------------- */

/*
 * The forms of time stamps mdir writes.  Names of days and months are
 * English whatever the locale; every form is UTC but MDIR_TIME_RFC5322.
 */
typedef enum {
	MDIR_TIME_ISO8601, /* "2026-12-03T03:26:05Z": records, reports (RFC 3339) */
	MDIR_TIME_LOG,	   /* "2026-12-03T03:26:05.123456Z": the log file's lines */
	MDIR_TIME_RFC5322, /* "Thu, 03 Dec 2026 04:26:05 +0100": a Date field, in
			    * the local time zone ($TZ) with its offset */
	MDIR_TIME_MBOX,	   /* "Thu Dec  3 03:26:05 2026": an mbox From_ line */
	MDIR_TIME_DAY,	   /* "2026-12-03" */
	MDIR_TIME_MONTH,   /* "2026-12" */
} MdirTimeFormat;

/*
 * @unix_time (seconds since 1970-01-01T00:00:00Z, negative before) in the
 * form @kind; MDIR_TIME_LOG shows ".000000".  Times outside the years 1 to
 * 9999 are taken as the nearest end of them.  Transfer full: g_free().
 */
MDIR_API char *mdir_time_format(gint64 unix_time, MdirTimeFormat kind);

/* The current time in the form @kind, to the microsecond in MDIR_TIME_LOG. */
MDIR_API char *mdir_time_now(MdirTimeFormat kind);

/* Options ---------------------------------------------------------------- */

/*
 * The command line of every program: GOption with -c FILE (--config=FILE),
 * -h/--help and -V/--version added, arguments taken as UTF-8 whatever the
 * locale (pipe(8) and cron run programs under locale C) and refused if
 * they are not valid UTF-8.
 */
typedef struct MdirOptions MdirOptions;

typedef enum {
	MDIR_OPTIONS_DEFAULT = 0,
	/* options stop at the first non-option, the subcommand, whose own
	 * options go to mdir_options_new_command() */
	MDIR_OPTIONS_COMMAND = 1 << 0,
	/* -h is the program's own option: --help only */
	MDIR_OPTIONS_NO_SHORT_HELP = 1 << 1,
} MdirOptionsFlags;

/*
 * A program's options.  @parameters (as in "[OPTION...] PARAMETERS") and
 * @summary are shown by --help.  Transfer full: mdir_options_free().
 */
MDIR_API MdirOptions *mdir_options_new(const char *program, const char *parameters,
    const char *summary, MdirOptionsFlags flags);

/*
 * The options of @parent's subcommand @command; -c given to it replaces the
 * one given before it, as mdir_options_config(@parent) then returns.
 * @parent must outlive it.  Transfer full: mdir_options_free().
 */
MDIR_API MdirOptions *mdir_options_new_command(MdirOptions *parent, const char *command,
    const char *parameters, const char *summary);

/*
 * Adds the program's own options (a GOptionEntry array ending with a NULL
 * long name; copied).  G_OPTION_ARG_STRING values arrive as UTF-8 bytes.
 */
MDIR_API void mdir_options_add(MdirOptions *o, const GOptionEntry *entries);

/* Text shown by --help after the options (and the commands). */
MDIR_API void mdir_options_set_description(MdirOptions *o, const char *description);

/* A subcommand, listed by --help after the options. */
MDIR_API void mdir_options_add_command(MdirOptions *o, const char *name,
    const char *summary);

/*
 * Parses and removes the options from @argc/@argv (argv[0] is kept; with
 * MDIR_OPTIONS_COMMAND, argv[1] is then the subcommand), then checks that
 * between @min_args and @max_args (-1: no bound) arguments are left.
 * Returns 1 to go on; 0 when --help or --version was asked and answered on
 * standard output (exit 0); -1 with MDIR_ERROR_USAGE, nothing printed.
 */
MDIR_API int mdir_options_parse(MdirOptions *o, int *argc, char ***argv, int min_args,
    int max_args, GError **error);

/* The -c FILE given (before or after a subcommand), or NULL.  Transfer none. */
MDIR_API const char *mdir_options_config(const MdirOptions *o);

/* What --help prints.  Transfer full: g_free(). */
MDIR_API char *mdir_options_help(const MdirOptions *o);

MDIR_API void mdir_options_free(MdirOptions *o);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(MdirOptions, mdir_options_free)

/* Configuration ---------------------------------------------------------- */

typedef struct MdirConfig MdirConfig;

/*
 * Reads the configuration: @path if given, else $MDIR_CONF, else
 * /etc/mdir/mdir.conf if it exists, else the built-in defaults (root
 * $XDG_DATA_HOME/mdir).  Every value is checked against its type (string,
 * list, duration, size, integer, boolean, mode); a bad value is an
 * MDIR_ERROR_CONFIG naming the file and line.  Unknown sections and keys are
 * not errors; they are listed by mdir_config_warnings().
 * It also sets what is the process's, for every program alike: its umask
 * ([mdir] umask, 0007 by default), the log's level ([mdir] log_level) and
 * file ([mdir] log_file; one that cannot be opened is a warning, and the
 * log stays with syslog).
 * Transfer full: free with mdir_config_free().
 */
MDIR_API MdirConfig *mdir_config_load(const char *path, GError **error);

/* The built-in defaults, with @root as root if not NULL.  Transfer full. */
MDIR_API MdirConfig *mdir_config_new_default(const char *root);

MDIR_API void mdir_config_free(MdirConfig *config);

/* The file read, or NULL for the built-in defaults.  Transfer none. */
MDIR_API const char *mdir_config_file(const MdirConfig *config);

/*
 * Warnings found while loading ("FILE:LINE: unknown key 'x' in [y]"),
 * NULL-terminated.  Transfer none: valid until the config is freed.
 */
MDIR_API const char *const *mdir_config_warnings(const MdirConfig *config);

/* The absolute root of the mdir.  Transfer none. */
MDIR_API const char *mdir_config_root(const MdirConfig *config);

/*
 * The value of @section.@key as a string, the default if the file does not
 * set it, NULL if it has neither.  @key must be a known key (a programming
 * error otherwise).  Transfer none: valid until the config is freed.
 */
MDIR_API const char *mdir_config_get(const MdirConfig *config, const char *section,
    const char *key);

/* A list value split on ';'.  Transfer full: g_strfreev().  Never NULL. */
MDIR_API char **mdir_config_get_list(const MdirConfig *config, const char *section,
    const char *key);

/* A duration value ("90s", "5m", "2h", "5d", plain seconds) in milliseconds. */
MDIR_API gint64 mdir_config_get_duration_ms(const MdirConfig *config,
    const char *section, const char *key);

/* A size value ("50M", "10k", plain bytes) in bytes; integers too. */
MDIR_API gint64 mdir_config_get_int(const MdirConfig *config, const char *section,
    const char *key);

MDIR_API gboolean mdir_config_get_bool(const MdirConfig *config, const char *section,
    const char *key);

/*
 * The configuration as an INI text, a section at a time in the order of
 * mdir.conf(5): with @only_set, the keys the file sets, as written there
 * (like postconf -n); else every known key with its effective value, the
 * default where the file sets none ("key =" when there is neither).
 * Transfer full: g_free().
 */
MDIR_API char *mdir_config_dump(const MdirConfig *config, gboolean only_set);

/* Parses a duration as the config does; -1 and @error if it is not one. */
MDIR_API gint64 mdir_parse_duration_ms(const char *text, GError **error);

/* Parses a size as the config does; -1 and @error if it is not one. */
MDIR_API gint64 mdir_parse_size(const char *text, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(MdirConfig, mdir_config_free)

/* Header records --------------------------------------------------------- */

/*
 * A header record (mdir(5)): an ordered list of "name: value" fields, names
 * in lower case, values one line of UTF-8.  Fields may repeat; order is kept.
 */
typedef struct MdirRecord MdirRecord;

/* Transfer full: free with mdir_record_free(). */
MDIR_API MdirRecord *mdir_record_new(void);
MDIR_API MdirRecord *mdir_record_copy(const MdirRecord *record);
MDIR_API void mdir_record_free(MdirRecord *record);

/*
 * Parses @len bytes of @text (-1: NUL-terminated).  Blank lines are
 * skipped; a line without ':' or with an empty name is MDIR_ERROR_CORRUPT
 * naming the line.  A value starts after the blanks that follow the
 * colon, less one backslash (the escape mdir_record_to_string() puts
 * before a value starting with a blank or a backslash).  Transfer full.
 */
MDIR_API MdirRecord *mdir_record_parse(const char *text, gssize len, GError **error);

/* mdir_record_parse() of a file; the path is in every error.  Transfer full. */
MDIR_API MdirRecord *mdir_record_load(const char *path, GError **error);

/*
 * The record as text, one field a line, a value that starts with a space,
 * a tab or a backslash escaped by a backslash (mdir(5)).  Transfer full:
 * g_free().
 */
MDIR_API char *mdir_record_to_string(const MdirRecord *record, gsize *length);

/* Writes the record durably (mdir_file_write_durable()). */
MDIR_API gboolean mdir_record_save(const MdirRecord *record, const char *path,
    GError **error);

/*
 * Appends a field.  @name is lower-cased, characters other than letters,
 * digits, '-' and '_' become '-'.  @value has CR and LF turned into spaces and
 * invalid UTF-8 replaced; NULL values are not added.
 */
MDIR_API void mdir_record_add(MdirRecord *record, const char *name, const char *value);

/* Replaces every field @name by one (or removes them all if @value is NULL). */
MDIR_API void mdir_record_set(MdirRecord *record, const char *name, const char *value);
MDIR_API void mdir_record_set_int(MdirRecord *record, const char *name, gint64 value);
MDIR_API void mdir_record_remove(MdirRecord *record, const char *name);

/* The first value of @name, or NULL.  Transfer none: until changed/freed. */
MDIR_API const char *mdir_record_get(const MdirRecord *record, const char *name);

/* The first value of @name as an integer, or @fallback. */
MDIR_API gint64 mdir_record_get_int(const MdirRecord *record, const char *name,
    gint64 fallback);

/* Every value of @name in order.  Transfer container: g_free() the array. */
MDIR_API const char **mdir_record_get_all(const MdirRecord *record, const char *name);

MDIR_API guint mdir_record_length(const MdirRecord *record);

/* The @n th field.  Transfer none. */
MDIR_API void mdir_record_nth(const MdirRecord *record, guint n, const char **name,
    const char **value);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(MdirRecord, mdir_record_free)

/* Durable files ---------------------------------------------------------- */

/*
 * Writes @data to @path so that a reader sees either the old file or the
 * whole new one, and a crash leaves one of the two: a temporary name in the
 * same directory, fsync, rename, fsync of the directory.
 */
MDIR_API gboolean mdir_file_write_durable(const char *path, const void *data, gsize length,
    GError **error);

/* Copies @src to @dst durably as above: a reflink where the file system can. */
MDIR_API gboolean mdir_file_copy_durable(const char *src, const char *dst, GError **error);

/* fsync(2) of a directory. */
MDIR_API gboolean mdir_fsync_dir(const char *path, GError **error);

/* fsync(2) of a file by path. */
MDIR_API gboolean mdir_fsync_path(const char *path, GError **error);

/* mkdir -p with mode 0770 (less the umask), fsyncing each parent it adds to. */
MDIR_API gboolean mdir_mkdir_durable(const char *path, GError **error);

/*
 * Opens the directory @path (made first if missing and @create, mode 0770
 * less the umask, not synced) without following a symbolic link as its last
 * component: for the tools' own directories under the root (.mdird,
 * .stats), which whoever can write the root could replace by a link to
 * elsewhere.  A link, or anything but a directory, is
 * MDIR_ERROR_OUTSIDE_ROOT, the path in the message.  Returns a descriptor
 * (the caller close(2)s it) or -1.
 */
MDIR_API int mdir_dir_open_nofollow(const char *path, gboolean create, GError **error);

/*
 * Opens @path with @flags (plus O_NOFOLLOW and O_CLOEXEC; mode 0660 less
 * the umask when O_CREAT makes it), its directory opened as by
 * mdir_dir_open_nofollow() (made first with O_CREAT): a link as the file or
 * as its directory, or a file that is not a regular one, is
 * MDIR_ERROR_OUTSIDE_ROOT, never followed.  For the tools' own files under
 * the root: locks, the events file (mdir(5)).  Returns a descriptor (the
 * caller close(2)s it) or -1.
 */
MDIR_API int mdir_file_open_nofollow(const char *path, int flags, GError **error);

/* Names ------------------------------------------------------------------- */

/*
 * A name that came from a message, made safe to use as a file name: valid
 * UTF-8 (NFC), no '/', '\\' or other characters that file systems or sync
 * clients refuse, no control characters, no leading dots or white space, at
 * most MDIR_NAME_MAX bytes with the extension kept.  Returns NULL if nothing
 * usable is left.  Transfer full: g_free().
 */
#define MDIR_NAME_MAX 200
MDIR_API char *mdir_sanitize_name(const char *name, gssize length);

/*
 * Whether @name may be used as is for a folder entry or folder component:
 * what mdir_sanitize_name() would return unchanged.
 */
MDIR_API gboolean mdir_name_is_safe(const char *name);

/* The hex SHA-256 of @length bytes.  Transfer full: g_free(). */
MDIR_API char *mdir_sha256_hex(const void *data, gsize length);

/* The hex SHA-256 of a file's content.  Transfer full: g_free(). */
MDIR_API char *mdir_sha256_file(const char *path, GError **error);

/* URLs ---------------------------------------------------------------------- */

/*
 * "mstore:<id>/<part>": the Message-ID without angle brackets,
 * percent-encoded where needed.  Transfer full: g_free().
 */
MDIR_API char *mdir_url_build(const char *message_id, guint part);

/*
 * Splits an mstore: URL.  @message_id gets the decoded id (transfer full),
 * @part the part number.  MDIR_ERROR_BAD_URL if it is not one.
 */
MDIR_API gboolean mdir_url_parse(const char *url, char **message_id, guint *part,
    GError **error);

/* The store ----------------------------------------------------------------- */

typedef struct MdirStore MdirStore;

/*
 * Opens the mdir at @root (absolute), making the directories of mdir(5)
 * that are missing.  Transfer full: mdir_store_free().
 */
MDIR_API MdirStore *mdir_store_open(const char *root, GError **error);
MDIR_API void mdir_store_free(MdirStore *store);

/*
 * Opens the store at the configured root with the configured sync mode
 * ([mdir] sync).  Transfer full: mdir_store_free().
 */
MDIR_API MdirStore *mdir_store_open_config(const MdirConfig *config, GError **error);

typedef enum {
	MDIR_SYNC_AUTO,	  /* syncfs on local file systems, fsync on network ones */
	MDIR_SYNC_FS,	  /* one syncfs(2) a step, whatever the file system */
	MDIR_SYNC_FILE,	  /* an fsync(2) of every file and directory */
} MdirSyncMode;

/* How commits are made durable (mdir(5) STATES AND INVARIANTS). */
MDIR_API void mdir_store_set_sync(MdirStore *store, MdirSyncMode mode);

/*
 * Stands for syncfs(2) of @path in the store's whole-file-system syncs:
 * it returns TRUE only once every write made before the call is durable
 * (by a sync that started after the call, its own or another's), else
 * FALSE with @error set.
 */
typedef gboolean (*MdirSyncFunc)(const char *path, gpointer data, GError **error);

/*
 * Makes @store's whole-file-system syncs (MDIR_SYNC_FS, or AUTO on a local
 * file system) go through @func, for a server whose concurrent deliveries
 * share their flushes (group commit, mdir-receive --lmtp); NULL: syncfs(2)
 * again.  Per-file syncs (MDIR_SYNC_FILE) are not affected.
 */
MDIR_API void mdir_store_set_sync_func(MdirStore *store, MdirSyncFunc func, gpointer data);

/*
 * syncfs(2) of the file system holding @path (a file or a directory): what
 * a whole-file-system sync of the store does, for a sync function
 * (mdir_store_set_sync_func()) that makes it in the end.  FALSE with
 * G_FILE_ERROR naming @path if @path cannot be opened or the sync fails
 * (write-back errors included, since Linux 5.8).
 */
MDIR_API gboolean mdir_syncfs(const char *path, GError **error);

/* The root, as given and resolved.  Transfer none. */
MDIR_API const char *mdir_store_root(const MdirStore *store);

/*
 * The file of a stored part, by URL.  MDIR_ERROR_NOT_FOUND if the message or
 * the part is not there.  Transfer full: g_free().
 */
MDIR_API char *mdir_store_part_path(MdirStore *store, const char *url, GError **error);

/* The header record of a stored part, by URL.  Transfer full. */
MDIR_API MdirRecord *mdir_store_load_record(MdirStore *store, const char *url,
    GError **error);

/* The directory of a stored message, by Message-ID.  Transfer full. */
MDIR_API char *mdir_store_message_dir(const MdirStore *store, const char *message_id);

/*
 * A message being added to the store.  Parts are written into a private
 * directory under .mstore/tmp; nothing is visible until
 * mdir_store_txn_commit() publishes the whole message with one rename.
 * Freeing a transaction that was not committed removes what it wrote.
 */
typedef struct MdirStoreTxn MdirStoreTxn;

/* Transfer full: mdir_store_txn_free(). */
MDIR_API MdirStoreTxn *mdir_store_txn_begin(MdirStore *store, GError **error);
MDIR_API void mdir_store_txn_free(MdirStoreTxn *txn);

/*
 * Opens part @part (0 is the raw message) for writing.  The bytes are
 * counted and hashed as they go; the file is closed by
 * mdir_store_txn_close_part().  Only one part is open at a time.
 */
MDIR_API gboolean mdir_store_txn_open_part(MdirStoreTxn *txn, guint part, GError **error);
MDIR_API gboolean mdir_store_txn_write(MdirStoreTxn *txn, const void *data, gsize length,
    GError **error);
MDIR_API gboolean mdir_store_txn_close_part(MdirStoreTxn *txn, GError **error);

/* The path of the part being written, or of a closed one.  Transfer full. */
MDIR_API char *mdir_store_txn_part_path(MdirStoreTxn *txn, guint part);

/*
 * The record of part @part: the caller fills in what it knows; commit adds
 * url, anchor, message-id, part, parts, size and sha256.  Transfer none:
 * valid until the transaction is freed.
 */
MDIR_API MdirRecord *mdir_store_txn_record(MdirStoreTxn *txn, guint part);

/* Number of parts written so far, the raw message included. */
MDIR_API guint mdir_store_txn_n_parts(const MdirStoreTxn *txn);

typedef enum {
	MDIR_STORE_NEW,		/* published now */
	MDIR_STORE_DUPLICATE,	/* the same message was there already */
} MdirStoreOutcome;

/*
 * Publishes the message under @message_id (without angle brackets; NULL:
 * one is made from the content).  If the id is taken by a different
 * message, this one is kept apart under "<id>~<hash>" (see mdir(5)); if the
 * same message is there, nothing changes.  Every file and directory is
 * fsynced before and after the rename.  @stored_id gets the id the message
 * is stored under (transfer full).
 */
MDIR_API gboolean mdir_store_txn_commit(MdirStoreTxn *txn, const char *message_id,
    char **stored_id, MdirStoreOutcome *outcome, GError **error);

/*
 * The id under which mdir_store_txn_commit() stored the message with
 * @message_id (as given to it) whose raw bytes have SHA-256 @sha256 (hex,
 * as in its record): its Message-ID's own id, or the one kept apart.
 * NULL and MDIR_ERROR_NOT_FOUND if no such message is stored.  Transfer
 * full.
 */
MDIR_API char *mdir_store_lookup(MdirStore *store, const char *message_id,
    const char *sha256, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(MdirStore, mdir_store_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MdirStoreTxn, mdir_store_txn_free)

/*
 * Stores a single file as a message of its own (used by "mstore put"): part 0
 * is the file, its record has @record's fields plus the store's.  The id is
 * made from the content, so putting the same content twice stores it once.
 * @url gets the part's URL (transfer full).
 */
MDIR_API gboolean mdir_store_put_file(MdirStore *store, const char *path,
    const MdirRecord *record, char **url, GError **error);

/* Calls @func for every stored message directory; stops if it returns FALSE. */
typedef gboolean (*MdirStoreForeachFunc)(const char *message_dir, gpointer user_data);
MDIR_API gboolean mdir_store_foreach(MdirStore *store, MdirStoreForeachFunc func,
    gpointer user_data, GError **error);

/*
 * Removes the stored message in @message_dir (a directory
 * mdir_store_foreach() gave, or mdir_store_message_dir()): renamed into
 * .mstore/tmp in one step, so that no reader sees half of it, then its
 * files removed (what a crash leaves there, mdir_store_tmp_litter()
 * finds).  Whether a folder still links to its parts is the caller's
 * question ("mstore gc").  MDIR_ERROR_USAGE if @message_dir is not a
 * message directory of @store; G_FILE_ERROR if the rename fails.
 */
MDIR_API gboolean mdir_store_remove_message(MdirStore *store, const char *message_dir,
    GError **error);

/*
 * A new, empty file in the store's tmp directory (.mstore/tmp), for a
 * program's scratch copy of a message or a file it will move into place
 * itself: named as the store's transactions name their directories
 * (unique across hosts, processes and calls), created with O_EXCL (never
 * an existing file, never through a link), open read-write with
 * O_CLOEXEC.  Its mode is @mode less the umask ([mdir] umask), bits
 * outside 0660 dropped: 0660 for the store's own, less for a file more
 * private than the store's (0600), never more open.
 * Returns the descriptor (the caller closes it) and sets @path (transfer
 * full: g_free()).  Nothing is synced: the caller removes the file when
 * done, or fsyncs it before a rename or link that must survive a crash.
 * One a crash leaves behind is litter (mdir_store_tmp_litter()).  -1 and
 * a G_FILE_ERROR naming the path when it cannot be made; @path is then
 * NULL and nothing is left.
 */
MDIR_API int mdir_store_tmp_open(MdirStore *store, guint mode, char **path,
    GError **error);

/*
 * What a crash left in .mstore/tmp: the paths (a new array of strings,
 * transfer full) of its entries, files or directories, last changed more
 * than @min_age seconds ago; younger ones may be in use.  NULL and
 * @error when tmp cannot be read.
 */
MDIR_API GPtrArray *mdir_store_tmp_litter(MdirStore *store, gint64 min_age,
    GError **error);

/* Paths inside the root ------------------------------------------------------ */

/*
 * Resolves @path (relative to the root, or absolute) to an absolute path
 * with every symbolic link followed, and checks it stays inside the root.
 * Components that do not exist yet are kept as given ("." and ".." are
 * refused in them).  MDIR_ERROR_OUTSIDE_ROOT if it leaves the root.
 * Transfer full: g_free().
 */
MDIR_API char *mdir_resolve(const MdirStore *store, const char *path, GError **error);

/* Folders ---------------------------------------------------------------- */

typedef struct MdirFolder MdirFolder;

typedef enum {
	MDIR_FOLDER_CREATE = 1 << 0, /* make the folder if it is missing */
} MdirFolderFlags;

/*
 * Opens the folder at @path (see mdir_resolve()).  Mounts and aliases
 * (symbolic links) are followed as long as they stay inside the root.
 * MDIR_ERROR_NOT_FOUND if it does not exist and CREATE is not given;
 * MDIR_ERROR_BAD_NAME for a path into the reserved dot names.
 * The folder is opened once and kept open (one descriptor, two once its
 * .meta is used): every function below reads and writes relative to it,
 * following no link inside it; a link where .changes, .version, .lock,
 * .meta or a record must be is MDIR_ERROR_OUTSIDE_ROOT (mdir(5)).
 * Transfer full: mdir_folder_free().  The store must outlive the folder.
 */
MDIR_API MdirFolder *mdir_folder_open(MdirStore *store, const char *path,
    MdirFolderFlags flags, GError **error);
MDIR_API void mdir_folder_free(MdirFolder *folder);

/* The folder's resolved absolute path.  Transfer none. */
MDIR_API const char *mdir_folder_path(const MdirFolder *folder);

/* The folder's path relative to the root.  Transfer none. */
MDIR_API const char *mdir_folder_name(const MdirFolder *folder);

/* Default time-out of the folder lock (from [mdir] lock_timeout). */
MDIR_API void mdir_folder_set_lock_timeout(MdirFolder *folder, guint milliseconds);

/*
 * Takes the folder's lock (an OFD lock on .lock, so it works between
 * processes and between threads), waiting at most the lock time-out:
 * MDIR_ERROR_LOCK_TIMEOUT after that.  Not recursive.  The add, remove and
 * rename functions below take it themselves.
 */
MDIR_API gboolean mdir_folder_lock(MdirFolder *folder, GError **error);
MDIR_API void mdir_folder_unlock(MdirFolder *folder);

/*
 * The folder's version: the number in .version, or the last in .changes if
 * that is higher (people may edit .version; a missing one is 0).  The
 * verbs that change a folder refuse to make it wrap past 2^64-1
 * (MDIR_ERROR_CORRUPT, before they change anything); mdir_folder_check()
 * repairs it.
 */
MDIR_API gboolean mdir_folder_version(MdirFolder *folder, guint64 *version,
    GError **error);

/*
 * Adds an entry: @src hard-linked into the folder (copied where a link
 * cannot be made) under @name made unique ("report.pdf", "report-2.pdf"),
 * @record written to .meta/<name>, the version bumped and "V + name"
 * appended to .changes, all under the lock.  @name must be safe
 * (mdir_name_is_safe()).  Returns the name used (transfer full).
 */
MDIR_API char *mdir_folder_add(MdirFolder *folder, const char *src, const MdirRecord *record,
    const char *name, guint64 *version, GError **error);

/* One entry of mdir_folder_add_entries(). */
typedef struct {
	const char *src;	  /* the file to link (a stored part) */
	const MdirRecord *record; /* written to .meta/<used> */
	const char *name;	  /* the name wanted; made unique */
	char *used;		  /* out: the name given (transfer full) */
	guint64 version;	  /* out: the version of its change */
} MdirFolderEntry;

/*
 * Adds @n entries under one lock, each its own change and version, with
 * one write of .version.  With @sync FALSE, on a file system synced whole
 * (mdir(5)), nothing is synced and the caller must call a whole-fs sync
 * before it counts on them (mdird files many batches, then syncs once);
 * per file, they are always durable when it returns.  If an entry fails,
 * those before it are added and logged, and the error is returned.
 */
MDIR_API gboolean mdir_folder_add_entries(MdirFolder *folder, MdirFolderEntry *entries,
    guint n, gboolean sync, GError **error);

/* Removes entry @name and its record; logs "V - name". */
MDIR_API gboolean mdir_folder_remove(MdirFolder *folder, const char *name, guint64 *version,
    GError **error);

/*
 * Removes entry @name and its record, as mdir_folder_remove(), if the
 * entry is still the file (device @dev, inode @ino) its caller read: when
 * another file has taken the name since (a person or a sync client put a
 * new one there), that file stays, only the record goes, durably (it
 * described the other), and *@replaced is set.  No file is lost to a name
 * used again.
 */
MDIR_API gboolean mdir_folder_remove_same(MdirFolder *folder, const char *name, dev_t dev,
    ino_t ino, gboolean *replaced, guint64 *version, GError **error);

/*
 * Renames entry @from to @to (made unique) in one version: "V - from" and
 * "V + to".  Returns the new name (transfer full).
 */
MDIR_API char *mdir_folder_rename(MdirFolder *folder, const char *from, const char *to,
    guint64 *version, GError **error);

/* The entry names, sorted.  Transfer full: g_ptr_array_unref(). */
MDIR_API GPtrArray *mdir_folder_list(MdirFolder *folder, GError **error);

/*
 * Whether the folder holds a file named .copies: entries filed into it are
 * copies of the stored parts (reflinks where the file system has them),
 * not hard links, for folders that sync clients or people edit in place
 * (mdir(5)).
 */
MDIR_API gboolean mdir_folder_copies(const MdirFolder *folder);

/*
 * The names of the folder's subfolders, sorted: directories, and links to
 * directories (mounts, aliases), dot names left out.  Transfer full:
 * g_ptr_array_unref().
 */
MDIR_API GPtrArray *mdir_folder_list_folders(MdirFolder *folder, GError **error);

/* The path of entry @name (which may not exist).  Transfer full. */
MDIR_API char *mdir_folder_entry_path(const MdirFolder *folder, const char *name);

/*
 * Opens entry @name for reading, relative to the folder's descriptor and
 * never through a link (DESIGN 6b): a folder swapped for a link after it
 * was opened, or an entry that is a link, is not followed.  A descriptor,
 * or -1 and @error (MDIR_ERROR_OUTSIDE_ROOT for a link or what is not a
 * regular file, file errors).
 */
MDIR_API int mdir_folder_open_entry(MdirFolder *folder, const char *name, GError **error);

/* The record of entry @name.  Transfer full. */
MDIR_API MdirRecord *mdir_folder_load_record(MdirFolder *folder, const char *name,
    GError **error);

/*
 * Replaces the record of existing entry @name with @record, durably, under
 * the folder's lock (a record is folder state: no program writes .meta
 * itself).  The folder's version does not change: the entry is the same.
 * Errors: MDIR_ERROR_NOT_FOUND when there is no such entry, file errors.
 */
MDIR_API gboolean mdir_folder_save_record(MdirFolder *folder, const char *name,
    const MdirRecord *record, GError **error);

typedef struct {
	guint64 version;
	char op;     /* '+' or '-' */
	char *name;
} MdirChange;

/*
 * The changes after version @since, in order.  Lines that do not parse are
 * skipped.  Transfer full: g_ptr_array_unref() (elements freed with it).
 */
MDIR_API GPtrArray *mdir_folder_changes(MdirFolder *folder, guint64 since, GError **error);

/* One problem mdir_folder_check() found. */
typedef struct {
	/*
	 * "bad-name" (an entry name the verbs refuse; renamed to a safe one),
	 * "missing-record" (rebuilt), "orphan-record" (removed), "orphan-tmp"
	 * (a temporary file over an hour old; removed), "not-linked" (a copy
	 * of its stored part; linked again), "missing-part" and "changed"
	 * (content that is not its record's: never repaired), "version"
	 * (.version behind .changes, garbled, or too large to grow: rewritten),
	 * "meta" (.meta not a real directory), "not-regular" (.lock, .changes
	 * or .version a link or not a file; a link is removed).
	 */
	const char *kind;
	const char *path;     /* the file concerned */
	const char *detail;   /* one line for people */
	gboolean repaired;    /* mended by this call, and checked mended */
} MdirProblem;

/* Transfer none: @problem lives only during the call. */
typedef void (*MdirProblemFunc)(const MdirProblem *problem, gpointer user_data);

/*
 * Asked by mdir_folder_check() for the record of entry @name (file @path)
 * that has none: the stored part's, or NULL to let the check describe the
 * file itself.  Transfer full.
 */
typedef MdirRecord *(*MdirRecordFinder)(MdirFolder *folder, const char *name,
    const char *path, gpointer user_data);

/*
 * Checks the folder against the invariants of mdir(5) under its lock, and
 * with @repair mends what can be mended without guessing: the kinds of
 * MdirProblem.  Each problem is told to @report (may be NULL) once, with
 * whether it was mended.  @find (may be NULL) rebuilds missing records.
 * Returns the number of problems left (found and not mended), or -1 and
 * @error if the folder could not be checked (lock, I/O).
 */
MDIR_API gint mdir_folder_check(MdirFolder *folder, gboolean repair, MdirRecordFinder find,
    MdirProblemFunc report, gpointer user_data, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(MdirFolder, mdir_folder_free)

/* Accounts ----------------------------------------------------------------- */

/*
 * The account folder of @recipient (DESIGN §2): the address normalised
 * (mdir_address_normalize()), its +extension (any character of [receive]
 * recipient_delimiter starts one) cut off into @extension (may be NULL;
 * transfer full, NULL if none), then SMTP/Accounts/<address>, an alias (a link) to another account, or the
 * domain's catch-all SMTP/Accounts/@<domain>; a folder whose domain is
 * spelt with A-labels ("xn--...") serves too.  MDIR_ERROR_NO_ACCOUNT if
 * none exists or the domain is not one of [receive] local_domains;
 * MDIR_ERROR_DISABLED if the folder holds a .disabled file.  Transfer
 * full: mdir_folder_free().
 */
MDIR_API MdirFolder *mdir_account_open(MdirStore *store, const MdirConfig *config,
    const char *recipient, char **extension, GError **error);

/*
 * Making and changing accounts (mstore account, mdir-web): the layout of
 * DESIGN §2, a folder SMTP/Accounts/NAME an account, a link beside it an
 * alias, a .disabled file in it a refusal; a forward or a pipe the
 * account's .rules, first line "# mstore account: ...", which only these
 * functions rewrite.  NAME is what mdir_account_name() returned.
 */
typedef enum {
	MDIR_ACCOUNT_NONE,
	MDIR_ACCOUNT_FOLDER,   /* takes mail, keeps it */
	MDIR_ACCOUNT_ALIAS,    /* a link to another account */
	MDIR_ACCOUNT_FORWARD,  /* its rules forward */
	MDIR_ACCOUNT_PIPE,     /* its rules pipe to a program */
	MDIR_ACCOUNT_DISABLED, /* refuses mail (.disabled) */
} MdirAccountKind;

/* "none", "folder", "alias", "forward", "pipe", "disabled".  Transfer none. */
MDIR_API const char *mdir_account_kind_name(MdirAccountKind kind);
/*
 * The account name of @address as typed (mdir_address_normalize()):
 * MDIR_ERROR_USAGE, saying why, for what is not an address, holds a
 * recipient delimiter in its local part, or is not in [receive]
 * local_domains.  Transfer full.
 */
MDIR_API char *mdir_account_name(const MdirConfig *config, const char *address,
    GError **error);
/*
 * What @name is, and in @detail (transfer full, may be set to NULL) the
 * alias's target, the forward's address or the pipe's command line, with
 * " (and kept)" when the mail stays too.
 */
MDIR_API MdirAccountKind mdir_account_kind(MdirStore *store, const char *name,
    char **detail);
/* Makes the folder of @name; MDIR_ERROR_EXISTS if the name is taken. */
MDIR_API gboolean mdir_account_add(MdirStore *store, const char *name,
    guint lock_timeout_ms, GError **error);
/*
 * Makes @name a relative link to the account @target, beside it;
 * MDIR_ERROR_EXISTS if @name is taken, MDIR_ERROR_NOT_FOUND if @target is
 * no account (or is @name).
 */
MDIR_API gboolean mdir_account_alias(MdirStore *store, const char *name, const char *target,
    GError **error);
/*
 * Writes @name's .rules (the folder made if need be) as @verb's: @rule,
 * checked first (the parser's MDIR_ERROR), then written whole.
 * MDIR_ERROR_EXISTS for an alias, or rules someone else wrote.
 */
MDIR_API gboolean mdir_account_set_rules(MdirStore *store, const char *name,
    const char *verb, const char *rule, GError **error);
/* mdir_account_set_rules() with "forward TO" (and "drop" unless @keep). */
MDIR_API gboolean mdir_account_forward(MdirStore *store, const char *name, const char *to,
    gboolean keep, GError **error);
/* mdir_account_set_rules() with "pipe ARGV..." (and "drop" unless @keep). */
MDIR_API gboolean mdir_account_pipe(MdirStore *store, const char *name,
    const char *const *argv, gboolean keep, GError **error);
/*
 * Makes the account @name refuse mail (its .disabled file) or take it
 * again; MDIR_ERROR_NOT_FOUND for no account or an alias.
 */
MDIR_API gboolean mdir_account_set_disabled(MdirStore *store, const char *name,
    gboolean disabled, GError **error);
/* The names in SMTP/Accounts, sorted, no dot names.  Transfer full: g_strfreev(). */
MDIR_API char **mdir_account_list(MdirStore *store);

/*
 * The form an address is matched and recorded on (SMTPUTF8, RFC 6531):
 * UTF-8 in NFC, the local part in lower case, the domain in U-labels
 * (an A-label "xn--..." decoded) in lower case: "Jo@XN--BCHER-KVA.example"
 * is "jo@bücher.example".  NULL if @address is not valid UTF-8.
 * Transfer full: g_free().
 */
MDIR_API char *mdir_address_normalize(const char *address);

/*
 * Whether mail for @domain is ours: one of [receive] local_domains (both
 * normalised, so A-labels and U-labels agree), or any domain when none is
 * configured (Postfix decides what it hands us).  A @domain that is not
 * valid UTF-8 is none of the configured ones.
 */
MDIR_API gboolean mdir_domain_is_local(const MdirConfig *config, const char *domain);

/* The queue of header batches (.mdird/queue) ------------------------------ */

/*
 * Writes a header batch durably into .mdird/queue: @records (of
 * MdirRecord *) one after another, a blank line between them; by
 * convention the first is the batch's own header.  @name gets the batch's
 * file name (transfer full).
 */
MDIR_API gboolean mdir_queue_write(MdirStore *store, GPtrArray *records, char **name,
    GError **error);

/* Reads a batch file.  Transfer full: g_ptr_array_unref() (records freed). */
MDIR_API GPtrArray *mdir_queue_read(const char *path, GError **error);

/* The names of the queued batches, oldest first.  Transfer full. */
MDIR_API GPtrArray *mdir_queue_list(MdirStore *store, GError **error);

/* The queue directory.  Transfer full. */
MDIR_API char *mdir_queue_dir(const MdirStore *store);

/*
 * Files under a dot name in .mdird/queue older than this many seconds
 * are litter: batches a killed writer never finished (no delivery lives
 * an hour: mdir-receive's deadline ends it before).
 */
#define MDIR_QUEUE_STALE 3600

/*
 * Removes the litter from .mdird/queue: files under a dot name older
 * than @min_age seconds (MDIR_QUEUE_STALE), each with the delivery key
 * that names it, so that the retry of that delivery queues its batch.
 * A pending batch a live writer holds is left.  mdird calls it at start,
 * mstore fsck too.  @removed gets how many went (may be NULL).
 */
MDIR_API gboolean mdir_queue_clean(MdirStore *store, gint64 min_age, guint *removed,
    GError **error);
/*
 * The litter mdir_queue_clean() would remove: the paths (a new array of
 * strings) of the files under a dot name in .mdird/queue older than
 * @min_age seconds; NULL and @error when the queue cannot be read.
 */
MDIR_API GPtrArray *mdir_queue_litter(MdirStore *store, gint64 min_age, GError **error);

/*
 * Whether any queue state names a message: the anchors (part 0 URLs) named
 * by the batches queued, being written (dot names younger than
 * MDIR_QUEUE_STALE), claimed by mdird (.mdird/work) or set aside
 * (.mdird/failed).  A message in it must stay in the store (mstore gc).
 * Transfer full: g_hash_table_unref(); look up with
 * g_hash_table_contains().
 */
MDIR_API GHashTable *mdir_queue_anchors(MdirStore *store, GError **error);

/*
 * Removes the delivery keys (mdir(5) DELIVERY KEYS) older than @max_age
 * seconds: after that, the same bytes to the same recipient are a new
 * delivery.  Keep them longer than the MTA retries (Postfix's
 * maximal_queue_lifetime).  @removed gets how many went (may be NULL).
 */
MDIR_API gboolean mdir_queue_expire_keys(MdirStore *store, gint64 max_age, guint *removed,
    GError **error);

/* Rules (mdir-rules(5)) ----------------------------------------------------- */

typedef struct MdirRules MdirRules;

typedef enum {
	MDIR_ACTION_COPY,     /* arg: the folder, a template */
	MDIR_ACTION_MOVE,     /* arg: the folder, a template */
	MDIR_ACTION_NOTIFY,
	MDIR_ACTION_PIPE,     /* argv: the program and its arguments */
	MDIR_ACTION_FORWARD,  /* arg: the address */
	MDIR_ACTION_DROP,
	MDIR_ACTION_STOP,
	MDIR_ACTION_CONTINUE,
} MdirActionKind;

typedef struct {
	MdirActionKind kind;
	char *arg;
	char **argv;
} MdirAction;

/*
 * Parses the rules in @text; @file names it in messages.  @trusted says
 * whether the folder's owner wrote it (see mdir_rules_load()); when
 * FALSE, pipe and forward are errors, and so is a copy or move into an
 * outbox (SMTP/Outbox, SMTP/Accounts/ADDRESS/Outbox, in any case) named
 * as it is; one a template leads into is refused when the classifier
 * fills it in, and so is one reached through a link.  MDIR_ERROR_CONFIG
 * with "FILE:LINE:COLUMN: what was expected" for the first error.
 * Transfer full: mdir_rules_free().
 */
MDIR_API MdirRules *mdir_rules_parse(const char *text, const char *file, gboolean trusted,
    GError **error);

/*
 * Loads a .rules file, opened without following a symbolic link (one is
 * an MDIR_ERROR_CONFIG error) and judged by what was opened: it is
 * trusted (may pipe, forward and route into an outbox) when it is owned
 * by root or by @folder_owner and has no other hard link (a stored part
 * moved into place has).  A file over 1 MB or not a regular file is
 * refused.  Transfer full: mdir_rules_free().
 */
MDIR_API MdirRules *mdir_rules_load(const char *path, uid_t folder_owner, GError **error);
MDIR_API void mdir_rules_free(MdirRules *rules);

/* The number of rules. */
MDIR_API guint mdir_rules_count(const MdirRules *rules);

/* Whether @rules are trusted (mdir_rules_parse()): may route into an outbox. */
MDIR_API gboolean mdir_rules_trusted(const MdirRules *rules);

/*
 * The actions @rules take for an entry with @record, in order (copy, move,
 * notify, pipe, forward; never stop, continue or drop); @keep says whether
 * the entry stays in the folder (no move or drop).  Transfer container:
 * g_ptr_array_unref(); the actions belong to @rules.
 */
MDIR_API GPtrArray *mdir_rules_eval(const MdirRules *rules, const MdirRecord *record,
    gboolean *keep);

/*
 * A destination template with {field} (the value, or the part of it
 * between < and >) and {date:FORMAT} (the message's date, strftime-like)
 * filled in from @record, each value a safe name; {account}, and "~/" at
 * the start, are the record's account folder (SMTP/Accounts/<address>).
 * Transfer full.
 */
MDIR_API char *mdir_rules_expand(const char *pattern, const MdirRecord *record);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(MdirRules, mdir_rules_free)

/* The Maildir view ([access] maildir, mdird(8)) ------------------------------ */

/*
 * The Maildir++ folder that mirrors the folder named @folder (relative to
 * the root, as mdir_folder_name() gives it) under the [access] maildir
 * template: for SMTP/Accounts/ADDRESS the template with %a replaced by
 * ADDRESS, for a folder A/B below it that directory's ".A.B" (a dot
 * inside a name becomes '_').  NULL without @error when the key is unset
 * or @folder is not in an account's tree; MDIR_ERROR_BAD_NAME for a name
 * the view cannot use (a dot name, anything but a plain component: the
 * view never leaves the template's directory), MDIR_ERROR_CONFIG for a
 * template without %a.  Transfer full: g_free().
 */
MDIR_API char *mdir_maildir_path(const MdirConfig *config, const char *folder,
    GError **error);

/*
 * The Maildir file name of the raw message @path, its part 0 record
 * @record (may be NULL): "TIME.HHASH.mdir,S=SIZE", TIME received-at as
 * a Unix time, HASH 32 hex digits of the message's SHA-256, SIZE its
 * bytes; @n > 1 adds "_N" to HASH, to make it unique.  The same message
 * gets the same name, so an export or a sync finds what it wrote before.
 * Transfer full: g_free().
 */
MDIR_API char *mdir_maildir_name(const char *path, const MdirRecord *record, guint n);

/* When the message arrived: @record's received-at, else @path's mtime. */
MDIR_API gint64 mdir_maildir_time(const char *path, const MdirRecord *record);

/*
 * Brings @folder's Maildir view in step with it (nothing to do when
 * [access] maildir is unset or @folder is outside the accounts): each
 * entry that is a part 0 added since the version recorded in the view's
 * map (the file "mdir-map" in the Maildir folder) is hard-linked into
 * new/ under mdir_maildir_name(), its time set to received-at; each entry
 * removed loses its file, in new/ or in cur/ (whatever flags a reader
 * added).  A link that cannot be made (another file system) is logged and
 * left out: never a copy.  Without a map, the whole folder is compared
 * with the view.  @added and @removed (may be NULL) are increased by the
 * files linked and removed.  Locks the Maildir folder (flock) meanwhile.
 */
MDIR_API gboolean mdir_maildir_sync(MdirStore *store, const MdirConfig *config,
    MdirFolder *folder, guint *added, guint *removed, GError **error);

/*
 * mdir_maildir_sync() of every account folder and every folder below one
 * (links, aliases and mounts, left out).  Goes on past a folder in
 * trouble; the first error is returned.
 */
MDIR_API gboolean mdir_maildir_sync_all(MdirStore *store, const MdirConfig *config,
    guint *added, guint *removed, GError **error);

/* The classifier (mdird(8)) ------------------------------------------------ */

typedef struct MdirClassifier MdirClassifier;

/* What filing did, told once it is durable. */
typedef enum {
	MDIR_EFFECT_CHANGE, /* folder, version, op, name: a change to a folder */
	MDIR_EFFECT_NOTIFY, /* folder, record, path: a rule's notify */
	MDIR_EFFECT_PIPE,   /* folder, record, path, argv: a rule's pipe */
} MdirEffectKind;

typedef struct {
	MdirEffectKind kind;
	const char *folder;	 /* the folder changed, or whose rule it is */
	guint64 version;
	char op;		 /* '+' or '-' */
	const char *name;	 /* the entry */
	const MdirRecord *record; /* the entry's record */
	const char *path;	 /* the file of its content */
	const char *const *argv;
} MdirEffect;

/* Transfer none: everything in @effect lives only during the call. */
typedef void (*MdirEffectFunc)(const MdirEffect *effect, gpointer user_data);

/*
 * A classifier of @store's queue.  It keeps the folders' rules parsed
 * until they change on disk or mdir_classifier_reload().  Transfer full:
 * mdir_classifier_free().  @store must outlive it.
 */
MDIR_API MdirClassifier *mdir_classifier_new(MdirStore *store);
MDIR_API void mdir_classifier_free(MdirClassifier *classifier);
MDIR_API void mdir_classifier_reload(MdirClassifier *classifier);

/*
 * Files queued header batches (mdird(8), mdir(5)): up to @max new ones and
 * any a crash left half-filed, which are filed again without filing a
 * part twice.  Each part goes to the batch's account folder, whose rules
 * (and the rules of folders they file into) decide what else happens.
 * Every entry is durable before @func hears of it and before its batch
 * leaves the queue.  A batch whose folders include one holding a .hold
 * file stays queued (@held counts them).  A batch that cannot be read or
 * whose account is gone is set aside in .mdird/failed and logged.
 * Returns the number of batches filed whole or set aside, or -1 and
 * @error (I/O trouble: the batches stay queued, or claimed to be refiled
 * carefully).
 */
MDIR_API gint mdir_classifier_drain(MdirClassifier *classifier, guint max,
    MdirEffectFunc func, gpointer user_data, guint *held, GError **error);

/*
 * The number of batches partly filed: a big batch is filed in slices, one
 * a round, between other batches, so that a round stays short.  While it
 * is not 0, drain again (after serving whatever else waits).  Partly filed
 * batches are claimed, and refiled carefully after a crash.
 */
MDIR_API guint mdir_classifier_pending(const MdirClassifier *classifier);

/*
 * At most @max folders made for one batch by rules whose folder has a
 * template ({subject}, ...): a remote sender must not make folders at
 * will.  An entry that would make one more stays in the folder whose rule
 * sent it.  The default is 20 ([mdird] max_new_folders).
 */
MDIR_API void mdir_classifier_set_max_new_folders(MdirClassifier *classifier, guint max);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(MdirClassifier, mdir_classifier_free)

/* Statistics events (smtp-stats(1)) ---------------------------------------- */

/* The events file beside [stats] database.  Transfer full. */
MDIR_API char *mdir_events_path(const MdirConfig *config);

/*
 * Appends one event of @kind ("delivered", "unknown", "sent", "deferred",
 * "failed", ...) with key, value pairs (const char *) ending with NULL;
 * NULL or empty values are left out.  Never fails: trouble is logged and
 * the caller goes on.
 */
MDIR_API void mdir_events_record(const MdirConfig *config, const char *kind, ...)
    G_GNUC_NULL_TERMINATED;

/*
 * Tells mdird at @socket_path that the queue has work ("POKE"), without
 * waiting for it.  FALSE (and @error) if nobody listens: not a failure of
 * a delivery, the batch waits in the queue.
 */
MDIR_API gboolean mdir_daemon_poke(const char *socket_path, GError **error);

/* Receiving ------------------------------------------------------------------ */

/* What the MTA said of one delivery. */
typedef struct {
	const char *sender;	    /* envelope sender; "" for the null sender */
	const char *client_address; /* may be NULL or "" (local submission) */
	const char *client_helo;
	const char *queue_id;	    /* the MTA's, for the log */
	const char *const *recipients; /* NULL-terminated, at least one */
	/*
	 * NULL for mail from the MTA.  A local program delivering its own
	 * message (smtp-stats publish) names the folder here instead: the
	 * recipients are only recorded, no account is looked up.
	 */
	const char *folder;
} MdirEnvelope;

typedef struct MdirDelivery MdirDelivery;

/*
 * Receives one message from @fd, read to its end (DESIGN §4 mdir-receive):
 * spooled into the store's tmp, split into parts, published with one
 * rename, then a header batch per account queued durably and mdird poked.
 * Recipients without an account are listed in the result and skipped;
 * if none has one, MDIR_ERROR_NO_ACCOUNT (the input is still read to its
 * end).  Accounts are looked up before the input is read and again once
 * it is: one disabled or removed meanwhile gets none of the message.
 * Transfer full: mdir_delivery_free().
 */
MDIR_API MdirDelivery *mdir_receive(MdirStore *store, const MdirConfig *config, int fd,
    const MdirEnvelope *envelope, GError **error);

/*
 * Where mdir_receive_read() takes the message from: up to @size bytes into
 * @buf; the number given, 0 at its end, or -1 with @error set (@error may
 * be NULL: the input is then only being drained).
 */
typedef gssize (*MdirReadFunc)(gpointer data, char *buf, gsize size, GError **error);

/*
 * mdir_receive() with the message from @reader instead of a file
 * descriptor: the same path, so a message is stored byte for byte as
 * @reader gives it (the LMTP server's DATA, dot-unstuffed).  An error of
 * @reader ends the delivery with that error, nothing published.
 * Transfer full: mdir_delivery_free().
 */
MDIR_API MdirDelivery *mdir_receive_read(MdirStore *store, const MdirConfig *config,
    MdirReadFunc reader, gpointer data, const MdirEnvelope *envelope, GError **error);
MDIR_API void mdir_delivery_free(MdirDelivery *delivery);

/* The id the message is stored under.  Transfer none (all getters below). */
MDIR_API const char *mdir_delivery_stored_id(const MdirDelivery *delivery);
/* The Message-ID it carried, or NULL. */
MDIR_API const char *mdir_delivery_message_id(const MdirDelivery *delivery);
/* The account folders it went to, NULL-terminated. */
MDIR_API const char *const *mdir_delivery_accounts(const MdirDelivery *delivery);
/* The recipients that had no account, NULL-terminated. */
MDIR_API const char *const *mdir_delivery_unknown(const MdirDelivery *delivery);
MDIR_API guint64 mdir_delivery_size(const MdirDelivery *delivery);
MDIR_API guint mdir_delivery_parts(const MdirDelivery *delivery);
MDIR_API guint mdir_delivery_defects(const MdirDelivery *delivery);
/* TRUE if the same message was in the store already. */
MDIR_API gboolean mdir_delivery_duplicate(const MdirDelivery *delivery);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(MdirDelivery, mdir_delivery_free)

/* Generated messages --------------------------------------------------------- */

/*
 * The messages mdir writes itself (notices, reports, answers) are built
 * with GMime by their program, never by printf: untrusted text in them (a
 * subject, a reason, an attached original) is encoded as GMime encodes
 * any header or body, under a boundary GMime picks.  This header names no
 * GMime type: a message is a gpointer that is a GMimeMessage *.
 */

/*
 * A new message with what every generated message carries: From
 * "@from_name <MAILER-DAEMON@HOST>" (HOST: this host's name), To @to
 * (NULL: none), Subject @subject (UTF-8, encoded as RFC 2047 needs), Date now (MDIR_TIME_RFC5322), a new
 * Message-ID at "@from_name.invalid", and Auto-Submitted: @auto_submitted
 * (NULL: none).  The caller adds the body (g_mime_message_set_mime_part())
 * and may change any field.  Transfer full: a GMimeMessage *, free with
 * g_object_unref().
 */
MDIR_API gpointer mdir_generated_new(const char *from_name, const char *to,
    const char *subject, const char *auto_submitted);

typedef enum {
	/* filed into the folder at once, whole (part 0); no rules run: a
	 * notice must not be forwarded, nor wait for a broken rules file */
	MDIR_GENERATED_DIRECT = 0,
	/* queued for mdird like received mail: the folder's rules file its
	 * parts (smtp-stats publish) */
	MDIR_GENERATED_RULES = 1 << 0,
} MdirGeneratedFlags;

/*
 * Files @message (a GMimeMessage *, built by the caller; given a
 * Message-ID if it has none, which g_mime_message_get_message_id() then
 * tells) into @folder.  It is written straight into a store transaction
 * and stored as mdir_receive() stores mail (split into parts, under its
 * Message-ID, the envelope sender null and the recipient its first To
 * address, else the folder's name); then, by @flags, its part 0 is added
 * to @folder under the record's suggested-name (made from the subject,
 * ".eml"; made unique), or a header batch is queued for mdird, which
 * files its parts as @folder's rules say.  @fields (may be
 * NULL) replace the fields of the same names in part 0's record (e.g.
 * "suggested-name", "notice").  @config (NULL: the built-in defaults)
 * gives the limits of the split and mdird's socket.  @entry (may be NULL)
 * gets the entry's name when filed at once, NULL when queued (transfer
 * full: g_free()).  Errors: the store's, the folder's, the queue's; on
 * failure nothing is left in .mstore/tmp (a message stored before its
 * filing failed stays in the store for mstore gc).
 */
MDIR_API gboolean mdir_generated_file(MdirStore *store, const MdirConfig *config,
    gpointer message, MdirFolder *folder, const MdirRecord *fields,
    MdirGeneratedFlags flags, char **entry, GError **error);

G_END_DECLS

#endif /* MDIR_H */
