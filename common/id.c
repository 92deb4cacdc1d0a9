/* id.c - ULID-style ids and id validation. */
#include "id.h"
#include "clock.h"
#include "utf8.h"

#include <stdint.h>
#include <string.h>
#include <sys/random.h>

void cs_id_new(const char *prefix, char out[CS_ID_NEW_SIZE])
{
	static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
	unsigned char random_bytes[10];
	uint64_t ms = (uint64_t)cs_clock_now_ms();
	size_t plen = strnlen(prefix, 4), i;
	char *p = out + plen;
	unsigned bits = 0, nbits = 0;
	size_t r = 0;

	memcpy(out, prefix, plen);
	if (getrandom(random_bytes, sizeof(random_bytes), 0) != (ssize_t)sizeof(random_bytes))
		memset(random_bytes, 0, sizeof(random_bytes)); /* never happens on Linux ≥ 3.17 */
	for (i = 0; i < 10; i++) /* 48-bit time, 50 bits written: the top two are zero */
		p[i] = alphabet[(ms >> (45 - 5 * i)) & 31];
	for (i = 10; i < 26; i++) {
		if (nbits < 5) {
			bits = (bits << 8) | random_bytes[r++];
			nbits += 8;
		}
		p[i] = alphabet[(bits >> (nbits - 5)) & 31];
		nbits -= 5;
	}
	p[26] = '\0';
}

int cs_id_valid(const char *s, size_t len)
{
	return len >= 1 && len <= CS_ID_MAX && cs_utf8_valid_text(s, len);
}
