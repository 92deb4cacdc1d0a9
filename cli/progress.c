/* progress.c - the terminal progress line of chatsync import/verify. */
#include "progress.h"
#include "clock.h"
#include "id.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define REDRAW_US 100000
#define BAR_WIDTH 24

void cli_progress_init(struct cli_progress *bar)
{
	memset(bar, 0, sizeof(*bar));
	bar->tty = isatty(STDERR_FILENO);
}

/* 1234567 -> "1,234,567" */
static const char *grouped(long long n, char out[32])
{
	char digits[24];
	int len = snprintf(digits, sizeof(digits), "%lld", n < 0 ? 0 : n), i, o = 0;

	for (i = 0; i < len; i++) {
		if (i > 0 && (len - i) % 3 == 0)
			out[o++] = ',';
		out[o++] = digits[i];
	}
	out[o] = '\0';
	return out;
}

void cli_progress_show(struct cli_progress *bar, const char *label, long long done, long long total,
		       long long rows)
{
	long long now = cs_clock_monotonic_us(), elapsed;
	char line[200], rows_text[32], rate_text[32];
	double rate, rows_rate;
	int n;

	if (!bar->tty)
		return;
	if (strncmp(bar->label, label, sizeof(bar->label) - 1) != 0) {
		snprintf(bar->label, sizeof(bar->label), "%s", label);
		bar->label_started_us = now;
		bar->first_done = done;
		bar->first_rows = rows;
		bar->last_draw_us = 0;
	}
	if (now - bar->last_draw_us < REDRAW_US)
		return;
	bar->last_draw_us = now;
	elapsed = now - bar->label_started_us;
	rate = elapsed > 0 ? (double)(done - bar->first_done) * 1e6 / (double)elapsed : 0;
	rows_rate = elapsed > 0 ? (double)(rows - bar->first_rows) * 1e6 / (double)elapsed : 0;
	n = snprintf(line, sizeof(line), "%-18s", label);
	if (total > 0) {
		int filled = (int)(BAR_WIDTH * (done > total ? total : done) / total), i;

		n += snprintf(line + n, sizeof(line) - (size_t)n, " [");
		for (i = 0; i < BAR_WIDTH; i++)
			line[n++] = i < filled ? '#' : '.';
		n += snprintf(line + n, sizeof(line) - (size_t)n, "] %3lld%%",
			      done >= total ? 100 : done * 100 / total);
	}
	n += snprintf(line + n, sizeof(line) - (size_t)n, "  %s rows", grouped(rows, rows_text));
	if (rows_rate >= 1)
		n += snprintf(line + n, sizeof(line) - (size_t)n, "  %s rows/s",
			      grouped((long long)rows_rate, rate_text));
	if (total > 0 && rate > 0 && done < total) {
		long long left = (long long)((double)(total - done) / rate);

		snprintf(line + n, sizeof(line) - (size_t)n, "  %lld:%02lld left", left / 60,
			 left % 60);
	}
	fprintf(stderr, "\r%s\033[K", line);
	fflush(stderr);
	bar->drawn = 1;
}

void cli_progress_clear(struct cli_progress *bar)
{
	if (bar->tty && bar->drawn) {
		fprintf(stderr, "\r\033[K");
		fflush(stderr);
	}
	bar->drawn = 0;
}
