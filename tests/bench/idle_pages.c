/*
 * idle_pages.c - what touching memory again costs after the process sat idle.
 *
 *     idle_pages [MIB]    (default 64)
 *
 * Touches MIB of its own memory, then reads one byte per page of it again
 * after sleeping 0.1 s and after sleeping 5 s, twice each, and prints one
 * JSON line with the means in ms. Where the two differ, a process idle
 * for seconds (a service between two loads) pays for every page it touches
 * first: the first tenths of a second of a load then measure the machine,
 * not the code (run.sh's fixed-rate warm-up, docs/BENCHMARKS.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PAGE 4096
#define REPEATS 2

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void pause_ms(long ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&t, &t) != 0)
		;
}

/* ms to read one byte of every page, after `idle_ms` asleep */
static double touch_after(volatile const unsigned char *memory, size_t size, long idle_ms)
{
	double start;

	pause_ms(idle_ms);
	start = now_ms();
	for (size_t i = 0; i < size; i += PAGE)
		(void)memory[i]; /* volatile: each read happens */
	return now_ms() - start;
}

int main(int argc, char **argv)
{
	long mib = argc > 1 ? strtol(argv[1], NULL, 10) : 64;
	size_t size;
	unsigned char *memory;
	double shortgap[REPEATS], longgap[REPEATS];

	if (mib < 1 || mib > 4096) {
		fprintf(stderr, "idle_pages: MIB must be 1 to 4096\n");
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
		shortgap[i] = touch_after(memory, size, 100);
		longgap[i] = touch_after(memory, size, 5000);
	}
	printf("{\"mib\": %ld, \"after_0_1s_ms\": %.2f, \"after_5s_ms\": %.2f}\n", mib,
	       (shortgap[0] + shortgap[1]) / 2, (longgap[0] + longgap[1]) / 2);
	free(memory);
	return 0;
}
