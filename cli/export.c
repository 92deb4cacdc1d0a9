/*
 * export.c - `chatsync export [--user U]... [--output FILE]`: the store (or
 * some users of it) in the legacy export format, for a rollback
 * (migrate/exporter.h). The document goes to stdout or FILE; a summary to
 * stderr.
 */
#include "exporter.h"
#include "migration.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] = "usage: chatsync export [--user USER_ID]... [--output FILE]\n";

static int write_all(void *arg, const char *data, size_t len)
{
	int fd = *(int *)arg;

	while (len > 0) {
		ssize_t n = write(fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

struct export_args {
	const char **users;
	size_t user_count;
	const char *output;
};

static int parse_args(int argc, char **argv, struct export_args *args)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--user") && i + 1 < argc)
			args->users[args->user_count++] = argv[++i];
		else if (!strcmp(argv[i], "--output") && i + 1 < argc && !args->output)
			args->output = argv[++i];
		else
			return -1;
	}
	return 0;
}

int cli_export(int argc, char **argv)
{
	struct cli_migration_store store = CLI_MIGRATION_STORE_INIT;
	struct export_args args = { NULL, 0, NULL };
	struct cs_exporter_counts counts;
	struct cs_error err = CS_ERROR_INIT;
	int fd = STDOUT_FILENO, status = 1;

	args.users = calloc((size_t)argc, sizeof(*args.users));
	if (!args.users || parse_args(argc, argv, &args) < 0) {
		fputs(usage, stderr);
		free(args.users);
		return 2;
	}
	if (args.output) {
		fd = open(args.output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0) {
			fprintf(stderr, "chatsync export: could not create %s: %s\n", args.output,
				strerror(errno));
			goto out;
		}
	}
	if (cli_migration_store_open(&store, 0, "export") < 0)
		goto out;
	if (cs_exporter_run(store.conn, args.users, args.user_count, write_all, &fd, &counts,
			    &err) < 0) {
		fprintf(stderr, "chatsync export: %s\n", err.message);
		goto out;
	}
	if (args.output && fsync(fd) < 0) {
		fprintf(stderr, "chatsync export: could not write %s: %s\n", args.output,
			strerror(errno));
		goto out;
	}
	fprintf(stderr, "export: %lld chats, %lld messages, %lld syncStatus\n",
		counts.rows[CS_LEGACY_CHATS], counts.rows[CS_LEGACY_MESSAGES],
		counts.rows[CS_LEGACY_SYNC_STATUS]);
	status = 0;
out:
	if (args.output && fd >= 0 && close(fd) < 0 && status == 0) {
		fprintf(stderr, "chatsync export: could not write %s: %s\n", args.output,
			strerror(errno));
		status = 1;
	}
	cli_migration_store_close(&store);
	free(args.users);
	return status;
}
