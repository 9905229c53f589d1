/* diag.h: collected, located diagnostics printed like a C compiler (SPEC section 2).
 *
 * In: errors with a source location. Out: text of the form
 *     FILE:LINE:COL: error: MESSAGE
 *         7 |   h2 = dense(h1b, 16) -> sigmoid
 *           |              ^~~
 * in the order they were reported. Every stage keeps going after an error so that all of
 * them are reported; diag_count tells a stage whether to stop before the next one. */
#ifndef NND_DIAG_H
#define NND_DIAG_H

#include <stdbool.h>
#include <stdio.h>

#include "arena.h"

/* A place in a source file. Lines and columns are 1-based; columns are byte offsets.
 * end_col is one past the last column of the range (0: a single caret). line 0: the
 * diagnostic concerns the whole file (printed as FILE: error: ...). */
typedef struct SrcLoc {
    const char *file;
    int line, col, end_col;
} SrcLoc;

typedef struct Diag Diag;

enum { DIAG_MAX_ERRORS = 100 }; /* after this many, one "too many errors" line and silence */

Diag *diag_new(Arena *a);
/* Registers the text of a file so that its lines can be quoted under each diagnostic. */
void diag_add_source(Diag *d, const char *file, const char *text, size_t len);
void diag_error(Diag *d, SrcLoc at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A note attached to the previous error (printed as "note:"); not counted as an error. */
void diag_note(Diag *d, SrcLoc at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int diag_count(const Diag *d);
/* All diagnostics as one string (empty when there are none), owned by the diag's arena. */
const char *diag_text(const Diag *d);
/* The message of the i-th diagnostic without location or quote (for tests). */
const char *diag_message(const Diag *d, int i);

/* Edit distance between two identifiers, for "did you mean" suggestions. */
int diag_edit_distance(const char *a, const char *b);
/* The candidate nearest to word (NULL when none is close enough to suggest). */
const char *diag_nearest(const char *word, const char *const *candidates, int n);
/* The same one candidate at a time, for candidates not in an array: begin, offer each, then
 * read best. Candidates whose length alone rules them out cost no edit distance. */
typedef struct DiagNearest {
    const char *word, *best;
    size_t len;
    int limit, best_d;
} DiagNearest;
void diag_nearest_begin(DiagNearest *n, const char *word);
void diag_nearest_offer(DiagNearest *n, const char *candidate);

#endif
