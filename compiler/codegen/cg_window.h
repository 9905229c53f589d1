/* cg_window.h: sliding windows over H and W, planned at compile time: the runs of output rows
 * and the blocks of output columns whose taps are inside the input.
 *
 * In: one axis of a window (CgWindow: input size, kernel, stride, dilation, padding) and the
 * number of outputs along it. Out, in the arena: for rows, the maximal runs of consecutive
 * outputs whose in-input kernel taps (and divisors) are the same, so each run is one loop
 * with exactly those taps unrolled; for columns, the vector width and blocks of `width`
 * outputs at compile-time positions with, per kernel tap, the mask of lanes whose input is
 * inside, consecutive blocks with the same masks (and divisors) merged into one loop. A row
 * that is not a multiple of the width ends with a block overlapping the previous one.
 *
 * Output o reads input o * stride + t * dilation - pad for tap t < kernel; an input outside
 * [0, in) is padding. The divisor (average pooling's) of an output is the number of its taps
 * inside the input, or with count_pad the size of its window clipped to the padded input
 * [-pad, in + pad_end) (dilation 1 only). */
#ifndef NND_CG_WINDOW_H
#define NND_CG_WINDOW_H

#include <stdbool.h>
#include <stdint.h>

#include "arena.h"
#include "cg_vec.h"

typedef struct CgWindow {
    int64_t in, kernel, stride, dilation, pad, pad_end;
    bool count_pad;
} CgWindow;

/* Output rows [a, b) whose in-input kernel rows are taps[0..ntaps), with `count` rows in
 * the divisor. */
typedef struct CgRun {
    int64_t a, b, count;
    int ntaps;
    int64_t *taps;
} CgRun;

typedef struct CgRows {
    int nruns;
    CgRun *runs;
} CgRows;

/* `count` blocks at ow0, ow0 + width, ... whose lane l reads an in-input column for kernel
 * column kw when bit l of mask[kw] is set, and has div[l] columns in its divisor (0 for a
 * lane past the row). */
typedef struct CgColBlock {
    int64_t ow0, count;
    uint32_t *mask;
    int64_t div[CG_VL];
} CgColBlock;

typedef struct CgCols {
    int width, nblocks;
    uint32_t lanes; /* the lanes that are outputs: all, unless the row is narrower */
    CgColBlock *blocks;
} CgCols;

/* A plane of oh x ow outputs whose input rows are as long as its output rows (stride 1 on
 * both axes, in == ow along columns), seen as one flat row of oh * ow outputs: output p of
 * the plane reads input p + (kh * dh - pt) * ow + kw * dw - pl for tap (kh, kw) (dh, pt the
 * rows' dilation and padding, dw, pl the columns'), so a vector
 * of consecutive outputs may cross into the next row, and no lane is wasted on a row that
 * is not a multiple of the width. Vectors of `width` outputs sit at 0, width, ..., the last
 * one ending at oh * ow (overlapping its predecessor). `period` = lcm(ow, width) outputs
 * repeat the same column masks; a run is `count` periods (or, at the end, a stretch of
 * fewer outputs) of `nvec` vectors from p0, with, for vector v and tap (kh, kw), the mask
 * of lanes whose input is inside: mask[(v * kh_taps + kh) * kw_taps + kw]. Consecutive
 * periods with the same masks (those away from the top and bottom borders) share a run. */
typedef struct CgFlatRun {
    int64_t p0, count;
    int nvec;
    int64_t *off; /* vector v's first output is p0 + off[v] (the last one's may reach back) */
    uint32_t *mask;
} CgFlatRun;

typedef struct CgFlat {
    int width, nruns;
    int64_t period;
    CgFlatRun *runs;
} CgFlat;

CgRows cg_window_rows(Arena *a, const CgWindow *w, int64_t out);
/* The flat plan of an oh x ow plane with `width`-float vectors (rows, cols: the two axes'
 * windows, both of stride 1, cols->in == ow, oh * ow >= width). */
CgFlat cg_window_flat(Arena *a, const CgWindow *rows, const CgWindow *cols, int64_t oh,
                      int64_t ow, int width);
/* The width is the smallest power of two that covers the row, at most CG_VL and as long as a
 * strided load of it spans at most CG_MAX_SPAN floats; lanes past a narrower row are off. */
CgCols cg_window_cols(Arena *a, const CgWindow *w, int64_t out);

#endif
