/*
 * progress.h - a one-line progress bar on a terminal.
 *
 *   struct cli_progress bar;
 *   cli_progress_init(&bar);               // draws only when stderr is a terminal
 *   cli_progress_show(&bar, "reading", bytes, size, rows);   // as often as you like
 *   cli_progress_clear(&bar);              // before printing anything else
 *
 * The line is "label [####......]  42%  1,234,567 rows  56,789 rows/s  0:12 left",
 * redrawn at most ten times a second; percent and time left need a total
 * (> 0), and the rate counts from the first call with this label.
 */
#ifndef CLI_PROGRESS_H
#define CLI_PROGRESS_H

struct cli_progress {
	int tty;
	int drawn;
	long long label_started_us;
	long long last_draw_us;
	long long first_done;
	long long first_rows;
	char label[32];
};

void cli_progress_init(struct cli_progress *bar);
/* done of total drives the bar and the time left; rows and their rate are shown beside. */
void cli_progress_show(struct cli_progress *bar, const char *label, long long done, long long total,
		       long long rows);
void cli_progress_clear(struct cli_progress *bar);

#endif
