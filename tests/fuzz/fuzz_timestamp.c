/*
 * fuzz_timestamp.c - the ISO-8601 timestamps of legacy exports
 * (migrate/timestamp.c).
 *
 * Promises: a parsed timestamp formats to text that parses back to the same
 * milliseconds, within CS_TIMESTAMP_MAX; and any milliseconds (the input's
 * first 8 bytes) format to text that parses back to them.
 */
#include "fuzz.h"

#include "timestamp.h"

static void check_round_trip(long long ms)
{
	char text[CS_TIMESTAMP_MAX];
	long long back = 0;
	size_t len = cs_timestamp_format(ms, text);

	FUZZ_CHECK(len < CS_TIMESTAMP_MAX && text[len] == '\0' && strlen(text) == len);
	FUZZ_CHECK(cs_timestamp_parse(text, len, &back) == 0);
	FUZZ_CHECK(back == ms);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	long long ms = 0;

	if (cs_timestamp_parse((const char *)data, size, &ms) == 0)
		check_round_trip(ms);
	if (size >= 8) {
		memcpy(&ms, data, 8);
		check_round_trip(ms);
	}
	return 0;
}
