/* dim.h: tensor dimensions that may be symbolic, and shapes built from them.
 *
 * A dimension is a monomial c * N^a * M^b ...: a positive constant times powers of the
 * model's symbolic dimensions (bound at run time). That is closed under the products and
 * exact quotients that flatten and reshape need, and two dimensions are equal exactly when
 * their monomials are. All arithmetic is overflow-checked: a shape too large to address is
 * an error, never a wrap-around. */
#ifndef NND_DIM_H
#define NND_DIM_H

#include <stdbool.h>
#include <stdint.h>

#include "arena.h"

enum {
    MAX_RANK = 8, /* dimensions of one tensor */
    MAX_SYMS = 8, /* symbolic dimensions of one model */
};

/* The largest number of elements one tensor may have (its constant part), 2^32. */
#define DIM_MAX_ELEMENTS ((int64_t)1 << 32)

typedef struct Dim {
    int64_t c;          /* >= 0 */
    uint8_t e[MAX_SYMS]; /* exponent of each symbol */
} Dim;

typedef struct Shape {
    int rank;
    Dim d[MAX_RANK];
} Shape;

Dim dim_const(int64_t c);
Dim dim_sym(int sym);
bool dim_is_const(Dim a);
bool dim_eq(Dim a, Dim b);
bool dim_is(Dim a, int64_t c); /* a is the constant c */
bool dim_mul(Dim a, Dim b, Dim *out);     /* false on overflow */
bool dim_div(Dim a, Dim b, Dim *out);     /* false unless b divides a exactly */
/* Its value for the given symbol values; false on overflow or a negative result. */
bool dim_eval(Dim a, const int64_t *sym_values, int64_t *out);
/* "64", "N", "N*64", "N^2*M*3". */
char *dim_str(Arena *a, Dim d, const char *const *sym_names);

bool shape_numel(const Shape *s, Dim *out); /* false on overflow */
/* s for the given symbol values: its rank dims into dims (may be NULL) and its element count
 * into *numel; false when a size overflows int64_t or a symbol value is negative. */
bool shape_eval(const Shape *s, const int64_t *sym_values, int64_t *dims, int64_t *numel);
bool shape_eq(const Shape *a, const Shape *b);
bool shape_is_const(const Shape *s);
/* "[N, 64]" */
char *shape_str(Arena *a, const Shape *s, const char *const *sym_names);

#endif
