/*
 * sockperm.c - a service's socket: its group, then its mode.
 */
#include "sockperm.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* GROUP as a gid: a number as it is, a name through the group database. */
static int resolve_group(const char *group, gid_t *gid, char *err, size_t errlen)
{
	struct group entry, *found = NULL;
	char buf[4096], *end;
	unsigned long number;
	int rc;

	errno = 0;
	number = strtoul(group, &end, 10);
	if (*group >= '0' && *group <= '9' && !*end && !errno && number == (gid_t)number) {
		*gid = (gid_t)number;
		return 0;
	}
	rc = getgrnam_r(group, &entry, buf, sizeof(buf), &found);
	if (rc != 0 || !found) {
		snprintf(err, errlen, "CHATSYNC_SOCKET_GROUP: could not find group \"%s\": %s",
			 group, rc ? strerror(rc) : "no such group");
		return -1;
	}
	*gid = found->gr_gid;
	return 0;
}

int cs_sockperm_apply(const char *path, long mode, const char *group, char *err, size_t errlen)
{
	gid_t gid;

	if (mode & ~0777L || mode & 0007) {
		snprintf(err, errlen,
			 "CHATSYNC_SOCKET_MODE: %04lo gives others access to %s; at most 0770",
			 mode, path);
		return -1;
	}
	/* the group first: until chmod, the socket has the umask's mode, which
	 * with the usual 022 (the systemd unit: 077) lets only the owner write */
	if (group && *group) {
		if (resolve_group(group, &gid, err, errlen) < 0)
			return -1;
		if (chown(path, (uid_t)-1, gid) < 0) {
			snprintf(
				err, errlen,
				"could not give %s the group \"%s\" (the service must be a member): %s",
				path, group, strerror(errno));
			return -1;
		}
	}
	if (chmod(path, (mode_t)mode) < 0) {
		snprintf(err, errlen, "could not set the mode of %s to %04lo: %s", path, mode,
			 strerror(errno));
		return -1;
	}
	return 0;
}
