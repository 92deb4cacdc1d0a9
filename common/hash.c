/* hash.c - 32-bit FNV-1a. */
#include "hash.h"

uint32_t cs_hash_fnv1a(const char *s)
{
	uint32_t hash = 2166136261u;

	for (; *s; s++)
		hash = (hash ^ (unsigned char)*s) * 16777619u;
	return hash;
}

uint32_t cs_hash_fnv1a_n(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint32_t hash = 2166136261u;

	for (size_t i = 0; i < n; i++)
		hash = (hash ^ b[i]) * 16777619u;
	return hash;
}
