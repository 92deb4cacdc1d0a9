/*
 * chatsync - the command-line tool.
 *
 *   chatsync token USER_ID [--ttl SECONDS]   a development token
 *   chatsync dev-keys DIR                    the development signing key and JWKS
 *   chatsync config                          the configuration table (Markdown)
 */
#include "config.h"
#include "token.h"

#include <stdio.h>
#include <string.h>

static int usage(void)
{
	fprintf(stderr, "usage: chatsync token USER_ID [--ttl SECONDS]\n"
			"       chatsync dev-keys DIR\n"
			"       chatsync config\n");
	return 2;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	if (!strcmp(argv[1], "token"))
		return cli_token(argc - 1, argv + 1);
	if (!strcmp(argv[1], "dev-keys"))
		return cli_dev_keys(argc - 1, argv + 1);
	if (!strcmp(argv[1], "config")) {
		cs_config_print_table(stdout);
		return 0;
	}
	return usage();
}
