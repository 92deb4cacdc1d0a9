/*
 * sockperm.h - who may connect to a service's FastCGI socket.
 *
 * Connecting to a unix socket needs write permission on it. nginx's workers
 * run as another user than the services (www-data), so the socket is given
 * their group and a mode with nothing for others: no local user but the
 * service and nginx can send a request that nginx never checked
 * (docs/decisions/socket-permissions.md).
 */
#ifndef CS_SOCKPERM_H
#define CS_SOCKPERM_H

#include <stddef.h>

/*
 * Gives the socket at PATH the group GROUP (a name or a number; NULL or ""
 * keeps the process's group) and then MODE. Refuses a MODE with any bit for
 * others. 0, or -1 with a message in ERR.
 */
int cs_sockperm_apply(const char *path, long mode, const char *group, char *err, size_t errlen);

#endif
