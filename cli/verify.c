/*
 * verify.c - `chatsync verify FILE [--verbose]`: does the store hold exactly
 * the file's accepted rows? Reads the file as an import would (nothing is
 * written), then compares (migrate/verify.h). Prints every difference and a
 * verdict on stdout; exit status 0 only when there is none.
 */
#include "id.h"
#include "importer.h"
#include "migration.h"
#include "progress.h"
#include "verify.h"

#include <stdio.h>
#include <string.h>

static const char usage[] = "usage: chatsync verify FILE [--verbose]\n";

struct verify_ui {
	struct cli_progress bar;
	struct cli_migration_input *in;
};

static void on_progress(void *arg, const struct cs_importer_progress *p)
{
	struct verify_ui *ui = arg;
	char label[32];

	if (p->step == CS_IMPORTER_READING) {
		cli_progress_show(&ui->bar, "reading", ui->in->done, ui->in->size, p->rows);
	} else if (p->step == CS_IMPORTER_CHECKING) {
		snprintf(label, sizeof(label), "checking %s", cs_legacy_member(p->table));
		cli_progress_show(&ui->bar, label, 0, 0, p->total);
	}
}

static void print_line(void *arg, const char *line)
{
	struct verify_ui *ui = arg;

	cli_progress_clear(&ui->bar);
	printf("%s\n", line);
}

static void print_file_counts(struct cs_importer *imp)
{
	int t;

	for (t = 0; t < CS_LEGACY_TABLES; t++) {
		const struct cs_importer_counts *c =
			cs_importer_counts(imp, (enum cs_legacy_table)t);

		printf("file: %s: %lld rows, %lld accepted, %lld duplicates, %lld rejected\n",
		       cs_legacy_member((enum cs_legacy_table)t), c->read,
		       c->inserted + c->skipped - c->duplicates, c->duplicates, c->rejected);
	}
}

static void print_verdict(const struct cs_verify_result *r)
{
	long long file = 0, store = 0;
	int t;

	for (t = 0; t < CS_LEGACY_TABLES; t++) {
		printf("store: %s: %lld rows of the file's users, %lld in the file\n",
		       cs_legacy_member((enum cs_legacy_table)t), r->rows_store[t],
		       r->rows_file[t]);
		file += r->rows_file[t];
		store += r->rows_store[t];
	}
	if (r->differences == 0)
		printf("verify: OK: the store holds exactly the file's %lld accepted rows "
		       "(%lld users)\n",
		       file, r->users);
	else
		printf("verify: %lld difference%s (%lld users, %lld rows in the file, %lld in the "
		       "store)\n",
		       r->differences, r->differences == 1 ? "" : "s", r->users, file, store);
}

int cli_verify(int argc, char **argv)
{
	struct cli_migration_store store = CLI_MIGRATION_STORE_INIT;
	struct cli_migration_input in = CLI_MIGRATION_INPUT_INIT;
	struct verify_ui ui;
	struct cs_error err = CS_ERROR_INIT;
	struct cs_importer *imp = NULL;
	struct cs_importer_options options = { NULL, 0, on_progress, &ui };
	struct cs_verify_result result;
	const char *path = NULL;
	int verbose = 0, status = 1, i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--verbose"))
			verbose = 1;
		else if (path || (argv[i][0] == '-' && argv[i][1] != '\0'))
			path = NULL, i = argc + 1;
		else
			path = argv[i];
	}
	if (!path || i > argc) {
		fputs(usage, stderr);
		return 2;
	}
	cli_progress_init(&ui.bar);
	ui.in = &in;
	if (cli_migration_input_open(&in, path, "verify") < 0 ||
	    cli_migration_store_open(&store, 0, "verify") < 0)
		goto out;
	if (cs_importer_new(store.conn, &options, &imp, &err) < 0 ||
	    cs_importer_stage(imp, cli_migration_input_read, &in, &err) < 0 ||
	    cs_importer_check(imp, &err) < 0 ||
	    cs_verify_compare(imp, verbose, print_line, &ui, &result, &err) < 0) {
		cli_progress_clear(&ui.bar);
		fprintf(stderr, "chatsync verify: %s\n", err.message);
		goto out;
	}
	cli_progress_clear(&ui.bar);
	print_file_counts(imp);
	print_verdict(&result);
	status = result.differences == 0 ? 0 : 1;
out:
	fflush(stdout);
	cs_importer_free(imp);
	cli_migration_store_close(&store);
	cli_migration_input_close(&in);
	return status;
}
