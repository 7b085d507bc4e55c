/*
 * outbox.h: what the files of mdir-outbox share.
 */
#ifndef OUTBOX_H
#define OUTBOX_H

#include <stdio.h>
#include <sys/stat.h>

#include <glib.h>

#include "mdir.h"

/* message.c: one header field as it is in the message, folding and all. */
typedef struct {
	char *raw; /* "Name: value\n" with continuation lines, as read */
	gsize len;
	char *name;
} HeaderField;

const char *header_name(const HeaderField *f);

/* A message to send, ready: envelope, fields, and where its body starts. */
typedef struct {
	char *path;	    /* the outbox entry */
	GPtrArray *fields;  /* HeaderField, in order, Bcc already gone */
	char *body_path;    /* the file the body is read from (path, or 7-bit copy) */
	goffset body_at;    /* where the body starts in body_path */
	char *sender;	    /* envelope sender ("" the null sender) */
	GPtrArray *rcpts;   /* envelope recipients (char *) */
	char *message_id;   /* without <> */
	char *subject;
	GPtrArray *authors; /* the addresses of From, Sender, Resent-From, Resent-Sender */
	char *from;	    /* the first address of the From field */
	GPtrArray *froms;   /* every address of the From field */
	char *signed_with;  /* "rsa-sha256,ed25519-sha256 d=DOMAIN", or NULL */
	gboolean eol_crlf;  /* the message's line ends */
} Message;

/* How a message is loaded. */
typedef struct {
	/*
	 * The envelope, when it is not the headers' (mdir's own outbox: from
	 * the entry's record): @sender ("" the null sender) and @rcpts,
	 * NULL-terminated.  NULL: both from the headers.
	 */
	const char *sender;
	const char *const *rcpts;
	const char *default_sender; /* [outbox] sender, when the headers name none */
	const char *domain;	    /* of a Message-ID made here */
	MdirStore *store;	    /* whose tmp holds the 7-bit copy */
} MessageLoad;

/*
 * Reads the message at @path: header fields, the envelope (@how's, or from
 * the headers: Resent-* first; To, Cc, Bcc; Sender, From, else the default
 * sender), Bcc and Resent-Bcc removed, Message-ID (on @domain) and Date
 * added if missing, 8-bit content converted to 7-bit so that no relay
 * re-encodes what was signed.  Exactly one From field is required.
 * MDIR_ERROR_USAGE with a reason for a message that cannot be sent as it
 * is (a permanent failure).
 */
Message *message_load(const char *path, const MessageLoad *how, GError **error);
void message_free(Message *m);
/* The value of the first field @name, unfolded, as written.  Transfer full. */
char *message_header(const Message *m, const char *name);
/* Writes @m (after @prefix, the signature fields) to @dst, flushed; not closed. */
gboolean message_write(const Message *m, const char *prefix, FILE *dst, GError **error);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Message, message_free)

/* dkim.c */
typedef struct DkimKey DkimKey;
typedef struct DkimBody DkimBody;

DkimKey *dkim_key_load(const char *path, gboolean ed25519, GError **error);
void dkim_key_free(DkimKey *key);
/* The TXT record to publish at SELECTOR._domainkey.DOMAIN.  Transfer full. */
char *dkim_key_record(const DkimKey *key);
char *dkim_relaxed_header(const char *field, gsize len);
DkimBody *dkim_body_new(void);
void dkim_body_update(DkimBody *b, const char *data, gsize len);
char *dkim_body_finish(DkimBody *b);
/* The DKIM-Signature field, folded, with its CRLF.  Transfer full. */
char *dkim_sign(const DkimKey *key, const char *domain, const char *selector,
    GPtrArray *fields, const char *body_hash, gint64 now, GError **error);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DkimKey, dkim_key_free)

/* send.c */
typedef enum { SEND_OK, SEND_LATER, SEND_FAILED } SendOutcome;

/*
 * Runs @sendmail -i -f SENDER -- RCPT... with @file on its stdin, no shell,
 * killed after @timeout_ms.  Its exit code, or -1 (a signal, the time-out,
 * no fork); @said gets its first line of output or why.
 */
int send_run(const char *sendmail, const Message *m, const char *file, gint64 timeout_ms,
    char **said);
SendOutcome send_outcome(int code);
/* Counts an attempt in @rec; FALSE if it is time to give up. */
gboolean send_schedule(MdirRecord *rec, const MdirConfig *config, const char *said,
    gint64 *next);
/* Whether the entry's next try is now or past. */
gboolean send_due(const MdirRecord *rec);
/* Now, RFC 3339 UTC.  Transfer full. */
char *send_stamp(void);

/*
 * sent.c: @m with @sigs on top (the copy about to go out) written into a
 * store transaction as a message of its own and described, not yet
 * published; its SHA-256 is in the transaction's record of part 0.
 */
MdirStoreTxn *sent_write(MdirStore *store, const Message *m, const char *sigs,
    GError **error);
