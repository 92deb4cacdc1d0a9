/*
 * hash.h - the one string hash: 32-bit FNV-1a. Stable across processes,
 * hosts and versions, which matters: it chooses a user's Redis stream
 * (events.h) as well as a bucket in sync-svc's table of waiters.
 */
#ifndef CS_HASH_H
#define CS_HASH_H

#include <stddef.h>
#include <stdint.h>

/* FNV-1a of the bytes of a NUL-terminated string. */
uint32_t cs_hash_fnv1a(const char *s);
/* FNV-1a of n bytes. */
uint32_t cs_hash_fnv1a_n(const void *p, size_t n);

#endif
