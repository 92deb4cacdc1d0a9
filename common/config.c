/*
 * config.c - the table of environment variables (redis config.c style: a row
 * per setting) and the loader that fills struct cs_config from it.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum setting_type { SETTING_STRING, SETTING_LONG, SETTING_OCTAL };

struct setting {
	const char *name;
	const char *default_value; /* NULL: unset unless given */
	enum setting_type type;
	long min, max;
	size_t offset;
	const char *help;
};

#define STR(field) SETTING_STRING, 0, 0, offsetof(struct cs_config, field)
#define NUM(min, max, field) SETTING_LONG, min, max, offsetof(struct cs_config, field)
/* a file mode, written and read in octal like chmod's */
#define MODE(min, max, field) SETTING_OCTAL, min, max, offsetof(struct cs_config, field)

static const struct setting settings[] = {
	{ "CHATSYNC_SOCKET", NULL, STR(socket_path),
	  "unix socket a service listens on (deploy/stack.sh sets one per service)" },
	{ "CHATSYNC_LISTEN", NULL, STR(listen_address),
	  "host:port a service listens on by TCP instead of CHATSYNC_SOCKET (one of the two; cluster nodes)" },
	{ "CHATSYNC_SOCKET_MODE", "0660", MODE(0600, 0770, socket_mode),
	  "permissions of the socket, octal; nothing for others (0600-0770)" },
	{ "CHATSYNC_SOCKET_GROUP", NULL, STR(socket_group),
	  "group given the socket, e.g. nginx workers' (the service must be a member); unset: the process's" },
	{ "CHATSYNC_THREADS", "32", NUM(1, 20000, threads),
	  "worker threads per service process (sync-svc: also its live-request budget)" },
	{ "CHATSYNC_THREAD_STACK_KB", "256", NUM(64, 65536, thread_stack_kb),
	  "stack size of each worker thread" },
	{ "CHATSYNC_MAX_BODY", "8388608", NUM(1024, 1L << 32, max_body),
	  "largest request body a service reads, in bytes (import-svc: set higher)" },
	{ "DATABASE_URL", "postgresql://chatsync@127.0.0.1:15432/chatsync", STR(database_url),
	  "Postgres connection string" },
	{ "DATABASE_REPLICA_URL", NULL, STR(database_replica_url),
	  "Postgres streaming replica sync-svc reads the change feed from; unset: the primary (DATABASE_URL)" },
	{ "DB_POOL_SIZE", "4", NUM(1, 256, db_pool_size),
	  "Postgres connections per service process, borrowed per request" },
	{ "DB_ACQUIRE_TIMEOUT_MS", "5000", NUM(1, 600000, db_acquire_timeout_ms),
	  "longest wait for a pooled connection before answering 503" },
	{ "DB_POOL_USER_MAX", "2", NUM(1, 256, db_pool_user_max),
	  "pooled connections one user's requests hold at once in a process (the rest wait)" },
	{ "DB_STATEMENT_TIMEOUT_MS", "5000", NUM(100, 3600000, db_statement_timeout_ms),
	  "Postgres statement_timeout: a longer statement is cancelled (503)" },
	{ "DB_LOCK_TIMEOUT_MS", "2000", NUM(10, 3600000, db_lock_timeout_ms),
	  "Postgres lock_timeout: a longer lock wait (another write of the user) gives 503" },
	{ "DB_IDLE_IN_TRANSACTION_TIMEOUT_MS", "10000",
	  NUM(100, 3600000, db_idle_in_transaction_timeout_ms),
	  "Postgres idle_in_transaction_session_timeout: ends a session stalled mid-transaction" },
	{ "DB_BULK_TIMEOUT_MS", "600000", NUM(1000, 86400000, db_bulk_timeout_ms),
	  "statement and idle-in-transaction timeout of import, export and verify sessions" },
	{ "DB_CONNECT_TIMEOUT_S", "3", NUM(2, 600, db_connect_timeout_s),
	  "longest wait to open a Postgres connection (libpq connect_timeout; 2 at least)" },
	{ "DB_KEEPALIVES_IDLE_S", "10", NUM(1, 7200, db_keepalives_idle_s),
	  "idle seconds before TCP keepalive probes a Postgres connection" },
	{ "DB_KEEPALIVES_INTERVAL_S", "5", NUM(1, 600, db_keepalives_interval_s),
	  "seconds between TCP keepalive probes" },
	{ "DB_KEEPALIVES_COUNT", "3", NUM(1, 100, db_keepalives_count),
	  "unanswered keepalive probes before the connection counts as dead" },
	{ "DB_TCP_USER_TIMEOUT_MS", "25000", NUM(0, 3600000, db_tcp_user_timeout_ms),
	  "longest time sent data may stay unacknowledged before the connection is dropped (0: the system's)" },
	{ "REDIS_URL", "redis://127.0.0.1:16379", STR(redis_url),
	  "Redis for wake-ups (redis://host:port)" },
	{ "REDIS_CLUSTER_NODES", NULL, STR(redis_cluster_nodes),
	  "Redis Cluster seed nodes, host:port,host:port (any of its nodes); set: REDIS_URL is not used" },
	{ "REDIS_STREAM_MAXLEN", "100000", NUM(100, 100000000, redis_stream_maxlen),
	  "approximate length each wake-up stream is trimmed to" },
	{ "REDIS_CONNECT_TIMEOUT_MS", "300", NUM(10, 60000, redis_connect_timeout_ms),
	  "longest wait to connect to Redis" },
	{ "REDIS_COMMAND_TIMEOUT_MS", "300", NUM(10, 60000, redis_command_timeout_ms),
	  "longest a write waits to publish its wake-up (lock, connect and reply together)" },
	{ "REDIS_RETRY_MS", "1000", NUM(0, 600000, redis_retry_ms),
	  "after a Redis failure, wake-ups are skipped (not tried) for this long" },
	{ "REDIS_PUBLISH_QUEUE", "4096", NUM(16, 1000000, redis_publish_queue),
	  "wake-ups waiting for the publisher thread at most; past it one is dropped (a delay)" },
	{ "CLERK_JWT_ISSUER_DOMAIN", NULL, STR(issuer),
	  "token issuer (Clerk Frontend API domain, with or without https://); required" },
	{ "CLERK_AUTHORIZED_PARTIES", NULL, STR(authorized_parties),
	  "comma-separated origins allowed in a token's azp; unset: azp not checked" },
	{ "JWT_AUDIENCE", NULL, STR(audience),
	  "required aud claim (a Clerk JWT template such as convex); unset: not checked" },
	{ "JWKS_FILE", NULL, STR(jwks_file),
	  "read the signing keys from this file (development, tests)" },
	{ "JWKS_URL", NULL, STR(jwks_url),
	  "fetch the signing keys from here; default https://<issuer>/.well-known/jwks.json" },
	{ "JWT_LEEWAY_S", "5", NUM(0, 300, jwt_leeway_s),
	  "clock leeway for exp, nbf and iat, in seconds" },
	{ "JWT_ALGORITHMS", "RS256", STR(jwt_algorithms),
	  "comma-separated signature algorithms accepted" },
	{ "IMPORT_TOKEN", NULL, STR(import_token),
	  "service token for /api/import and /api/export; unset: those endpoints answer 401" },
	{ "SYNC_LIVE_MAX", "6000", NUM(1, 100000, live_max),
	  "live (long-poll and SSE) requests one sync-svc process holds at once" },
	{ "SYNC_LIVE_PER_USER", "16", NUM(1, 100000, live_per_user),
	  "live requests one user holds at once in a sync-svc process; past it: 429" },
	{ "SYNC_LIVE_RECHECK_MS", "2000", NUM(50, 60000, live_recheck_ms),
	  "how often a waiting live request re-checks Postgres without a wake-up" },
	{ "SYNC_REPLICA_WAIT_MS", "250", NUM(0, 10000, replica_wait_ms),
	  "longest a sync read waits for the replica to reach the version it needs, then reads the primary" },
	{ "SYNC_REPLICA_TIMEOUT_MS", "500", NUM(100, 60000, replica_timeout_ms),
	  "statement_timeout of the replica's reads (a silent replica: this plus 1 s), then the primary" },
	{ "SYNC_REPLICA_RETRY_MS", "5000", NUM(0, 600000, replica_retry_ms),
	  "after a replica read fails or times out, sync reads skip the replica for this long" },
	{ "SYNC_SSE_PING_S", "10", NUM(1, 60, sse_ping_s),
	  "interval of the SSE keep-alive comment" },
	{ "STREAM_FLUSH_MS", "250", NUM(10, 60000, stream_flush_ms),
	  "a streamed reply's text reaches Postgres at most this often (one row update per window)" },
	{ "STREAM_IDLE_TIMEOUT_MS", "30000", NUM(1000, 3600000, stream_idle_timeout_ms),
	  "a streamed reply with no chunk for this long is ended as error by the server" },
};

