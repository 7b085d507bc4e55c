/*
 * classify.h: what the two halves of the classifier share (libmdir's
 * own, not installed): planning (plan.c: the rules decide where each entry
 * of a batch goes) and the round (classify.c: claiming, filing in slices,
 * telling).
 */
#ifndef CLASSIFY_H
#define CLASSIFY_H

#include <sys/types.h>

#include <glib.h>

#include "mdir.h"

/* Cascades deeper than this are a loop someone did not see. */
#define MAX_CASCADE 8

#define OUTBOX "SMTP/Outbox"

/*
 * A round plans at most this many entries of a batch: a batch of 100,000
 * is planned over several rounds (in the queue, claimed only once planned
 * whole, so .hold still keeps it all there), with the loop served between.
 */
#define PLAN_SLICE 2000

/*
 * What a folder's rules and .hold are, looked at once a drain
 * (MdirClassifier.drains): the rules parsed once a version of the file.
 */
typedef struct {
	dev_t dev;
	ino_t ino;
	gint64 ctime_ns;
	off_t size;
	MdirRules *rules; /* NULL: the file is broken, or missing */
	gboolean missing; /* no .rules */
	gboolean held;	  /* a .hold, when last looked at */
	guint drain;	  /* the drain that looked last */
} Cached;

struct MdirClassifier {
	MdirStore *store;
	GHashTable *rules;   /* folder path -> Cached */
	guint drains;	     /* mdir_classifier_drain() calls so far */
	gint64 claim_sync_us; /* the last round's claim sync took, for the log */
	GHashTable *folders; /* name -> MdirFolder, opened for the batches under
				way: kept while any is, then closed */
	GPtrArray *ongoing;  /* Batch: planned, claimed, partly filed */
	guint max_new_folders;
	GHashTable *owed;    /* names of batches a failed round filed in part
				or whole: their effects never ran */
	GPtrArray *owed_changes; /* a failed round's changes, told after the
				    next round's sync */
};

/* One entry to file. */
typedef struct {
	char *folder;	    /* its folder's name */
	char *src;	    /* the stored part */
	MdirRecord *record; /* with "batch" */
	char *name;	    /* wanted */
	char *forward_to;   /* a forward: src is the raw message, wrapped */
} Filing;

/* Something to do once the round is durable. */
typedef struct {
	MdirEffectKind kind;
	char *folder;
	char *src;
	MdirRecord *record;
	char **argv;
} Later;

typedef struct {
	char *name;	   /* the batch's file name */
	char *dir;	   /* where it is: queue or work */
	gboolean careful;  /* found in work: may be filed in part already */
	guint filed;	   /* entries filed */
	guint next;	   /* filings[next] is the first one not filed yet */
	GPtrArray *filings; /* Filing */
	GPtrArray *later;   /* Later */
	GHashTable *folders; /* name -> MdirFolder (the classifier's), opened
				while planning */
	GHashTable *planned; /* filing keys: each entry into each folder once */
	GHashTable *seen;    /* careful: folder name -> keys it holds already */
	guint new_folders;   /* made by templates while planning */
	guint untrusted;     /* rules on the way that may not send (plan.c route()) */
	char *message_id;    /* for the log */
	char *account;
	GPtrArray *actions;  /* what the rules did, for the log: "move X", ... */
	GPtrArray *recs;     /* while planning: the batch's records */
	guint plan_next;     /* recs[plan_next] is the next to plan */
	gboolean planning;   /* planned in part: not filed, not claimed yet */
	gboolean claimed;    /* in work */
	GHashTable *shared;  /* url -> its record in the store's tmp, for parts
				filed into many folders (linked into each) */
} Batch;

typedef enum { ROUTED, HELD, FAILED, PLANNING } Route;

/* ROOT/.mdird/@sub.  Transfer full. */
char *classify_mdird_dir(MdirStore *store, const char *sub);

/*
 * @name opened (made if missing @create) and kept for the batch, and for
 * the others under way with it.  Transfer none.
 */
MdirFolder *classify_batch_folder(MdirClassifier *c, Batch *b, const char *name,
    gboolean create, GError **error);

/*
 * Plans a batch: ROUTED (b->filings and b->later filled), HELD, or FAILED
 * with @error (I/O trouble); PLANNING when a big batch is planned only in
 * part (a round plans PLAN_SLICE entries of it): call it again, next
 * round, to go on.  A batch set aside is ROUTED with no filings and
 * b->dir cleared, so that nobody claims it.
 */
Route classify_plan(MdirClassifier *c, Batch *b, GError **error);

#endif /* CLASSIFY_H */