/*
 * @txn published before sendmail runs: the id it is stored under
 * (transfer full), into @is_new whether this call stored it (FALSE: the
 * same message was there already), and into @file the stored file, which
 * sendmail reads (transfer full).
 */
char *sent_commit(MdirStore *store, MdirStoreTxn *txn, const Message *m, gboolean *is_new,
    char **file, GError **error);
/* The copy sent_commit() stored, not sent after all: removed if it stored it. */
void sent_drop(MdirStore *store, const char *id, gboolean is_new);
/*
 * The record of stored copy @id for SMTP/Sent (the store's, with what
 * @sending, the outbox entry's record, says of how it was sent); its part's
 * path into @part.  Transfer full.
 */
MdirRecord *sent_record(MdirStore *store, const char *id, const Message *m,
    const MdirRecord *sending, char **part, GError **error);

/*
 * notice.c: the notice about @original, not sent because of @why, for
 * @sender (the original's Subject when @subject is NULL or empty); its
 * Subject into @subject_used (transfer full).  A GMimeMessage, transfer full.
 */
typedef struct _GMimeMessage GMimeMessage;
GMimeMessage *notice_build(const char *original, const char *sender, const char *subject,
    const char *why, char **subject_used);
/* Files the notice into @sender's account, else [outbox] admin's, else SMTP/Failed. */
void notice_file(MdirStore *store, const MdirConfig *config, const char *original,
    const char *sender, const char *subject, const char *why);

/* The selector of the RSA key, or of the Ed25519 one.  Transfer full. */
char *outbox_selector(const MdirConfig *config, gboolean ed25519);

/* policy.c: who may send what. */
#define OWN_OUTBOX "SMTP/Outbox"
#define ACCOUNTS "SMTP/Accounts"

/* The account of an outbox named SMTP/Accounts/<address>/Outbox, else NULL. */
char *policy_outbox_account(const char *name);
/*
 * Whether @addr is @account's own address or an alias of it (a link in
 * SMTP/Accounts to its folder), either with a +extension; a catch-all
 * ("@domain") is nobody's address.
 */
gboolean policy_account_owns(MdirStore *store, const MdirConfig *config, const char *account,
    const char *addr);
/* @m's From, Sender, Resent-From, Resent-Sender and envelope sender are @account's. */
gboolean policy_bound(MdirStore *store, const MdirConfig *config, const char *account,
    const Message *m, GError **error);
/* Whether @m's From is in a local domain (with none set: dkim_domain). */
gboolean policy_may_sign(const MdirConfig *config, const Message *m);
/* mdir's own outbox at @path is 0700, made so if it is ours; else an error. */
gboolean policy_own_outbox_private(const char *path, GError **error);
/*
 * Entry @name of @folder read once, without following a link, into a new
 * private copy: in memory where it can be (a path under /proc/self/fd,
 * which reads as a file), else a file in @store's tmp; its path, freed
 * with outbox_copy_free(); into @entry (if not NULL) the file's stat(2),
 * which names the file read (st_dev, st_ino).  A link or anything but a
 * regular file is an error, and nothing is read.
 */
char *outbox_entry_copy(MdirFolder *folder, const char *name, MdirStore *store,
    struct stat *entry, GError **error);
/* Whether @copy is in memory (no file to link into a folder). */
gboolean outbox_copy_in_memory(const char *copy);
/*
 * @copy as a file in @store's tmp that can be linked into a folder (the
 * caller removes it), the same mode; @copy itself (a new string) if it is
 * one.  Transfer full.
 */
char *outbox_copy_to_file(const char *copy, MdirStore *store, GError **error);
/* The copy gone: closed, or its file removed; @copy freed.  NULL is fine. */
void outbox_copy_free(char *copy);

/* outbox.c: one run over the outboxes. */
typedef struct Outbox Outbox;

typedef enum {
	OUTBOX_DRY_RUN = 1 << 0, /* say what would be sent; send and move nothing */
	OUTBOX_VERBOSE = 1 << 1,
	OUTBOX_KEYS_ONLY = 1 << 2, /* the keys, no store: for outbox_print_records() */
} OutboxFlags;

/*
 * Opens the store (not with OUTBOX_KEYS_ONLY) and loads the DKIM keys of
 * @config (which must outlive it).
 */
Outbox *outbox_open(MdirConfig *config, OutboxFlags flags, GError **error);
void outbox_free(Outbox *outbox);
/* Prints the TXT records of the keys; MDIR_ERROR_CONFIG if there is none. */
gboolean outbox_print_records(Outbox *outbox, GError **error);
/*
 * Sends what is due in @folder (SMTP/Outbox or an account's outbox; NULL:
 * all of them), under one lock (held by another run: TRUE, nothing done).
 */
gboolean outbox_run(Outbox *outbox, const char *folder, GError **error);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Outbox, outbox_free)

#endif /* OUTBOX_H */
