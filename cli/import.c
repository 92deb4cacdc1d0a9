/*
 * import.c - `chatsync import FILE [--dry-run] [--json]`: a legacy export
 * into the store, streaming, through the same core as POST /api/import
 * (migrate/importer.h).
 *
 * --batch-rows N writes at most N rows per transaction (default
 * CS_IMPORTER_BATCH_ROWS): smaller batches hold the users' version locks for
 * less time while the store is live.
 *
 * Output: on a terminal a progress bar on stderr; on stdout one summary line
 * per table as it completes, every rejected row with its id and reason, and a
 * total. With --json, stdout is the API.md report instead.
 */
#include "buf.h"
#include "clock.h"
#include "id.h"
#include "importer.h"
#include "migration.h"
#include "progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] = "usage: chatsync import FILE [--dry-run] [--json] [--batch-rows N]\n";

struct import_ui {
	struct cli_progress bar;
	struct cli_migration_input *in;
	int json;
	int dry_run;
	long long batch_rows;
	long long started_us;
	long long table_started_us;
};

static void show_table_done(struct import_ui *ui, const struct cs_importer_progress *p)
{
	const struct cs_importer_counts *c = p->counts;
	long long us = cs_clock_monotonic_us() - ui->table_started_us;

	cli_progress_clear(&ui->bar);
	if (ui->json)
		return;
	printf("%s: read %lld, %s %lld, skipped %lld, rejected %lld (%.0f rows/s)\n",
	       cs_legacy_member(p->table), c->read, ui->dry_run ? "would insert" : "inserted",
	       c->inserted, c->skipped, c->rejected,
	       us > 0 ? (double)c->read * 1e6 / (double)us : 0.0);
	fflush(stdout);
}

static void on_progress(void *arg, const struct cs_importer_progress *p)
{
	struct import_ui *ui = arg;
	char label[32];

	switch (p->step) {
	case CS_IMPORTER_READING:
		cli_progress_show(&ui->bar, "reading", ui->in->done, ui->in->size, p->rows);
		break;
	case CS_IMPORTER_CHECKING:
		ui->table_started_us = cs_clock_monotonic_us();
		snprintf(label, sizeof(label), "checking %s", cs_legacy_member(p->table));
		cli_progress_show(&ui->bar, label, 0, 0, p->total);
		break;
	case CS_IMPORTER_WRITING:
		snprintf(label, sizeof(label), "writing %s", cs_legacy_member(p->table));
		cli_progress_show(&ui->bar, label, p->rows, p->total, p->rows);
		break;
	case CS_IMPORTER_DONE:
		show_table_done(ui, p);
		break;
	}
}

static int print_reject(void *arg, enum cs_legacy_table table, const char *id, long long index,
			const char *reason)
{
	(void)arg;
	if (id)
		printf("rejected %s \"%s\" (row %lld): %s\n", cs_legacy_member(table), id, index,
		       reason);
	else
		printf("rejected %s row %lld: %s\n", cs_legacy_member(table), index, reason);
	return 0;
}

static int print_report(struct cs_importer *imp, const struct import_ui *ui, struct cs_error *err)
{
	struct cs_buf json = CS_BUF_INIT;
	long long read = 0, us = cs_clock_monotonic_us() - ui->started_us;
	int t, rc = 0;

	if (ui->json) {
		rc = cs_importer_report_json(imp, &json, err);
		if (rc == 0)
			printf("%s\n", json.data);
		cs_buf_release(&json);
		return rc;
	}
	if (cs_importer_each_reject(imp, print_reject, NULL, err) < 0)
		return -1;
	for (t = 0; t < CS_LEGACY_TABLES; t++)
		read += cs_importer_counts(imp, (enum cs_legacy_table)t)->read;
	printf("import: %lld rows in %.1f s (%.0f rows/s)%s\n", read, (double)us / 1e6,
	       us > 0 ? (double)read * 1e6 / (double)us : 0.0,
	       ui->dry_run ? "; dry run: nothing was written" : "");
	return 0;
}

static int parse_args(int argc, char **argv, const char **path, struct import_ui *ui)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--dry-run"))
			ui->dry_run = 1;
		else if (!strcmp(argv[i], "--json"))
			ui->json = 1;
		else if (!strcmp(argv[i], "--batch-rows") && i + 1 < argc &&
			 (ui->batch_rows = strtoll(argv[++i], NULL, 10)) > 0)
			continue;
		else if ((argv[i][0] == '-' && argv[i][1] != '\0') || *path)
			return -1; /* an unknown option, or a second path */
		else
			*path = argv[i];
	}
	return *path ? 0 : -1;
}

int cli_import(int argc, char **argv)
{
	struct cli_migration_store store = CLI_MIGRATION_STORE_INIT;
	struct cli_migration_input in = CLI_MIGRATION_INPUT_INIT;
	struct import_ui ui = { 0 };
	struct cs_error err = CS_ERROR_INIT;
	struct cs_importer *imp = NULL;
	struct cs_importer_options options = { NULL, 0, on_progress, &ui };
	const char *path = NULL;
	int status = 1;

	if (parse_args(argc, argv, &path, &ui) < 0) {
		fputs(usage, stderr);
		return 2;
	}
	cli_progress_init(&ui.bar);
	ui.in = &in;
	ui.started_us = cs_clock_monotonic_us();
	if (cli_migration_input_open(&in, path, "import") < 0 ||
	    cli_migration_store_open(&store, !ui.dry_run, "import") < 0)
		goto out;
	options.events = store.events;
	options.batch_rows = ui.batch_rows;
	if (cs_importer_new(store.conn, &options, &imp, &err) < 0 ||
	    cs_importer_stage(imp, cli_migration_input_read, &in, &err) < 0 ||
	    (ui.dry_run ? cs_importer_check(imp, &err) : cs_importer_write(imp, &err)) < 0 ||
	    print_report(imp, &ui, &err) < 0) {
		cli_progress_clear(&ui.bar);
		fprintf(stderr, "chatsync import: %s%s\n", err.message,
			err.status == 400 ? "; nothing was written" : "");
		goto out;
	}
	status = 0;
out:
	fflush(stdout);
	cs_importer_free(imp);
	cli_migration_store_close(&store);
	cli_migration_input_close(&in);
	return status;
}
