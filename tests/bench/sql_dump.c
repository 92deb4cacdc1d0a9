/*
 * sql_dump.c - prints the SQL of one of a service's prepared statements, so
 * that the pgbench scripts run exactly the SQL the endpoint runs
 * (tests/bench/gen_pgbench.py). Compiled by run.sh once per service with
 * SERVICE_MAIN naming that service's main.c, linked with its other objects.
 *
 *   sql_dump NAME     the statement's SQL on stdout; exit 1 if unknown
 */
#include <stdio.h>
#include <string.h>

int service_main(void); /* the service's own main, renamed: unused here */

#define main service_main
#include SERVICE_MAIN
#undef main

int main(int argc, char **argv)
{
	size_t i;

	(void)service_main;
	for (i = 0; argc == 2 && i < sizeof(statements) / sizeof(statements[0]); i++) {
		if (strcmp(statements[i].name, argv[1]) == 0) {
			printf("%s\n", statements[i].sql);
			return 0;
		}
	}
	fprintf(stderr, "sql_dump: no statement named %s\n", argc == 2 ? argv[1] : "(none)");
	return 1;
}
