/*
 * clock.h - the two clocks: wall time for what is stored or shown, and a
 * monotonic clock for every duration and the timeouts we count ourselves (it
 * never jumps back when the wall clock is set); and the absolute deadlines the
 * POSIX waits take, on the clock each wait wants.
 */
#ifndef CS_CLOCK_H
#define CS_CLOCK_H

#include <time.h>

/* Milliseconds since the Unix epoch, and microseconds of a monotonic clock. */
long long cs_clock_now_ms(void);
long long cs_clock_monotonic_us(void);
/*
 * The time ms (>= 0) from now on clock, as the POSIX waits that take an
 * absolute deadline want it (most take CLOCK_REALTIME; a condition variable
 * may be set to CLOCK_MONOTONIC).
 */
struct timespec cs_clock_deadline(clockid_t clock, long long ms);

#endif
