/* arena.c: bump allocation in chunks; see arena.h. */
#include "arena.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { CHUNK_SIZE = 64 * 1024, ALIGN = 16 };

typedef struct Chunk {
    struct Chunk *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
} Chunk;

struct Arena {
    Chunk *head;
    jmp_buf *oom;
};

Arena *arena_new(void) { return calloc(1, sizeof(Arena)); }

void arena_free(Arena *a) {
    if (!a)
        return;
    for (Chunk *c = a->head, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(a);
}

void arena_on_oom(Arena *a, jmp_buf *handler) { a->oom = handler; }

jmp_buf *arena_oom_handler(const Arena *a) { return a->oom; }

static void out_of_memory(Arena *a) {
    if (a->oom)
        longjmp(*a->oom, 1);
    /* No handler is an internal bug: every entry point installs one. */
    fprintf(stderr, "nnd: out of memory with no handler installed\n");
    abort();
}

void *arena_alloc(Arena *a, size_t size) {
    size = (size + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    if (size == 0)
        size = ALIGN;
    Chunk *c = a->head;
    bool zeroed = false;
    if (!c || c->size - c->used < size) {
        size_t cap = size > CHUNK_SIZE ? size : CHUNK_SIZE;
        if (cap > SIZE_MAX - sizeof(Chunk))
            out_of_memory(a);
        /* A big block is one allocation: calloc zeroes it, without writing to pages fresh
         * from the system, which are zero already (a model's weights, packed). */
        zeroed = cap > CHUNK_SIZE;
        c = zeroed ? calloc(1, sizeof(Chunk) + cap) : malloc(sizeof(Chunk) + cap);
        if (!c)
            out_of_memory(a);
        c->size = cap;
        c->used = 0;
        /* A big block goes behind the current chunk so the current one keeps filling. */
        if (a->head && cap > CHUNK_SIZE) {
            c->next = a->head->next;
            a->head->next = c;
        } else {
            c->next = a->head;
            a->head = c;
        }
    }
    void *p = c->data + c->used;
    c->used += size;
    if (!zeroed)
        memset(p, 0, size);
    return p;
}

void *arena_array(Arena *a, size_t count, size_t size) {
    if (size && count > SIZE_MAX / size)
        out_of_memory(a);
    return arena_alloc(a, count * size);
}

void *arena_grow(Arena *a, void *old, size_t old_size, size_t new_size) {
    void *p = arena_alloc(a, new_size);
    if (old && old_size)
        memcpy(p, old, old_size < new_size ? old_size : new_size);
    return p;
}

char *arena_strndup(Arena *a, const char *s, size_t n) {
    if (n == SIZE_MAX)
        out_of_memory(a);
    char *p = arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

char *arena_strdup(Arena *a, const char *s) { return arena_strndup(a, s, strlen(s)); }

char *arena_vprintf(Arena *a, const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        n = 0;
    char *p = arena_alloc(a, (size_t)n + 1);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    return p;
}

char *arena_printf(Arena *a, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *p = arena_vprintf(a, fmt, ap);
    va_end(ap);
    return p;
}
