/* migration.c - the store connection and the input file of the migration subcommands. */
#include "migration.h"
#include "events.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ACQUIRE_TIMEOUT_MS 10000

int cli_migration_store_open(struct cli_migration_store *store, int with_events,
			     const char *command)
{
	struct cs_error err = CS_ERROR_INIT;
	struct cs_events_options events;
	char why[256];

	cs_log_init("chatsync");
	if (cs_config_load(&store->config, why, sizeof(why)) < 0) {
		fprintf(stderr, "chatsync %s: %s\n", command, why);
		return -1;
	}
	/* one connection, held for the whole command */
	store->config.db_pool_size = 1;
	store->config.db_acquire_timeout_ms = ACQUIRE_TIMEOUT_MS;
	if (cs_db_new(&store->config, NULL, 0, &store->db, why, sizeof(why)) < 0) {
		fprintf(stderr, "chatsync %s: %s\n", command, why);
		return -1;
	}
	if (cs_db_acquire(store->db, &store->conn, &err) < 0 || cs_db_bulk(store->conn, &err) < 0) {
		fprintf(stderr,
			"chatsync %s: could not connect to the database (DATABASE_URL): %s\n",
			command, err.message);
		return -1;
	}
	cs_events_options_from(&events, &store->config);
	if (with_events && cs_events_new(&events, &store->events, why, sizeof(why)) < 0) {
		fprintf(stderr, "chatsync %s: %s\n", command, why);
		return -1;
	}
	return 0;
}

void cli_migration_store_close(struct cli_migration_store *store)
{
	cs_db_release(store->conn);
	store->conn = NULL;
	cs_db_free(store->db);
	store->db = NULL;
	cs_events_free(store->events);
	store->events = NULL;
	cs_config_release(&store->config);
}

int cli_migration_input_open(struct cli_migration_input *in, const char *path, const char *command)
{
	struct stat st;

	in->fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	if (in->fd < 0) {
		fprintf(stderr, "chatsync %s: could not open %s: %s\n", command, path,
			strerror(errno));
		return -1;
	}
	in->size = fstat(in->fd, &st) == 0 && S_ISREG(st.st_mode) ? (long long)st.st_size : -1;
	in->done = 0;
	/* read once, front to back: let the kernel read ahead */
	posix_fadvise(in->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	return 0;
}

long cli_migration_input_read(void *ctx, char *buf, size_t cap)
{
	struct cli_migration_input *in = ctx;
	ssize_t n;

	do
		n = read(in->fd, buf, cap);
	while (n < 0 && errno == EINTR);
	if (n > 0)
		in->done += n;
	return (long)n;
}

void cli_migration_input_close(struct cli_migration_input *in)
{
	if (in->fd > STDIN_FILENO)
		close(in->fd);
	in->fd = -1;
}
