/*
 * clock.h - the two clocks: wall time for what is stored or shown, and a
 * monotonic clock for every timeout and duration (it never jumps back when
 * the wall clock is set).
 */
#ifndef CS_CLOCK_H
#define CS_CLOCK_H

/* Milliseconds since the Unix epoch, and microseconds of a monotonic clock. */
long long cs_clock_now_ms(void);
long long cs_clock_monotonic_us(void);

#endif