static int load_setting(struct cs_config *cfg, const struct setting *s, char *err, size_t errlen)
{
	const char *value = getenv(s->name);
	char *field = (char *)cfg + s->offset;

	if (!value || !*value)
		value = s->default_value;
	if (s->type == SETTING_STRING) {
		char **target = (char **)(void *)field;

		*target = NULL;
		if (value && !(*target = strdup(value))) {
			snprintf(err, errlen, "%s: out of memory", s->name);
			return -1;
		}
		return 0;
	}

	char *end;
	long parsed;

	errno = 0;
	parsed = strtol(value, &end, s->type == SETTING_OCTAL ? 8 : 10);
	if (errno || end == value || *end || parsed < s->min || parsed > s->max) {
		if (s->type == SETTING_OCTAL)
			snprintf(err, errlen,
				 "%s: must be an octal mode from %04lo to %04lo, got \"%s\"",
				 s->name, s->min, s->max, value);
		else
			snprintf(err, errlen, "%s: must be an integer from %ld to %ld, got \"%s\"",
				 s->name, s->min, s->max, value);
		return -1;
	}
	*(long *)(void *)field = parsed;
	return 0;
}

int cs_config_load(struct cs_config *cfg, char *err, size_t errlen)
{
	size_t i;

	memset(cfg, 0, sizeof(*cfg));
	for (i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
		if (load_setting(cfg, &settings[i], err, errlen) < 0) {
			cs_config_release(cfg);
			return -1;
		}
	}
	return 0;
}

void cs_config_release(struct cs_config *cfg)
{
	size_t i;

	for (i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
		if (settings[i].type == SETTING_STRING) {
			char **target = (char **)(void *)((char *)cfg + settings[i].offset);

			free(*target);
			*target = NULL;
		}
	}
}

void cs_config_print_table(FILE *out)
{
	size_t i;

	fprintf(out, "| variable | default | what it does |\n|---|---|---|\n");
	for (i = 0; i < sizeof(settings) / sizeof(settings[0]); i++)
		fprintf(out, "| `%s` | %s%s%s | %s |\n", settings[i].name,
			settings[i].default_value ? "`" : "",
			settings[i].default_value ? settings[i].default_value : "(unset)",
			settings[i].default_value ? "`" : "", settings[i].help);
}
