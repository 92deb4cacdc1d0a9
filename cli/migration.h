/*
 * migration.h - the migration subcommands of chatsync and what they share.
 *
 *   chatsync import FILE [--dry-run] [--json] [--batch-rows N]   cli_import (cli/import.c)
 *   chatsync export [--user U]... [--output FILE]    cli_export (cli/export.c)
 *   chatsync verify FILE [--verbose]                 cli_verify (cli/verify.c)
 *
 * Each takes the arguments from the subcommand on (argv[0] is its name) and
 * returns the process's exit status: 0 done (verify: the store matches), 1
 * failed (verify: a difference), 2 bad usage. FILE may be "-" for stdin.
 *
 * They reach Postgres with DATABASE_URL and Redis with REDIS_URL (the
 * defaults of common/config.h), as the services do.
 */
#ifndef CLI_MIGRATION_H
#define CLI_MIGRATION_H

#include "config.h"
#include "db.h"

int cli_import(int argc, char **argv);
int cli_export(int argc, char **argv);
int cli_verify(int argc, char **argv);

/* ---- shared by the three ---- */

/* A connection of its own and, when asked, the wake-up publisher. */
struct cli_migration_store {
	struct cs_config config;
	struct cs_db *db;
	struct cs_db_conn *conn;
	struct cs_events *events;
};

/* clang-format off */
#define CLI_MIGRATION_STORE_INIT { CS_CONFIG_INIT, NULL, NULL, NULL }
/* clang-format on */

/* Prints why on stderr and returns -1 when the store cannot be reached. */
int cli_migration_store_open(struct cli_migration_store *store, int with_events,
			     const char *command);
void cli_migration_store_close(struct cli_migration_store *store);

/* The export file being read, with how far the reading got (for progress). */
struct cli_migration_input {
	int fd;
	long long size; /* -1 when unknown (a pipe) */
	long long done;
};

/* clang-format off */
#define CLI_MIGRATION_INPUT_INIT { -1, -1, 0 }
/* clang-format on */

/* Opens path ("-": stdin); prints why on stderr and returns -1 when it cannot. */
int cli_migration_input_open(struct cli_migration_input *in, const char *path, const char *command);
/* A cs_jsonstream_read_fn; ctx is the struct cli_migration_input. */
long cli_migration_input_read(void *ctx, char *buf, size_t cap);
void cli_migration_input_close(struct cli_migration_input *in);

#endif
