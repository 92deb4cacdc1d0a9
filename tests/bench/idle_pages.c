/*
 * idle_pages.c - what touching memory again costs after the process sat idle.
 *
 *     idle_pages [MIB]    (default 64)
 *
 * Touches MIB of its own memory, then reads one byte per page of it again
 * after sleeping 0.1 s and after sleeping 5 s, twice each, and prints one
 * JSON line: the mean ms of each, and the minor page faults the reads took
 * (0 when the pages stayed mapped, so that a difference is not a fault).
 * Where the two differ, a process idle for seconds between two loads (a
 * service, a Postgres backend) may pay the difference on the pages it
 * touches first: one of the costs of a load's start that run.sh's
 * fixed-rate warm-up keeps out of the p99 (docs/BENCHMARKS.md).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define PAGE 4096
#define REPEATS 2

struct touch {
	double ms;
	long minor_faults;
};

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static long minor_faults(void)
{
	struct rusage usage;

	getrusage(RUSAGE_SELF, &usage);
	return usage.ru_minflt;
}

static void pause_ms(long ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&t, &t) != 0 && errno == EINTR)
		;
}

/* one byte of every page, read after `idle_ms` asleep; added to *sum */
static void touch_after(volatile const unsigned char *memory, size_t size, long idle_ms,
			struct touch *sum)
{
	double start;
	long faults;

	pause_ms(idle_ms);
	faults = minor_faults();
	start = now_ms();
	for (size_t i = 0; i < size; i += PAGE)
		(void)memory[i]; /* volatile: each read happens */
	sum->ms += now_ms() - start;
	sum->minor_faults += minor_faults() - faults;
}

int main(int argc, char **argv)
{
	char *end = NULL;
	long mib = argc > 1 ? strtol(argv[1], &end, 10) : 64;
	struct touch shortgap = { 0, 0 }, longgap = { 0, 0 };
	unsigned char *memory;
	size_t size;

	if ((end && *end) || mib < 1 || mib > 4096) {
		fprintf(stderr, "idle_pages: MIB must be a number of 1 to 4096\n");
		return 2;
	}
	size = (size_t)mib << 20;
	memory = malloc(size);
	if (!memory) {
		fprintf(stderr, "idle_pages: could not allocate %ld MiB\n", mib);
		return 1;
	}
	memset(memory, 1, size);
	for (int i = 0; i < REPEATS; i++) {
		touch_after(memory, size, 100, &shortgap);
		touch_after(memory, size, 5000, &longgap);
	}
	printf("{\"mib\": %ld, \"after_0_1s_ms\": %.2f, \"after_5s_ms\": %.2f, "
	       "\"minor_faults_0_1s\": %ld, \"minor_faults_5s\": %ld}\n",
	       mib, shortgap.ms / REPEATS, longgap.ms / REPEATS, shortgap.minor_faults / REPEATS,
	       longgap.minor_faults / REPEATS);
	free(memory);
	return 0;
}
