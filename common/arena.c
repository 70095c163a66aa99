/* arena.c — bump allocation for graphs and parsed files: many small objects, one free. */
#include "common.h"

typedef struct arena_block {
    struct arena_block *next;
    size_t used, size;
    _Alignas(16) unsigned char data[];
} arena_block;

struct kiln_arena {
    arena_block *head;
    size_t block_size;
};

kiln_arena *kiln_arena_create(size_t block_size) {
    kiln_arena *a = calloc(1, sizeof(*a));
    if (a) a->block_size = block_size ? block_size : 64 * 1024;
    return a;
}

void kiln_arena_free(kiln_arena *arena) {
    if (!arena) return;
    for (arena_block *b = arena->head, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    free(arena);
}

void *kiln_arena_alloc(kiln_arena *arena, size_t size) {
    size = (size + 15) & ~(size_t)15;
    arena_block *b = arena->head;
    if (!b || b->size - b->used < size) {
        size_t cap = size > arena->block_size ? size : arena->block_size;
        b = malloc(sizeof(*b) + cap);
        if (!b) return NULL;
        b->next = arena->head;
        b->used = 0;
        b->size = cap;
        arena->head = b;
    }
    void *p = b->data + b->used;
    b->used += size;
    memset(p, 0, size);
    return p;
}

char *kiln_arena_strndup(kiln_arena *arena, const char *s, size_t n) {
    if (!s) return NULL;
    char *d = kiln_arena_alloc(arena, n + 1);
    if (d) memcpy(d, s, n);
    return d;
}

char *kiln_arena_strdup(kiln_arena *arena, const char *s) {
    return s ? kiln_arena_strndup(arena, s, strlen(s)) : NULL;
}
