/*
 * importer_internal.h - what the parts of the importer share: the import's
 * state, the staging tables' names and the helpers every part runs SQL with.
 * Nothing outside migrate/importer*.c includes it.
 */
#ifndef CS_IMPORTER_INTERNAL_H
#define CS_IMPORTER_INTERNAL_H

#include "importer.h"

#include <pthread.h>

struct cs_importer_batches {
	long long *starts; /* the first ord of each batch */
	size_t count, cap;
	long long rows; /* rows and bytes of the last batch so far */
	size_t bytes;
};

struct cs_importer;

struct cs_importer_copier {
	struct cs_importer *imp;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t changed;
	struct cs_buf chunk; /* the staging lines being COPYed */
	int table;
	int busy; /* a chunk is handed over and not done */
	int quit;
	int failed; /* a chunk failed: err says why; later ones are dropped */
	int running;
	struct cs_error err;
};

struct cs_importer {
	struct cs_db_conn *conn;
	struct cs_importer_options options;
	struct cs_importer_counts counts[CS_LEGACY_TABLES];
	struct cs_importer_batches batches[CS_LEGACY_TABLES];
	long long rows_read;
	int copy_table;     /* the table of the lines in copy; -1: none */
	struct cs_buf copy; /* staging lines not handed to the copier yet */
	struct cs_importer_copier copier;
	struct cs_error *stage_err;
	int tables_created;
	int checked_only;
};

#define VERDICT(t) t CS_IMPORTER_VERDICT_SUFFIX

/* The staging table of each legacy table (importer.c). */
extern const char *const cs_importer__staged[CS_LEGACY_TABLES];

/* Runs sql on the import's connection; -1 with err ("could not <what>: ...") on failure. */
int cs_importer__run(struct cs_importer *imp, const char *sql, const char *what,
		     struct cs_error *err);
/* Tells the caller's progress callback, if any. */
void cs_importer__progress(struct cs_importer *imp, enum cs_importer_step step,
			   enum cs_legacy_table table, long long rows, long long total);
/* Stops the staging thread (importer_stage.c); safe when it never started. */
void cs_importer__copier_stop(struct cs_importer *imp);
/* Classifies the staged rows of table (importer_classify.c). */
int cs_importer__classify(struct cs_importer *imp, enum cs_legacy_table table,
			  struct cs_error *err);
/* Counts from the verdicts of table (importer_classify.c). */
int cs_importer__count_verdicts(struct cs_importer *imp, enum cs_legacy_table table,
				struct cs_error *err);

#endif
