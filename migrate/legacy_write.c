/*
 * legacy_write.c - the legacy JSON writer: a row of the store, as selected
 * with CS_LEGACY_*_SELECT, written back as a legacy row (for export): its
 * columns in their order, each as its format says (cs_legacy_columns).
 */
#include "legacy.h"
#include "timestamp.h"

#include <stdlib.h>

/* ---- store rows back to legacy rows ---- */

/* "key": with the comma that separates it from the member before. */
static void json_key(struct cs_buf *out, const char *key)
{
	if (out->len > 0 && out->data[out->len - 1] != '{')
		cs_buf_putc(out, ',');
	cs_buf_printf(out, "\"%s\":", key);
}

static void json_text(struct cs_buf *out, const char *key, const PGresult *res, int row, int col)
{
	json_key(out, key);
	if (PQgetisnull(res, row, col))
		cs_buf_puts(out, "null");
	else
		cs_buf_json_string(out, PQgetvalue(res, row, col),
				   (size_t)PQgetlength(res, row, col));
}

/* A column as it is: a number or JSON text (null when NULL). */
static void json_raw(struct cs_buf *out, const char *key, const PGresult *res, int row, int col)
{
	json_key(out, key);
	if (PQgetisnull(res, row, col))
		cs_buf_puts(out, "null");
	else
		cs_buf_append(out, PQgetvalue(res, row, col), (size_t)PQgetlength(res, row, col));
}

static void json_time(struct cs_buf *out, const char *key, const PGresult *res, int row, int col)
{
	char iso[CS_TIMESTAMP_MAX];

	json_key(out, key);
	if (PQgetisnull(res, row, col)) {
		cs_buf_puts(out, "null");
		return;
	}
	cs_timestamp_format(strtoll(PQgetvalue(res, row, col), NULL, 10), iso);
	cs_buf_printf(out, "\"%s\"", iso);
}

static void json_bool(struct cs_buf *out, const char *key, const PGresult *res, int row, int col)
{
	json_key(out, key);
	cs_buf_puts(out, PQgetvalue(res, row, col)[0] == 't' ? "true" : "false");
}

void cs_legacy_write_row(enum cs_legacy_table table, const PGresult *res, int row,
			 struct cs_buf *out)
{
	int count, col;
	const struct cs_legacy_column *columns = cs_legacy_columns(table, &count);

	cs_buf_putc(out, '{');
	for (col = 0; col < count; col++) {
		const char *key = columns[col].name;

		switch (columns[col].format) {
		case CS_LEGACY_FORMAT_ID:
		case CS_LEGACY_FORMAT_TEXT:
			json_text(out, key, res, row, col);
			break;
		case CS_LEGACY_FORMAT_TIME:
			json_time(out, key, res, row, col);
			break;
		case CS_LEGACY_FORMAT_RAW:
		case CS_LEGACY_FORMAT_INT:
			json_raw(out, key, res, row, col);
			break;
		case CS_LEGACY_FORMAT_BOOL:
			json_bool(out, key, res, row, col);
			break;
		}
	}
	cs_buf_putc(out, '}');
}
