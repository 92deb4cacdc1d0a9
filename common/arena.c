/* arena.c - bump allocator over a list of blocks. */
#include "arena.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_BLOCK_SIZE 8192

struct cs_arena_block {
	struct cs_arena_block *next;
	size_t used;
	size_t size;
	_Alignas(16) char data[];
};

void *cs_arena_alloc(struct cs_arena *a, size_t size)
{
	struct cs_arena_block *b = a->head;
	size_t aligned = (size + 15) & ~(size_t)15;

	if (!b || b->size - b->used < aligned) {
		size_t block_size = aligned > ARENA_BLOCK_SIZE ? aligned : ARENA_BLOCK_SIZE;

		b = malloc(sizeof(*b) + block_size);
		if (!b)
			abort();
		b->used = 0;
		b->size = block_size;
		b->next = a->head;
		a->head = b;
	}
	b->used += aligned;
	return b->data + b->used - aligned;
}

char *cs_arena_strndup(struct cs_arena *a, const char *s, size_t len)
{
	char *copy = cs_arena_alloc(a, len + 1);

	memcpy(copy, s, len);
	copy[len] = '\0';
	return copy;
}

char *cs_arena_printf(struct cs_arena *a, const char *fmt, ...)
{
	va_list ap;
	char *out;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	out = cs_arena_alloc(a, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(out, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return out;
}

void cs_arena_release(struct cs_arena *a)
{
	struct cs_arena_block *b = a->head;

	while (b) {
		struct cs_arena_block *next = b->next;

		free(b);
		b = next;
	}
	a->head = NULL;
}
