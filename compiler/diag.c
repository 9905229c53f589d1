/* diag.c: collecting and rendering diagnostics; see diag.h. */
#define _POSIX_C_SOURCE 200809L /* strnlen */
#include "diag.h"

#include <stdarg.h>
#include <stdint.h>
#include <string.h>

typedef struct Source {
    const char *file, *text;
    size_t len;
} Source;

typedef struct Entry {
    SrcLoc at;
    bool note;
    const char *msg;
} Entry;

struct Diag {
    Arena *arena;
    Source *sources;
    int nsources;
    Entry *entries;
    int nentries, cap, nerrors;
    bool truncated;
};

Diag *diag_new(Arena *a) {
    Diag *d = arena_alloc(a, sizeof *d);
    d->arena = a;
    return d;
}

void diag_add_source(Diag *d, const char *file, const char *text, size_t len) {
    d->sources = arena_grow(d->arena, d->sources, sizeof(Source) * (size_t)d->nsources,
                            sizeof(Source) * ((size_t)d->nsources + 1));
    d->sources[d->nsources++] = (Source){file, text, len};
}

static void add(Diag *d, SrcLoc at, bool note, const char *fmt, va_list ap) {
    if (!note && d->nerrors >= DIAG_MAX_ERRORS) {
        d->truncated = true;
        return;
    }
    if (note && (d->nentries == 0 || d->truncated))
        return;
    if (d->nentries == d->cap) {
        int cap = d->cap ? d->cap * 2 : 16;
        d->entries = arena_grow(d->arena, d->entries, sizeof(Entry) * (size_t)d->cap,
                                sizeof(Entry) * (size_t)cap);
        d->cap = cap;
    }
    d->entries[d->nentries++] = (Entry){at, note, arena_vprintf(d->arena, fmt, ap)};
    if (!note)
        d->nerrors++;
}

void diag_error(Diag *d, SrcLoc at, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    add(d, at, false, fmt, ap);
    va_end(ap);
}

void diag_note(Diag *d, SrcLoc at, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    add(d, at, true, fmt, ap);
    va_end(ap);
}

int diag_count(const Diag *d) { return d->nerrors; }

const char *diag_message(const Diag *d, int i) {
    int k = 0;
    for (int j = 0; j < d->nentries; j++)
        if (!d->entries[j].note && k++ == i)
            return d->entries[j].msg;
    return NULL;
}

/* A growable string in the arena. */
typedef struct Buf {
    Arena *a;
    char *s;
    size_t len, cap;
} Buf;

static void put(Buf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->s = arena_grow(b->a, b->s, b->len, cap);
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

static void puts_(Buf *b, const char *s) { put(b, s, strlen(s)); }

static const Source *find_source(const Diag *d, const char *file) {
    for (int i = 0; i < d->nsources; i++)
        if (file && d->sources[i].file && strcmp(file, d->sources[i].file) == 0)
            return &d->sources[i];
    return NULL;
}

/* Finds line `line` (1-based) of src; returns its start and length without the newline. */
static bool find_line(const Source *src, int line, const char **start, size_t *len) {
    const char *p = src->text, *end = src->text + src->len;
    for (int l = 1; l < line; l++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            return false;
        p = nl + 1;
    }
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    *start = p;
    *len = (size_t)((nl ? nl : end) - p);
    if (*len && p[*len - 1] == '\r')
        (*len)--;
    return true;
}

/* Quotes the line and draws ^~~~ under the range. Tabs are kept in the padding so the
 * caret stays aligned in a terminal; other control bytes print as spaces. */
static void quote(Buf *b, const Source *src, SrcLoc at) {
    const char *line;
    size_t len;
    if (!src || at.line <= 0 || !find_line(src, at.line, &line, &len))
        return;
    if (len > 400)
        len = 400;
    char num[32];
    int w = snprintf(num, sizeof num, "%5d", at.line);
    puts_(b, num);
    puts_(b, " | ");
    for (size_t i = 0; i < len; i++) {
        char c = line[i];
        put(b, (c == '\t' || (unsigned char)c >= 0x20) ? &c : " ", 1);
    }
    puts_(b, "\n");
    for (int i = 0; i < w; i++)
        puts_(b, " ");
    puts_(b, " | ");
    size_t col = at.col > 0 ? (size_t)at.col : 1;
    for (size_t i = 1; i < col && i <= len; i++)
        put(b, line[i - 1] == '\t' ? "\t" : " ", 1);
    puts_(b, "^");
    if (at.end_col > at.col + 1)
        for (int i = at.col + 1; i < at.end_col && (size_t)i <= len; i++)
            puts_(b, "~");
    puts_(b, "\n");
}

const char *diag_text(const Diag *d) {
    Buf b = {d->arena, NULL, 0, 0};
    puts_(&b, "");
    for (int i = 0; i < d->nentries; i++) {
        const Entry *e = &d->entries[i];
        char head[64];
        if (e->at.file) {
            puts_(&b, e->at.file);
            puts_(&b, ":");
        }
        if (e->at.line > 0) {
            snprintf(head, sizeof head, "%d:%d:", e->at.line, e->at.col > 0 ? e->at.col : 1);
            puts_(&b, head);
        }
        puts_(&b, e->at.file || e->at.line > 0 ? " " : "");
        puts_(&b, e->note ? "note: " : "error: ");
        puts_(&b, e->msg);
        puts_(&b, "\n");
        quote(&b, find_source(d, e->at.file), e->at);
    }
    if (d->truncated) {
        char line[96];
        snprintf(line, sizeof line, "error: too many errors (%d shown), stopping\n",
                 DIAG_MAX_ERRORS);
        puts_(&b, line);
    }
    return b.s;
}

/* Optimal string alignment distance: insertions, deletions, substitutions and swaps of
 * two adjacent characters each cost 1, so "desne" is one edit from "dense". */
int diag_edit_distance(const char *a, const char *b) {
    size_t n = strlen(a), m = strlen(b);
    if (n > 64 || m > 64)
        return 1 << 20;
    int d[65][65];
    for (size_t i = 0; i <= n; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= m; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= n; i++)
        for (size_t j = 1; j <= m; j++) {
            int best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[n][m];
}

void diag_nearest_begin(DiagNearest *n, const char *word) {
    n->word = word;
    n->best = NULL;
    n->len = strlen(word);
    n->best_d = 1 << 20;
    /* Close enough: a third of the word's length, at least one edit, at most three. */
    n->limit = (int)(n->len / 3);
    if (n->limit < 1)
        n->limit = 1;
    if (n->limit > 3)
        n->limit = 3;
}

void diag_nearest_offer(DiagNearest *n, const char *candidate) {
    /* The distance is at least the difference in length: skip what cannot come within the
     * limit, so that a model with a million names still gets its suggestions quickly. */
    size_t cl = strnlen(candidate, n->len + (size_t)n->limit + 1);
    size_t diff = cl > n->len ? cl - n->len : n->len - cl;
    if (diff > (size_t)n->limit)
        return;
    int dist = diag_edit_distance(n->word, candidate);
    if (dist <= n->limit && dist < n->best_d) {
        n->best_d = dist;
        n->best = candidate;
    }
}

const char *diag_nearest(const char *word, const char *const *candidates, int n) {
    DiagNearest near;
    diag_nearest_begin(&near, word);
    for (int i = 0; i < n; i++)
        diag_nearest_offer(&near, candidates[i]);
    return near.best;
}
