/*
 * legacy_stage_internal.h - what the two halves of row staging share: the
 * reader of one row and its typed reads (legacy_stage.c), and the checks of
 * each table's own columns (legacy_tables.c). Nothing outside
 * migrate/legacy_stage.c and migrate/legacy_tables.c includes it.
 */
#ifndef CS_LEGACY_STAGE_INTERNAL_H
#define CS_LEGACY_STAGE_INTERNAL_H

#include "legacy_internal.h"

#define REASON_MAX 256
#define SHORT_TEXT 64 /* times, roles, numbers: longer is wrong */

/*
 * The members a row is read by: its table's exported columns (common/schema.h,
 * indexed by CS_LEGACY_*_COL_*), then the members that fill in for one.
 */
#define K_SYNC_STATUS_CREATED_AT CS_LEGACY_SYNC_STATUS_COLUMN_COUNT /* updated_at's fallback */
#define KEYS_MAX (CS_LEGACY_MAX_COLUMNS + 1)

struct cs_legacy_span {
	const char *p; /* NULL: the member is absent */
	size_t len;
};

/* What a column's field in the staging line is. */
enum cs_legacy_how {
	V_UNSET, /* not read yet: read by its format (read_column) */
	V_NULL,
	V_STRING, /* a JSON string literal, decoded into COPY text */
	V_RAW,    /* JSON text as written */
	V_INT,
	V_BOOL,
	V_EMPTY_ARRAY
};

struct cs_legacy_value {
	enum cs_legacy_how how;
	const struct cs_legacy_span *s;
	long long n;
};

struct cs_legacy_reader {
	const struct cs_legacy_column *columns;
	int count;                   /* columns */
	int keys;                    /* names: the columns, then the fill-ins */
	const char *names[KEYS_MAX]; /* the members */
	struct cs_legacy_span field[KEYS_MAX];
	struct cs_legacy_value value[CS_LEGACY_MAX_COLUMNS];
	struct cs_buf decoded; /* scratch: a string decoded to check it */
	char reason[REASON_MAX];
};

/* The row's reason for being rejected (always -1, to return). */
int cs_legacy__reject(struct cs_legacy_reader *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Reading a member (legacy_stage.c); each read sets the column's value or rejects (-1). */
const struct cs_legacy_span *cs_legacy__member(const struct cs_legacy_reader *r, int k);
int cs_legacy__is_string(const struct cs_legacy_span *s);
void cs_legacy__set(struct cs_legacy_reader *r, int k, enum cs_legacy_how how,
		    const struct cs_legacy_span *s, long long n);
int cs_legacy__read_id(struct cs_legacy_reader *r, int k, int required);
int cs_legacy__read_string(struct cs_legacy_reader *r, int k, struct cs_legacy_text *t);
int cs_legacy__read_text(struct cs_legacy_reader *r, int k);
int cs_legacy__short_string(const struct cs_legacy_span *s, char out[SHORT_TEXT]);
int cs_legacy__number(const struct cs_legacy_span *s, double *value);
int cs_legacy__read_time(struct cs_legacy_reader *r, int k, long long *ms);
int cs_legacy__read_times(struct cs_legacy_reader *r, int k_time, int k_created, int k_updated);
int cs_legacy__read_bool(struct cs_legacy_reader *r, int k);
int cs_legacy__read_raw(struct cs_legacy_reader *r, int k);

/* A row's own checks, one per table (legacy_tables.c); 0, or -1 with r->reason. */
int cs_legacy__read_chat(struct cs_legacy_reader *r);
int cs_legacy__read_message(struct cs_legacy_reader *r);
int cs_legacy__read_sync_status(struct cs_legacy_reader *r);

#endif
