/* dim.c: monomial dimensions; see dim.h. */
#include "dim.h"

#include <stdio.h>
#include <string.h>

Dim dim_const(int64_t c) {
    Dim d;
    memset(&d, 0, sizeof d);
    d.c = c;
    return d;
}

Dim dim_sym(int sym) {
    Dim d = dim_const(1);
    d.e[sym] = 1;
    return d;
}

bool dim_is_const(Dim a) {
    for (int i = 0; i < MAX_SYMS; i++)
        if (a.e[i])
            return false;
    return true;
}

bool dim_eq(Dim a, Dim b) {
    if (a.c != b.c)
        return false;
    if (a.c == 0)
        return true;
    return memcmp(a.e, b.e, sizeof a.e) == 0;
}

bool dim_is(Dim a, int64_t c) { return dim_is_const(a) && a.c == c; }

bool dim_mul(Dim a, Dim b, Dim *out) {
    Dim r = dim_const(0);
    if (__builtin_mul_overflow(a.c, b.c, &r.c) || r.c > DIM_MAX_ELEMENTS)
        return false;
    for (int i = 0; i < MAX_SYMS; i++) {
        if (a.e[i] + b.e[i] > 255)
            return false;
        r.e[i] = (uint8_t)(a.e[i] + b.e[i]);
    }
    *out = r;
    return true;
}

bool dim_div(Dim a, Dim b, Dim *out) {
    if (b.c == 0 || a.c % b.c != 0)
        return false;
    Dim r = dim_const(a.c / b.c);
    for (int i = 0; i < MAX_SYMS; i++) {
        if (a.e[i] < b.e[i])
            return false;
        r.e[i] = (uint8_t)(a.e[i] - b.e[i]);
    }
    *out = r;
    return true;
}

bool dim_eval(Dim a, const int64_t *sym_values, int64_t *out) {
    int64_t v = a.c;
    for (int i = 0; i < MAX_SYMS; i++)
        for (int k = 0; k < a.e[i]; k++) {
            if (sym_values[i] < 0 || __builtin_mul_overflow(v, sym_values[i], &v))
                return false;
        }
    *out = v;
    return true;
}

char *dim_str(Arena *a, Dim d, const char *const *sym_names) {
    char buf[256];
    size_t n = 0;
    buf[0] = 0;
    for (int i = 0; i < MAX_SYMS && n < sizeof buf - 40; i++) {
        if (!d.e[i])
            continue;
        const char *name = sym_names && sym_names[i] ? sym_names[i] : "?";
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%.*s", n ? "*" : "", 32, name);
        if (d.e[i] > 1)
            n += (size_t)snprintf(buf + n, sizeof buf - n, "^%d", d.e[i]);
    }
    if (n == 0)
        snprintf(buf, sizeof buf, "%lld", (long long)d.c);
    else if (d.c != 1)
        snprintf(buf + n, sizeof buf - n, "*%lld", (long long)d.c);
    return arena_strdup(a, buf);
}

bool shape_numel(const Shape *s, Dim *out) {
    Dim r = dim_const(1);
    for (int i = 0; i < s->rank; i++)
        if (!dim_mul(r, s->d[i], &r))
            return false;
    *out = r;
    return true;
}

bool shape_eval(const Shape *s, const int64_t *sym_values, int64_t *dims, int64_t *numel) {
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++) {
        int64_t v;
        if (!dim_eval(s->d[i], sym_values, &v) || __builtin_mul_overflow(n, v, &n))
            return false;
        if (dims)
            dims[i] = v;
    }
    *numel = n;
    return true;
}

bool shape_eq(const Shape *a, const Shape *b) {
    if (a->rank != b->rank)
        return false;
    for (int i = 0; i < a->rank; i++)
        if (!dim_eq(a->d[i], b->d[i]))
            return false;
    return true;
}

bool shape_is_const(const Shape *s) {
    for (int i = 0; i < s->rank; i++)
        if (!dim_is_const(s->d[i]))
            return false;
    return true;
}

char *shape_str(Arena *a, const Shape *s, const char *const *sym_names) {
    char buf[1024];
    size_t n = 0;
    buf[n++] = '[';
    for (int i = 0; i < s->rank; i++) {
        const char *d = dim_str(a, s->d[i], sym_names);
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s", i ? ", " : "", d);
        if (n >= sizeof buf - 2)
            n = sizeof buf - 2;
    }
    buf[n++] = ']';
    buf[n] = 0;
    return arena_strdup(a, buf);
}
