/* cg_window.c: the compile-time plan of a sliding window's row runs and column blocks (see
 * cg_window.h).
 *
 * In: a CgWindow and the number of outputs along its axis. Out: CgRows / CgCols allocated
 * in the arena; no IR is generated here. */
#include <string.h>

#include "cg_window.h"

/* Whether output o's tap t reads inside [0, in). */
static bool inside(const CgWindow *w, int64_t o, int64_t t) {
    int64_t i = o * w->stride + t * w->dilation - w->pad;
    return i >= 0 && i < w->in;
}

/* PyTorch's divisor along one axis: the window clipped to the padded input
 * (count_include_pad; the window starts inside it), or its in-input taps. */
static int64_t divisor(const CgWindow *w, int64_t o, int ntaps) {
    if (!w->count_pad)
        return ntaps;
    int64_t start = o * w->stride - w->pad, end = start + w->kernel;
    return (end < w->in + w->pad_end ? end : w->in + w->pad_end) - start;
}

CgRows cg_window_rows(Arena *a, const CgWindow *w, int64_t out) {
    CgRows ax = {0, arena_array(a, (size_t)out, sizeof(CgRun))};
    int64_t *taps = arena_array(a, (size_t)w->kernel, sizeof *taps);
    for (int64_t o = 0; o < out; o++) {
        int nt = 0;
        for (int64_t t = 0; t < w->kernel; t++)
            if (inside(w, o, t))
                taps[nt++] = t;
        int64_t count = divisor(w, o, nt);
        CgRun *last = ax.nruns ? &ax.runs[ax.nruns - 1] : NULL;
        if (last && last->ntaps == nt && last->count == count &&
            memcmp(last->taps, taps, (size_t)nt * sizeof *taps) == 0) {
            last->b = o + 1;
            continue;
        }
        CgRun *r = &ax.runs[ax.nruns++];
        *r = (CgRun){o, o + 1, count, nt, arena_array(a, (size_t)w->kernel, sizeof *taps)};
        memcpy(r->taps, taps, (size_t)nt * sizeof *taps);
    }
    return ax;
}

/* Masks and divisors of the block at ow0. */
static void col_block(const CgWindow *w, int width, int64_t out, int64_t ow0, CgColBlock *cb) {
    memset(cb->div, 0, sizeof cb->div);
    for (int64_t t = 0; t < w->kernel; t++) {
        cb->mask[t] = 0;
        for (int l = 0; l < width; l++)
            cb->mask[t] |= (uint32_t)(ow0 + l < out && inside(w, ow0 + l, t)) << l;
    }
    for (int l = 0; l < width && ow0 + l < out; l++) {
        int nt = 0;
        for (int64_t t = 0; t < w->kernel; t++)
            nt += (cb->mask[t] >> l) & 1;
        cb->div[l] = divisor(w, ow0 + l, nt);
    }
}

/* Blocks at 0, width, 2*width, ... and one ending at out if it is not a multiple of the
 * width; consecutive ones with the same masks and divisors are merged. */
CgCols cg_window_cols(Arena *a, const CgWindow *w, int64_t out) {
    CgCols c = {.width = 1};
    while (c.width < CG_VL && c.width < out && (c.width * 2 - 1) * w->stride + 1 <= CG_MAX_SPAN)
        c.width *= 2;
    c.lanes = out < c.width ? (1u << out) - 1 : (uint32_t)((1ull << c.width) - 1);
    int64_t n = (out + c.width - 1) / c.width;
    c.blocks = arena_array(a, (size_t)n, sizeof(CgColBlock));
    CgColBlock cur = {.mask = arena_array(a, (size_t)w->kernel, sizeof(uint32_t))};
    for (int64_t i = 0; i < n; i++) {
        int64_t ow0 = i * c.width + c.width <= out || i == 0 ? i * c.width : out - c.width;
        col_block(w, c.width, out, ow0, &cur);
        CgColBlock *last = c.nblocks ? &c.blocks[c.nblocks - 1] : NULL;
        if (last && last->ow0 + last->count * c.width == ow0 &&
            memcmp(last->mask, cur.mask, (size_t)w->kernel * sizeof *cur.mask) == 0 &&
            memcmp(last->div, cur.div, sizeof cur.div) == 0) {
            last->count++;
            continue;
        }
        CgColBlock *b = &c.blocks[c.nblocks++];
        *b = cur;
        b->ow0 = ow0;
        b->count = 1;
        b->mask = arena_array(a, (size_t)w->kernel, sizeof *b->mask);
        memcpy(b->mask, cur.mask, (size_t)w->kernel * sizeof *b->mask);
    }
    return c;
}

