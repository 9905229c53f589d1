/* arena.h: one region per compilation that owns every AST node, graph node, shape and string.
 *
 * In: allocation requests. Out: zeroed memory that lives until arena_free. Nothing is freed
 * individually. Running out of memory jumps to the handler the compilation set with
 * arena_on_oom, so callers need not check every allocation (library code never aborts). */
#ifndef NND_ARENA_H
#define NND_ARENA_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

typedef struct Arena Arena;

Arena *arena_new(void);                       /* NULL only if malloc fails */
void arena_free(Arena *a);                    /* NULL is allowed */
void arena_on_oom(Arena *a, jmp_buf *handler); /* longjmp(*handler, 1) when memory runs out */
/* The handler now installed (NULL: none), so code holding non-arena resources can install
 * its own, release them, and pass the jump on. */
jmp_buf *arena_oom_handler(const Arena *a);

void *arena_alloc(Arena *a, size_t size);                 /* zeroed, 16-byte aligned */
void *arena_array(Arena *a, size_t count, size_t size);   /* overflow-checked count*size */
void *arena_grow(Arena *a, void *old, size_t old_size, size_t new_size);
char *arena_strdup(Arena *a, const char *s);
char *arena_strndup(Arena *a, const char *s, size_t n);
char *arena_printf(Arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *arena_vprintf(Arena *a, const char *fmt, va_list ap);

#endif
