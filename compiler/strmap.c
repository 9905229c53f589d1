/* strmap.c: linear probing over a power-of-two table kept at most half full; see strmap.h. */
#include "strmap.h"

#include <stdint.h>
#include <string.h>

static uint64_t hash(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static size_t slot(const StrMap *m, const char *key) {
    size_t i = hash(key) & (m->cap - 1);
    while (m->keys[i] && strcmp(m->keys[i], key) != 0)
        i = (i + 1) & (m->cap - 1);
    return i;
}

static void grow(Arena *a, StrMap *m) {
    StrMap old = *m;
    m->cap = old.cap ? old.cap * 2 : 64;
    m->keys = arena_array(a, m->cap, sizeof *m->keys);
    m->vals = arena_array(a, m->cap, sizeof *m->vals);
    for (size_t i = 0; i < old.cap; i++)
        if (old.keys[i]) {
            size_t k = slot(m, old.keys[i]);
            m->keys[k] = old.keys[i];
            m->vals[k] = old.vals[i];
        }
}

void strmap_put(Arena *a, StrMap *m, const char *key, int value) {
    if (2 * (m->count + 1) > m->cap)
        grow(a, m);
    size_t i = slot(m, key);
    if (!m->keys[i]) {
        m->keys[i] = key;
        m->count++;
    }
    m->vals[i] = value;
}

int strmap_get(const StrMap *m, const char *key) {
    if (!m->cap)
        return -1;
    size_t i = slot(m, key);
    return m->keys[i] ? m->vals[i] : -1;
}
