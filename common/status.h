/*
 * status.h - the one table of HTTP statuses chatsync answers: each with its
 * reason phrase (the response's Status line) and its API.md error code.
 */
#ifndef CS_STATUS_H
#define CS_STATUS_H

/* "Not Found" for 404; a status not in the table: "OK" below 400, else "Internal Server Error". */
const char *cs_status_reason(int status);
/* The API.md code: "not_found" for 404; "internal" for a status not in the table. */
const char *cs_status_code(int status);

#endif