/* The masks of the vector at flat output p: lane l is output p + l, at row (p + l) / ow and
 * column (p + l) % ow, and reads inside for tap (kh, kw) when both axes do. */
static void flat_vector(const CgWindow *rows, const CgWindow *cols, int64_t ow, int width,
                        int64_t p, uint32_t *mask) {
    for (int64_t kh = 0; kh < rows->kernel; kh++)
        for (int64_t kw = 0; kw < cols->kernel; kw++) {
            uint32_t m = 0;
            for (int l = 0; l < width; l++)
                m |= (uint32_t)(inside(rows, (p + l) / ow, kh) && inside(cols, (p + l) % ow, kw))
                     << l;
            mask[kh * cols->kernel + kw] = m;
        }
}

/* Whether every kernel row is inside for output rows [r, r + n). */
static bool rows_inside(const CgWindow *rows, int64_t r, int64_t n) {
    for (int64_t o = r; o < r + n; o++)
        for (int64_t t = 0; t < rows->kernel; t++)
            if (!inside(rows, o, t))
                return false;
    return true;
}

/* A new run of f: one period (or stretch) of nvec vectors from p0, at p0 + v * width, with
 * room for their masks. */
static CgFlatRun *new_run(Arena *a, CgFlat *f, int64_t p0, int nvec, int64_t taps) {
    CgFlatRun *run = &f->runs[f->nruns++];
    *run = (CgFlatRun){p0, 1, nvec, arena_array(a, (size_t)nvec, sizeof(int64_t)),
                       arena_array(a, (size_t)(nvec * taps), sizeof(uint32_t))};
    for (int v = 0; v < nvec; v++)
        run->off[v] = v * f->width;
    return run;
}

CgFlat cg_window_flat(Arena *a, const CgWindow *rows, const CgWindow *cols, int64_t oh,
                      int64_t ow, int width) {
    int64_t g = ow, r = width;
    while (r) { /* gcd(ow, width) */
        int64_t t = g % r;
        g = r;
        r = t;
    }
    int64_t total = oh * ow, period = ow / g * width, taps = rows->kernel * cols->kernel;
    int64_t nper = total / period, tail = total - nper * period;
    CgFlat f = {.width = width, .period = period,
                .runs = arena_array(a, (size_t)nper + 1, sizeof(CgFlatRun))};
    int pvec = (int)(period / width);
    size_t bytes = (size_t)(pvec * taps) * sizeof(uint32_t);
    uint32_t *cur = arena_array(a, (size_t)(pvec * taps), sizeof *cur);
    bool inner = false; /* the last run's periods have every kernel row inside */
    for (int64_t i = 0; i < nper; i++) {
        /* Such periods all have the same masks (the columns'): counted, not recomputed. */
        bool in = rows_inside(rows, i * period / ow, period / ow);
        if (in && inner) {
            f.runs[f.nruns - 1].count++;
            continue;
        }
        inner = in;
        for (int v = 0; v < pvec; v++)
            flat_vector(rows, cols, ow, width, i * period + v * width, cur + v * taps);
        CgFlatRun *last = f.nruns ? &f.runs[f.nruns - 1] : NULL;
        if (last && memcmp(last->mask, cur, bytes) == 0) {
            last->count++;
            continue;
        }
        memcpy(new_run(a, &f, i * period, pvec, taps)->mask, cur, bytes);
    }
    if (tail > 0) {
        int nvec = (int)((tail + width - 1) / width);
        CgFlatRun *run = new_run(a, &f, nper * period, nvec, taps);
        /* The last vector ends at the last output, overlapping the one before. */
        run->off[nvec - 1] = total - width - run->p0;
        for (int v = 0; v < nvec; v++)
            flat_vector(rows, cols, ow, width, run->p0 + run->off[v], run->mask + v * taps);
    }
    return f;
}
