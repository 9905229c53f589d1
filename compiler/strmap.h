/* strmap.h: an open-addressing table from strings to ints, in an arena.
 *
 * In: string keys (not copied: they must live as long as the map) and int values. Out:
 * lookups in constant expected time, so that tables of names stay linear however large the
 * model. Nothing is removed; putting a key again replaces its value. Memory comes from the
 * arena (its out-of-memory handler applies). */
#ifndef NND_STRMAP_H
#define NND_STRMAP_H

#include <stdbool.h>
#include <stddef.h>

#include "arena.h"

typedef struct StrMap {
    const char **keys;
    int *vals;
    size_t cap, count;
} StrMap; /* zero-initialized: empty */

void strmap_put(Arena *a, StrMap *m, const char *key, int value);
/* The value put for key, or -1 when there is none. */
int strmap_get(const StrMap *m, const char *key);

#endif
