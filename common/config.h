/*
 * config.h - the process's settings, read once from the environment.
 *
 * One table (config.c) lists every variable: its name, default, bounds and
 * what it does; the README's configuration table is the same list
 * (`bin/chatsync config` prints it). cs_config_load fails on the first bad
 * value with a message that names the variable. Strings in the struct are
 * owned by it and freed by cs_config_release.
 */
#ifndef CS_CONFIG_H
#define CS_CONFIG_H

#include <stddef.h>
#include <stdio.h>

struct cs_config {
	/* process */
	char *socket_path;    /* CHATSYNC_SOCKET */
	char *listen_address; /* CHATSYNC_LISTEN */
	long socket_mode;     /* CHATSYNC_SOCKET_MODE */
	char *socket_group;   /* CHATSYNC_SOCKET_GROUP */
	long threads;         /* CHATSYNC_THREADS */
	long thread_stack_kb; /* CHATSYNC_THREAD_STACK_KB */
	long max_body;        /* CHATSYNC_MAX_BODY */
	/* stores */
	char *database_url;                     /* DATABASE_URL */
	char *database_replica_url;             /* DATABASE_REPLICA_URL */
	long db_pool_size;                      /* DB_POOL_SIZE */
	long db_acquire_timeout_ms;             /* DB_ACQUIRE_TIMEOUT_MS */
	long db_pool_user_max;                  /* DB_POOL_USER_MAX */
	long db_statement_timeout_ms;           /* DB_STATEMENT_TIMEOUT_MS */
	long db_lock_timeout_ms;                /* DB_LOCK_TIMEOUT_MS */
	long db_idle_in_transaction_timeout_ms; /* DB_IDLE_IN_TRANSACTION_TIMEOUT_MS */
	long db_bulk_timeout_ms;                /* DB_BULK_TIMEOUT_MS */
	long db_connect_timeout_s;              /* DB_CONNECT_TIMEOUT_S */
	long db_keepalives_idle_s;              /* DB_KEEPALIVES_IDLE_S */
	long db_keepalives_interval_s;          /* DB_KEEPALIVES_INTERVAL_S */
	long db_keepalives_count;               /* DB_KEEPALIVES_COUNT */
	long db_tcp_user_timeout_ms;            /* DB_TCP_USER_TIMEOUT_MS */
	char *redis_url;                        /* REDIS_URL */
	char *redis_cluster_nodes;              /* REDIS_CLUSTER_NODES */
	long redis_stream_maxlen;               /* REDIS_STREAM_MAXLEN */
	long redis_connect_timeout_ms;          /* REDIS_CONNECT_TIMEOUT_MS */
	long redis_command_timeout_ms;          /* REDIS_COMMAND_TIMEOUT_MS */
	long redis_retry_ms;                    /* REDIS_RETRY_MS */
	long redis_publish_queue;               /* REDIS_PUBLISH_QUEUE */
	/* auth */
	char *issuer;             /* CLERK_JWT_ISSUER_DOMAIN */
	char *authorized_parties; /* CLERK_AUTHORIZED_PARTIES */
	char *audience;           /* JWT_AUDIENCE */
	char *jwks_file;          /* JWKS_FILE */
	char *jwks_url;           /* JWKS_URL */
	long jwt_leeway_s;        /* JWT_LEEWAY_S */
	char *jwt_algorithms;     /* JWT_ALGORITHMS */
	char *import_token;       /* IMPORT_TOKEN */
	/* sync */
	long live_max;           /* SYNC_LIVE_MAX */
	long live_per_user;      /* SYNC_LIVE_PER_USER */
	long live_recheck_ms;    /* SYNC_LIVE_RECHECK_MS */
	long sse_ping_s;         /* SYNC_SSE_PING_S */
	long replica_wait_ms;    /* SYNC_REPLICA_WAIT_MS */
	long replica_timeout_ms; /* SYNC_REPLICA_TIMEOUT_MS */
	long replica_retry_ms;   /* SYNC_REPLICA_RETRY_MS */
	/* streamed replies */
	long stream_flush_ms;        /* STREAM_FLUSH_MS */
	long stream_idle_timeout_ms; /* STREAM_IDLE_TIMEOUT_MS */
};

/* clang-format off */
#define CS_CONFIG_INIT { 0 }
/* clang-format on */

int cs_config_load(struct cs_config *cfg, char *err, size_t errlen);
void cs_config_release(struct cs_config *cfg);
/* Prints the table as Markdown rows: | name | default | description |. */
void cs_config_print_table(FILE *out);

#endif
