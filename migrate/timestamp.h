/*
 * timestamp.h - ISO-8601 timestamps of the legacy export <-> milliseconds.
 *
 * The legacy system printed its timestamps through node-postgres and
 * JSON.stringify ("2024-01-02T03:04:05.678Z"); chatsync stores milliseconds
 * since the Unix epoch, UTC. cs_timestamp_parse accepts:
 *
 *   YYYY-MM-DD                          midnight UTC
 *   YYYY-MM-DDTHH:MM[:SS[.fraction]]    'T', 't' or one space between date and time
 *   ... followed by Z, z, +HH, +HHMM, +HH:MM (or -)   no zone at all means UTC
 *   +YYYYYY-... / -YYYYYY-...           JavaScript's extended years
 *
 * A fraction of any length is truncated to milliseconds (toward the past:
 * .6789 is 678 ms). Fields out of range (month 13, February 30, hour 24,
 * second 60) are refused. Both functions are pure; nothing is allocated.
 */
#ifndef CS_TIMESTAMP_H
#define CS_TIMESTAMP_H

#include <stddef.h>

/* Room for the longest string cs_timestamp_format writes, NUL included. */
#define CS_TIMESTAMP_MAX 32

/* 0 and *ms on success; -1 when s (len bytes, no NUL needed) is not a timestamp. */
int cs_timestamp_parse(const char *s, size_t len, long long *ms);

/*
 * Writes ms as "YYYY-MM-DDTHH:MM:SS.mmmZ" (years outside 0..9999 as
 * "+YYYYYY"/"-YYYYYY", as JavaScript does) and returns its length; the
 * result always parses back to ms.
 */
size_t cs_timestamp_format(long long ms, char out[CS_TIMESTAMP_MAX]);

#endif
