/*
 * verify.h - proving that the store holds exactly a file's accepted rows
 * (`chatsync verify FILE`).
 *
 *   cs_importer_new, cs_importer_stage, cs_importer_check   // the file, classified as an import would
 *   cs_verify_compare(imp, print, arg, &result, &err);
 *
 * The file's accepted rows are those an import inserts or finds already
 * there (not the rejected ones, not later duplicates). For every user who
 * owns one of them, cs_verify_compare reads that user's rows from the file
 * and from the store, both sorted by (table, id), and reports through print:
 * each row missing from the store, each store row the file does not have,
 * each row whose content differs (naming the fields), and per user and table
 * the counts and a SHA-256 checksum over the canonical content of every row
 * when they differ.
 *
 * The canonical content of a row is its columns except the version, as one
 * jsonb array printed by Postgres, computed by the same SQL expression on
 * both sides: jsonb normalises key order, spacing and number spelling, so a
 * file's attachments and the store's compare as values. Times are compared
 * in milliseconds, a missing branches as [].
 */
#ifndef CS_VERIFY_H
#define CS_VERIFY_H

#include "importer.h"

struct cs_verify_result {
	long long users;
	long long rows_file[CS_LEGACY_TABLES];  /* accepted rows of the file */
	long long rows_store[CS_LEGACY_TABLES]; /* rows of the store of the same users */
	long long differences; /* 0: the store holds exactly the file's accepted rows */
};

/* One line of the report, without its newline. */
typedef void (*cs_verify_print_fn)(void *arg, const char *line);

/*
 * After cs_importer_check on imp; -1 only when the comparison could not be
 * made. verbose: also a line for every user that matches.
 */
int cs_verify_compare(struct cs_importer *imp, int verbose, cs_verify_print_fn print, void *arg,
		      struct cs_verify_result *result, struct cs_error *err);

#endif
