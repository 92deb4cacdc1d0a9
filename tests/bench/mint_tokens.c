/*
 * mint_tokens.c - development tokens for many users in one process.
 *
 * `bin/chatsync token USER` costs a process per token (about 9 ms here, most
 * of it process start and dynamic linking): 6,000 users would take most of a
 * minute. This signs with the same function and the same claims as
 * cli/token.c (cli_devkeys_sign, kid dev-1, sub/iss/iat/nbf/exp) at about
 * 0.4 ms a token. Built by tests/bench/run.sh against the release library.
 *
 *   mint_tokens KEY_PEM ISSUER_URL TTL_S < users > "user<TAB>token" lines
 */
#include "devkeys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KEY_MAX (64 * 1024)

int main(int argc, char **argv)
{
	static char key[KEY_MAX];
	char line[512], claims[1024], err[256];
	size_t key_len;
	long long ttl, now = (long long)time(NULL);
	FILE *f;

	if (argc != 4) {
		fprintf(stderr, "usage: mint_tokens KEY_PEM ISSUER_URL TTL_S < users\n");
		return 2;
	}
	ttl = strtoll(argv[3], NULL, 10);
	f = fopen(argv[1], "r");
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	key_len = fread(key, 1, sizeof(key) - 1, f);
	fclose(f);
	while (fgets(line, sizeof(line), stdin)) {
		char *token = NULL;

		line[strcspn(line, "\r\n")] = '\0';
		if (!line[0])
			continue;
		/* user ids here are [A-Za-z0-9_]: no JSON escaping needed */
		snprintf(claims, sizeof(claims),
			 "{\"sub\":\"%s\",\"iss\":\"%s\",\"iat\":%lld,\"nbf\":%lld,\"exp\":%lld}",
			 line, argv[2], now, now, now + ttl);
		if (cli_devkeys_sign(key, key_len, "dev-1", claims, &token, err, sizeof(err)) < 0) {
			fprintf(stderr, "mint_tokens: %s: %s\n", line, err);
			return 1;
		}
		printf("%s\t%s\n", line, token);
		free(token);
	}
	return 0;
}
