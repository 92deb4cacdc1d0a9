/*
 * chatsync - the command-line tool.
 *
 *   chatsync token USER_ID [--ttl SECONDS]   a development token
 *   chatsync dev-keys DIR                    the development signing key and JWKS
 *   chatsync config                          the configuration table (Markdown)
 *   chatsync import FILE [--dry-run] [--json]     a legacy export into the store
 *   chatsync export [--user U]... [--output FILE] the store as a legacy export
 *   chatsync verify FILE [--verbose]              does the store hold the file's rows?
 */
#include "config.h"
#include "migration.h"
#include "token.h"

#include <stdio.h>
#include <string.h>

static int usage(void)
{
	fprintf(stderr,
		"usage: chatsync token USER_ID [--ttl SECONDS]\n"
		"       chatsync dev-keys DIR\n"
		"       chatsync config\n"
		"       chatsync import FILE [--dry-run] [--json] [--batch-rows N]\n"
		"       chatsync export [--user USER_ID]... [--output FILE]\n"
		"       chatsync verify FILE [--verbose]\n");
	return 2;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	if (!strcmp(argv[1], "token"))
		return cli_token_command(argc - 1, argv + 1);
	if (!strcmp(argv[1], "dev-keys"))
		return cli_token_dev_keys_command(argc - 1, argv + 1);
	if (!strcmp(argv[1], "import"))
		return cli_import(argc - 1, argv + 1);
	if (!strcmp(argv[1], "export"))
		return cli_export(argc - 1, argv + 1);
	if (!strcmp(argv[1], "verify"))
		return cli_verify(argc - 1, argv + 1);
	if (!strcmp(argv[1], "config")) {
		cs_config_print_table(stdout);
		return 0;
	}
	return usage();
}
