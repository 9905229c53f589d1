/* lower_conv2d.c: conv2d (PyTorch's nn.Conv2d) on NCHW, as a direct convolution.
 *
 * x [N, C, H, W], weight [F, C/groups, kh, kw], bias [F] -> y [N, F, OH, OW], where
 * y[n,f,oh,ow] = bias[f] + sum over c < C/groups, kh, kw of
 *   weight[f,c,kh,kw] * x[n, g*C/groups + c, oh*sh + kh*dh - top, ow*sw + kw*dw - left]
 * with g = f / (F/groups) and taps outside the image contributing nothing.
 *
 * Everything but N is a compile-time constant, so the padding is resolved here, in C, and
 * the code is vectorized by hand. A block is `width` adjacent outputs (16; 8 or fewer for
 * strides of 3 and more; the power of two that covers a narrower row, with the extra lanes
 * masked) of a few rows, for a few filters at once: a register tile of rows x filters
 * vectors. Each input vector is loaded once (unit-stride for stride 1; one row's vector is
 * also the next row's for the next kernel row, which LLVM's CSE shares) and multiplied into
 * every filter's accumulator of its row; each weight is broadcast once and multiplied into
 * every row's. The accumulators stay in registers over all the input channels and are
 * stored once. Rows split into
 * runs that read the same in-image kernel rows (the top and bottom borders and the
 * interior); a run's blocks share a loop with exactly those taps unrolled, and the rows
 * between (borders, ends of runs) form blocks at compile-time positions in which each row
 * leaves out its own padding rows. Along a row the blocks
 * sit at compile-time positions, so which lanes of each tap fall inside the image is known:
 * a tap inside for every lane is a plain load, one outside for every lane is left out, and a
 * border tap is a masked load (masked-off lanes read nothing and give 0). Consecutive blocks
 * with the same masks share a loop. A row that is not a multiple of the width ends with a
 * block that overlaps the previous one (blocks only write y, so computing an output twice is
 * harmless; so is the fused epilogue, applied to each vector before its store, whose
 * operands are never y's buffer). A kernel of more than ROLL_TAPS taps (5 x 5 and up) loops
 * over its columns with the kernel rows unrolled inside, each column's border lanes picked
 * from a constant table at run time: the block is then KW times less code, and LLVM's
 * compile time follows the code (LeNet-5's 5 x 5 layers took 60% of its compile); where
 * no row of a block leaves a kernel row out, the kernel rows are a loop too (roll_kh); row by
 * row, such a kernel takes the rows per block whose block bodies are the least code
 * (fewest_rows); in a flat plane (below) it picks each period's masks at run time too, so
 * the top and bottom borders run the interior's code (merge_runs). Each
 * filter's accumulator is split into chains (contract only, so they are not reassociated
 * back into one) to hide the FMA latency. With stride 1 and rows as long in as out (same
 * padding), a plane whose row length is not a multiple of the width runs as one flat row
 * instead (plan_flat): a block's "rows" are then consecutive vectors of the flattened
 * plane, each lane's column and row masks known at compile time, so a 56-wide plane takes
 * 3.5 vectors a row rather than 4 (resblock 10% faster) and a 7x7 one 4 vectors (the last
 * overlapping the third) rather than 7 half-width ones. The runs and blocks are planned by
 * cg_window.c, the vector loads and stores are cg_vec.c's.
 *
 * A pooling tail (fuse_pool.c) is computed inside the loop over the images: once an image's
 * planes (this task's filters of a group) are computed, they are pooled (cg_pool_planes)
 * while they are in cache. In an image chain (chain_images.c) the layer computes one image,
 * cg->image, per call. A value of one image (one_image: a tail's input, a value passed along
 * a chain) is stored and read at the image's own planes' offsets less the image's (the
 * epilogue still reads its operands at the whole tensor's index). Such a layer's tasks split
 * the filters only, each writing (and pooling) its own planes: splitting the images would
 * have two tasks write one image's room. It runs as at most as many tasks as it has filter
 * blocks per group (cg_conv_max_tasks), at least two: the passes make tails and chains of
 * layers with IMAGE_SPLIT_FILTERS filters per group only (passes.h). */
#include <string.h>

#include "cg_vec.h"
#include "cg_window.h"
#include "pack_weights.h"
#include "passes.h"

enum {
    GROUP_TAPS = 16,  /* a channel loop iteration's most taps (one 3x3 channel: two ran no
                       * faster and cost resblock 60% more compile; unrolling up to 64 taps
                       * spilled: 3->32 3x3 and 64->64 1x1 convs ran 2.4x and 3.3x slower) */
    MAX_FB = 8,       /* filters per block */
    MAX_RB = 4,       /* rows per block */
    MAX_FLAT_RB = 8,  /* vectors per block in a flat plane */
    MAX_ACCS = 32,    /* accumulator vectors per block: rows x filters x chains */
    ROLL_TAPS = 16,   /* larger kernels loop over their columns */
    MAX_FLAT_VECS = 32, /* a flat plane's distinct vectors (its code) at most */
    MAX_PICKS = 16,     /* distinct lane-mask tables one kernel column shares */
    MIN_FLAT_FB = 4,    /* a plane runs flat where its row-by-row blocks have this many
                         * filters or more (plan_flat) */
    FLAT_FB = 3,        /* a flat plane's blocks take the fewest filters from this many */
    MIN_TILE = 16,      /* accumulators fewest_rows keeps in a tile, at least */
};

typedef struct Conv {
    const Node *n;
    int64_t C, H, W, F, OH, OW, KH, KW, sh, sw, pt, pl, dh, dw, groups, Cg, Fg;
    int64_t fb;   /* filters per block */
    int64_t rb;   /* rows per block (a run's last block may have fewer) */
    int64_t cgrp; /* channels per channel-loop iteration; Cg: no loop */
    int chains;   /* accumulators per row and filter */
    bool roll_kw; /* the kernel columns are a loop (KH x KW > ROLL_TAPS) */
    CgRows rows;
    CgCols cols;
    CgFlat flat;  /* the plane as one flat row (flat.nruns > 0), or row by row */
    LLVMValueRef X, Y, Wt, B;
    LLVMValueRef j0, jn; /* this task's filter blocks of each group (cg_task_part) */
} Conv;

/* A block of `rows` rows, row i in row run run[i], and column blocks cb: x indexes the input
 * under its first row's first output in the group's first channel, w filter f's first
 * weight, y the first row's first output of filter f. Accumulator (row i, filter fi, chain)
 * is acc[(i * fb + fi) * chains + chain]. In a flat plane a block's "rows" are vectors of a
 * flat run instead: row i at off[i] - off[0] outputs from the first, with mask
 * fmask[(i * KH + kh) * mlen + kw] for tap (kh, kw) (run and cb unused). In a run of
 * periods whose masks differ (merge_runs), period q's are at fmask[... + q * KW + kw],
 * mlen = periods x KW, and mper is the block's period times KW at run time (else NULL,
 * and mlen = KW). */
typedef struct Block {
    const CgRun *run[MAX_FLAT_RB];
    const CgColBlock *cb;
    const int64_t *off;
    const uint32_t *fmask;
    int64_t mlen;
    LLVMValueRef mper;
    int width;
    int64_t rows;
    LLVMValueRef x, w, y, f;
    LLVMValueRef yimg; /* with a one-image y: added to y's index, the whole tensor's (for the
                        * epilogue's operands); else NULL */
} Block;

_Static_assert(2 * MAX_FB <= IMAGE_SPLIT_FILTERS, "tails and chains split their filter blocks");

/* The largest divisor of n that is at most max (at least 1). */
static int64_t divisor_upto(int64_t n, int64_t max) {
    for (int64_t d = max < n ? max : n; d > 1; d--)
        if (n % d == 0)
            return d;
    return 1;
}

/* The filters per block for Fg filters per group: the most that divide Fg, up to MAX_FB
 * with 32 vector registers and half that with 16. */
static int64_t filter_block(const Cg *cg, int64_t Fg) {
    return divisor_upto(Fg, cg_vec_regs(cg) >= 32 ? MAX_FB : MAX_FB / 2);
}

/* The register tile: fb filters x rb rows of accumulators, each split into chains so that
 * at least 8 FMAs are independent (2 FMA ports x 4 cycles of latency). With 32 vector
 * registers (AVX-512) the tile is 8 x 3: 24 accumulators, 3 input vectors and a broadcast
 * weight; with 16 (AVX2, SSE) it is 4 x 2. Each tap then loads fb + rb vectors for fb * rb
 * FMAs, so the FMA ports rather than the load ports bound it. A flat plane's block
 * (plan_flat) is the other way round, few filters and many vectors (up to MAX_FLAT_RB):
 * 4 x 6 or 3 x 8 load as many vectors per FMA as 8 x 3, and a run's code is its vectors
 * times the filters per block, so half of it or less. With 4 x 6, resblock's 64 -> 64
 * layers (7-vector periods) and 32 -> 32 and 64 -> 48 3 x 3 layers at 28 x 28 and 14 x 14
 * ran within 1% of 8 x 3 (alternated `nndc bench`, -0.6% to +1%), as did LeNet-5's
 * first layer with 3 x 7 against 6 x 4 + 6 x 3; resblock's code halved (14390 -> 6884
 * instructions) and LeNet-5's compile took 8.5% fewer instructions. */
static void plan_tile(const Cg *cg, Conv *cv) {
    bool wide = cg_vec_regs(cg) >= 32, flat = cv->flat.nruns > 0;
    int64_t accs = wide ? 24 : 8, most = flat ? MAX_FLAT_RB : MAX_RB;
    cv->fb = filter_block(cg, cv->Fg);
    for (int64_t d = FLAT_FB; flat && d < cv->fb; d++)
        if (cv->Fg % d == 0 && d * (accs / d < most ? accs / d : most) >= 8) {
            cv->fb = d; /* the fewest filters that keep one chain */
            break;
        }
    cv->rb = accs / cv->fb;
    if (cv->rb > most)
        cv->rb = most;
    if (cv->rb > cv->OH && !cv->flat.nruns)
        cv->rb = cv->OH;
    int64_t tile = cv->rb * cv->fb;
    cv->chains = tile >= 8 ? 1 : (int)((8 + tile - 1) / tile);
}

/* The weights [F][Cg][KH][KW] packed for the blocks as [F/fb][Cg][KH][KW][fb]
 * (pack_weights.c): the fb filters' weights of one tap, which a block broadcasts one after
 * the other, share a cache line, and a block's weights are contiguous. */
static LLVMValueRef pack_weights(Cg *cg, const Conv *cv, const Param *wp) {
    int64_t taps = cv->Cg * cv->KH * cv->KW;
    Param packed = {.name = arena_printf(cg->g->arena, "%s.packed", wp->name),
                    .shape = {.rank = 1, .d = {dim_const(cv->F * taps)}},
                    .data = cg_param_data_needed(cg, cv->F * taps)
                                ? pack_conv_weight(cg->g->arena, wp->data, cv->F, taps, cv->fb)
                                : NULL};
    return cg_param(cg, &packed);
}

/* Whether the plane runs flat (cg_window_flat) and its plan: with stride 1, input rows as
 * long as the output's (same padding), and fewer native vector operations than row by row.
 * Rows of 56 take four vectors of 16 each (64 lanes for 56 outputs) and flat three and a
 * half; rows of 7 take one of 8 each (half a zmm) and flat 7/16 of one. Flat vectors do
 * not share their loads between rows (row by row, row i's input at kernel row kh is row
 * i + 1's at kh - 1), and with the kernel columns a loop each row picks its own masks, so a
 * block needs MIN_FLAT_FB filters to pay for them: depthwise 3x3 and 5x5 layers at 14x14
 * and 7x7 ran 10-70% slower flat. A plan of more than MAX_FLAT_VECS distinct vectors stays
 * row by row (its code). */
static bool plan_flat(const Cg *cg, Conv *cv, const CgWindow *rows, const CgWindow *cols) {
    int64_t width = CG_VL, native = cg_vec_native(cg), total = cv->OH * cv->OW;
    if (cv->sh != 1 || cv->sw != 1 || cv->W != cv->OW || total < width || cv->fb < MIN_FLAT_FB)
        return false;
    int64_t cw = cv->cols.width;
    int64_t by_rows = cv->OH * ((cv->OW + cw - 1) / cw) * ((cw + native - 1) / native);
    int64_t flat = (total + width - 1) / width * ((width + native - 1) / native);
    int64_t g = width;
    while (cv->OW % g)
        g /= 2; /* gcd(OW, width): a period is OW / g vectors */
    if (16 * flat > 15 * by_rows ||
        (cv->OW / g > MAX_FLAT_VECS && (total + width - 1) / width > MAX_FLAT_VECS))
        return false;
    CgFlat f = cg_window_flat(cg->g->arena, rows, cols, cv->OH, cv->OW, (int)width);
    int vecs = 0;
    for (int i = 0; i < f.nruns; i++)
        vecs += f.runs[i].nvec;
    if (vecs <= MAX_FLAT_VECS)
        cv->flat = f;
    return cv->flat.nruns > 0;
}

/* n's plan: its tile, windows and flat runs (everything but its buffers and parameters). */
static void conv_plan(const Cg *cg, const Node *n, Conv *cv) {
    const Shape *x = &n->in[0]->shape, *y = &n->shape;
    const int64_t *k = node_attr(n, "kernel")->v, *s = node_attr(n, "stride")->v;
    const int64_t *p = node_attr(n, "padding")->v, *d = node_attr(n, "dilation")->v;
    *cv = (Conv){.n = n, .C = x->d[1].c, .H = x->d[2].c, .W = x->d[3].c, .F = y->d[1].c,
                 .OH = y->d[2].c, .OW = y->d[3].c, .KH = k[0], .KW = k[1], .sh = s[0], .sw = s[1],
                 .pt = p[0], .pl = p[1], .dh = d[0], .dw = d[1], .groups = attr_int(n, "groups")};
    cv->Cg = cv->C / cv->groups;
    cv->Fg = cv->F / cv->groups;
    int64_t kk = cv->KH * cv->KW;
    cv->roll_kw = kk > ROLL_TAPS;
    cv->cgrp = divisor_upto(cv->Cg, GROUP_TAPS / kk); /* Cg when all its taps fit */
    Arena *a = cg->g->arena;
    CgWindow rows = {
        .in = cv->H, .kernel = cv->KH, .stride = cv->sh, .dilation = cv->dh, .pad = cv->pt};
    CgWindow cols = {
        .in = cv->W, .kernel = cv->KW, .stride = cv->sw, .dilation = cv->dw, .pad = cv->pl};
    cv->rows = cg_window_rows(a, &rows, cv->OH);
    cv->cols = cg_window_cols(a, &cols, cv->OW);
    plan_tile(cg, cv);
    if (plan_flat(cg, cv, &rows, &cols))
        plan_tile(cg, cv); /* again: a flat block's "rows" are vectors, not capped by OH */
    if (cv->flat.nruns && cv->chains != 1) {
        /* An overlapped output is computed twice, and must come out the same both times:
         * with one chain it does; with more, the chain a tap lands in would depend on the
         * kernel rows its block leaves out. MIN_FLAT_FB filters make one chain enough. */
        cv->flat.nruns = 0;
        plan_tile(cg, cv);
    }
}

static void conv_setup(Cg *cg, const Node *n, Conv *cv) {
    conv_plan(cg, n, cv);
    const Param *bp = node_param(n, "bias");
    cv->X = cg->buf[n->in[0]->id];
    cv->Y = cg->buf[n->id];
    cv->Wt = pack_weights(cg, cv, node_param(n, "weight"));
    cv->B = bp ? cg_param(cg, bp) : NULL;
}

static const char *label(Cg *cg, const Conv *cv, const char *what) {
    return arena_printf(cg->g->arena, "%s.%s", cv->n->name, what);
}

/* --- blocks ---------------------------------------------------------------------------- */

/* Whether kernel row kh is inside the input for the rows of run r. */
static bool run_has_tap(const CgRun *r, int64_t kh) {
    for (int i = 0; i < r->ntaps; i++)
        if (r->taps[i] == kh)
            return true;
    return false;
}

/* A kernel column: kw at compile time (kwv NULL), or the kw loop's index kwv, whose lane
 * mask `pick` chose at run time (NULL when the block's masks are all alike: masks[0]). Its
 * kernel rows are unrolled, or with khv (roll_kh) the column is kernel row khv's alone. */
typedef struct TapCol {
    int64_t kw;
    LLVMValueRef kwv, pick, khv;
} TapCol;

/* A flat block's lane masks for one row and kernel row, over the kernel columns (n of them
 * at tab: KW, or KW per period of a merged run), chosen by index `which` (the kw loop's,
 * plus the period's times KW): picked from a table at run time, or NULL when they are all
 * alike (tab[0]). Rows and kernel rows with the same masks (all of them away from the
 * borders) share one pick. */
typedef struct Picks {
    int n;
    const uint32_t *tab[MAX_PICKS];
    LLVMValueRef pick[MAX_PICKS];
} Picks;

static LLVMValueRef flat_pick(Cg *cg, const Conv *cv, Picks *ps, const uint32_t *tab,
                              int64_t n, LLVMValueRef which, int width) {
    for (int i = 0; i < ps->n; i++)
        if (memcmp(ps->tab[i], tab, (size_t)n * sizeof *tab) == 0)
            return ps->pick[i];
    LLVMValueRef p = cg_vec_mask_pick(cg, tab, (int)n, which, width, cv->sw);
    if (ps->n < MAX_PICKS) {
        ps->tab[ps->n] = tab;
        ps->pick[ps->n++] = p;
    }
    return p;
}

/* Adds the taps of channel c in kernel column col, every kernel row, to the block's
 * accumulators; x and w index the first channel from the pointers xp and wp. A row whose
 * input row is padding for a kernel row leaves that kernel row out. Kernel rows are the
 * inner loop: the input vector of row i at kernel row kh is row i + 1's at kh - 1, so it is
 * loaded once and used again at the next step (kernel columns inner kept rb x KW such
 * vectors alive, and the tile spilled). t counts the taps, to rotate the chains. */
static void add_column(Cg *cg, const Conv *cv, const Block *bk, LLVMValueRef xp, LLVMValueRef x,
                       LLVMValueRef wp, LLVMValueRef w, int64_t c, const TapCol *col,
                       LLVMValueRef *acc, int *t) {
    uint32_t mask = bk->fmask ? 0 : bk->cb->mask[col->kw];
    if (!bk->fmask && !mask && !col->pick)
        return;
    if (col->kwv) {
        x = cg_add(cg, x, cg_mulc(cg, col->kwv, cv->dw));
        w = cg_add(cg, w, cg_mulc(cg, col->kwv, cv->fb));
    }
    /* Kernel row khv's taps are kernel row 0's at these offsets, added here in the kw loop:
     * computed once per kernel row instead, in the kh loop, they made LeNet-5's second
     * layer 3.5% slower (the kw loop then set its lane mask register in every iteration),
     * where in the kw loop they made it 2.5% faster than unrolled kernel rows. */
    if (col->khv) {
        x = cg_add(cg, x, cg_mulc(cg, col->khv, cv->dh * cv->W));
        w = cg_add(cg, w, cg_mulc(cg, col->khv, cv->KW * cv->fb));
    }
    int64_t kw = col->kwv ? 0 : col->kw;
    Picks ps = {0};
    for (int64_t kh = 0; kh < (col->khv ? 1 : cv->KH); kh++) {
        bool in[MAX_FLAT_RB], any = false;
        uint32_t m[MAX_FLAT_RB];
        LLVMValueRef pick[MAX_FLAT_RB];
        for (int64_t row = 0; row < bk->rows; row++) {
            pick[row] = col->pick;
            if (!bk->fmask) {
                m[row] = mask;
                any |= in[row] = run_has_tap(bk->run[row], kh);
                continue;
            }
            const uint32_t *tab = bk->fmask + (row * cv->KH + kh) * bk->mlen;
            m[row] = tab[kw];
            in[row] = m[row] != 0;
            if (col->kwv) { /* the kw loop: the masks of every kernel column (and period) */
                for (int64_t j = 1; j < bk->mlen; j++)
                    in[row] |= tab[j] != 0;
                if (in[row])
                    pick[row] = flat_pick(cg, cv, &ps, tab, bk->mlen,
                                          bk->mper ? cg_add(cg, bk->mper, col->kwv) : col->kwv,
                                          bk->width);
            }
            any |= in[row];
        }
        if (!any)
            continue;
        LLVMValueRef xv[MAX_FLAT_RB];
        for (int64_t row = 0; row < bk->rows; row++) {
            if (!in[row])
                continue;
            int64_t xoff = (c * cv->H + kh * cv->dh - cv->pt) * cv->W + kw * cv->dw - cv->pl +
                           (bk->fmask ? bk->off[row] - bk->off[0] : row * cv->sh * cv->W);
            LLVMValueRef at = cg_add_signed(cg, x, xoff);
            xv[row] = pick[row]
                          ? cg_vec_load_picked(cg, xp, at, bk->width, cv->sw, pick[row], 0.0)
                          : cg_vec_load(cg, xp, at, bk->width, cv->sw, m[row], 0.0);
        }
        for (int64_t fi = 0; fi < cv->fb; fi++) {
            int64_t woff = ((c * cv->KH + kh) * cv->KW + kw) * cv->fb + fi;
            LLVMValueRef wv =
                cg_vec_splat(cg, cg_load(cg, wp, cg_addc(cg, w, woff)), bk->width);
            for (int64_t row = 0; row < bk->rows; row++) {
                LLVMValueRef *a = &acc[(row * cv->fb + fi) * cv->chains + *t % cv->chains];
                if (in[row])
                    *a = cg_vec_fma(cg, wv, xv[row], *a);
            }
        }
        (*t)++;
    }
}

/* Whether block bk runs its kernel rows as a loop around the kernel columns' (roll_kw):
 * row by row, stride and dilation 1, MIN_FLAT_FB filters or more, every row of the block
 * inside the input for every kernel row (no padding rows to leave out). The kw loop's body
 * is then one kernel row's taps, KH times less code: LeNet-5's second layer went from 80
 * FMAs to 16 and its whole JIT compile from 383 to 362 M instructions (cachegrind), and
 * the layer ran 2.5% faster (alternated `nndc bench` at batch 1 and 16). Elsewhere a row's input
 * vector at kernel row kh, which is the next row's at kh - 1, is loaded once for both, and
 * rolling lost that: a 5 x 5 depthwise layer ran 50% slower, a strided 7 x 7 one 9%, a
 * 7 x 7 one with dilation 2 2-3%. A flat plane's blocks (plan_flat) pick a lane mask per
 * row and tap, and with the kernel rows a loop a 5 x 5 layer of 32 filters at 28 x 28 ran
 * 3.5% slower: they keep their kernel rows unrolled. */
static bool roll_kh(const Conv *cv, const Block *bk) {
    if (!cv->roll_kw || bk->fmask || cv->sh != 1 || cv->sw != 1 || cv->dh != 1 ||
        cv->dw != 1 || cv->fb < MIN_FLAT_FB)
        return false;
    for (int64_t row = 0; row < bk->rows; row++)
        if (bk->run[row]->ntaps != cv->KH)
            return false;
    return true;
}

/* Adds the taps of nc channels to the block's accumulators; x and w index the first one
 * from xp and wp. The kernel columns are unrolled, or with a large kernel a loop whose
 * accumulators are phis (see roll_kw), inside one over the kernel rows (roll_kh). */
static void add_taps(Cg *cg, const Conv *cv, const Block *bk, LLVMValueRef xp, LLVMValueRef x,
                     LLVMValueRef wp, LLVMValueRef w, int64_t nc, LLVMValueRef *acc) {
    int t = 0, na = (int)(bk->rows * cv->fb) * cv->chains;
    for (int64_t c = 0; c < nc; c++) {
        if (!cv->roll_kw) {
            for (int64_t kw = 0; kw < cv->KW; kw++)
                add_column(cg, cv, bk, xp, x, wp, w, c, &(TapCol){.kw = kw}, acc, &t);
            continue;
        }
        CgLoop lh, l;
        LLVMValueRef khv = NULL;
        if (roll_kh(cv, bk)) {
            khv = cg_loop_begin(cg, &lh, cg_i64(cg, cv->KH), label(cg, cv, "kh"));
            for (int i = 0; i < na; i++)
                acc[i] = cg_loop_acc(cg, &lh, acc[i], "");
        }
        LLVMValueRef kwv = cg_loop_begin(cg, &l, cg_i64(cg, cv->KW), label(cg, cv, "kw"));
        for (int i = 0; i < na; i++)
            acc[i] = cg_loop_acc(cg, &l, acc[i], "");
        TapCol col = {.kwv = kwv,
                      .khv = khv,
                      .pick = bk->fmask ? NULL
                                        : cg_vec_mask_pick(cg, bk->cb->mask, (int)cv->KW, kwv,
                                                           bk->width, cv->sw)};
        add_column(cg, cv, bk, xp, x, wp, w, c, &col, acc, &t);
        cg_loop_end(cg, &l, acc);
        for (int i = 0; i < na; i++)
            acc[i] = l.acc_out[i];
        if (khv) {
            cg_loop_end(cg, &lh, acc);
            for (int i = 0; i < na; i++)
                acc[i] = lh.acc_out[i];
        }
    }
}

/* add_taps over all Cg channels, in a loop of cgrp channels per iteration whose
 * accumulators are phis. The loop's x and w are pointers that step a group of channels per
 * iteration, its taps constant offsets from them: LLVM's loop strength reduction, which
 * used to make them so, is off (pass_gate.cpp, emit_code.cpp). */
static void add_channels(Cg *cg, const Conv *cv, const Block *bk, LLVMValueRef *acc) {
    if (cv->cgrp == cv->Cg) {
        add_taps(cg, cv, bk, cv->X, bk->x, cv->Wt, bk->w, cv->Cg, acc);
        return;
    }
    int na = (int)(bk->rows * cv->fb) * cv->chains;
    LLVMValueRef x0 = cg_elem_ptr(cg, cv->X, bk->x), w0 = cg_elem_ptr(cg, cv->Wt, bk->w);
    CgLoop l;
    cg_loop_begin(cg, &l, cg_i64(cg, cv->Cg / cv->cgrp), label(cg, cv, "c"));
    LLVMValueRef phi[MAX_ACCS + 2], next[MAX_ACCS + 2];
    LLVMValueRef init[MAX_ACCS + 2] = {[0] = x0, [1] = w0};
    memcpy(init + 2, acc, (size_t)na * sizeof *acc);
    for (int i = 0; i < na + 2; i++) { /* phis first, before any other instruction */
        phi[i] = next[i] = LLVMBuildPhi(cg->b, LLVMTypeOf(init[i]), "");
        LLVMAddIncoming(phi[i], &init[i], &l.pre, 1);
    }
    LLVMValueRef zero = cg_i64(cg, 0);
    add_taps(cg, cv, bk, phi[0], zero, phi[1], zero, cv->cgrp, next + 2);
    next[0] = cg_elem_ptr(cg, phi[0], cg_i64(cg, cv->cgrp * cv->H * cv->W));
    next[1] = cg_elem_ptr(cg, phi[1], cg_i64(cg, cv->cgrp * cv->KH * cv->KW * cv->fb));
    LLVMBasicBlockRef latch = LLVMGetInsertBlock(cg->b);
    cg_loop_end(cg, &l, NULL);
    /* The loop runs at least once, but its exit is also reached from the zero-trip check. */
    for (int i = 0; i < na + 2; i++)
        LLVMAddIncoming(phi[i], &next[i], &latch, 1);
    for (int i = 0; i < na; i++) {
        LLVMValueRef out = LLVMBuildPhi(cg->b, LLVMTypeOf(acc[i]), "");
        LLVMValueRef vals[2] = {acc[i], next[i + 2]};
        LLVMBasicBlockRef from[2] = {l.pre, latch};
        LLVMAddIncoming(out, vals, from, 2);
        acc[i] = out;
    }
}

/* One block: its accumulators start at the bias (the other chains at -0, which folds
 * away), take every channel's taps, and are summed pairwise, go through the fused epilogue
 * as vectors and are stored. */
static void emit_block(Cg *cg, const Conv *cv, const Block *bk) {
    LLVMValueRef acc[MAX_ACCS];
    for (int64_t fi = 0; fi < cv->fb; fi++) {
        LLVMValueRef bias = cv->B ? cg_load(cg, cv->B, cg_addc(cg, bk->f, fi)) : cg_f32(cg, 0.0);
        for (int64_t row = 0; row < bk->rows; row++)
            for (int ch = 0; ch < cv->chains; ch++)
                acc[(row * cv->fb + fi) * cv->chains + ch] =
                    cg_vec_splat(cg, ch ? cg_f32(cg, -0.0) : bias, bk->width);
    }
    add_channels(cg, cv, bk, acc);
    for (int64_t row = 0; row < bk->rows; row++)
        for (int64_t fi = 0; fi < cv->fb; fi++) {
            LLVMValueRef *a = &acc[(row * cv->fb + fi) * cv->chains];
            for (int step = 1; step < cv->chains; step *= 2)
                for (int i = 0; i + step < cv->chains; i += 2 * step)
                    a[i] = cg_contract(LLVMBuildFAdd(cg->b, a[i], a[i + step], ""));
            int64_t step = bk->fmask ? bk->off[row] - bk->off[0] : row * cv->OW;
            uint32_t lanes = bk->fmask ? (uint32_t)((1ull << bk->width) - 1) : cv->cols.lanes;
            LLVMValueRef at = cg_addc(cg, bk->y, fi * cv->OH * cv->OW + step);
            LLVMValueRef whole = bk->yimg ? cg_add(cg, at, bk->yimg) : at;
            LLVMValueRef v = cg_epilogue_lanes(cg, cv->n, a[0], whole, lanes);
            cg_vec_store(cg, v, cv->Y, at, bk->width, lanes);
        }
}

/* The blocks of cb in one row (x and y index the row's first output): one, or a loop. */
static void emit_col_blocks(Cg *cg, const Conv *cv, Block bk) {
    LLVMValueRef ow0 = cg_i64(cg, bk.cb->ow0);
    CgLoop l;
    if (bk.cb->count > 1) {
        LLVMValueRef k = cg_loop_begin(cg, &l, cg_i64(cg, bk.cb->count), label(cg, cv, "ow"));
        ow0 = cg_addc(cg, cg_mulc(cg, k, bk.width), bk.cb->ow0);
    }
    bk.x = cg_add(cg, bk.x, cg_mulc(cg, ow0, cv->sw));
    bk.y = cg_add(cg, bk.y, ow0);
    emit_block(cg, cv, &bk);
    if (bk.cb->count > 1)
        cg_loop_end(cg, &l, NULL);
}

/* Opens the loop over this task's blocks of fb filters of group g of image b: sets bk's f
 * and w, and the plane bases xbase (x's first channel of the group) and ybase (y's first
 * filter of the block). */
static void filters_begin(Cg *cg, const Conv *cv, Block *bk, LLVMValueRef b, LLVMValueRef g,
                          CgLoop *lf, LLVMValueRef *xbase, LLVMValueRef *ybase) {
    LLVMValueRef channel = cg_mulc(cg, g, cv->Cg);
    if (!cv->n->in[0]->one_image)
        channel = cg_add(cg, cg_mulc(cg, b, cv->C), channel);
    *xbase = cg_mulc(cg, channel, cv->H * cv->W);
    LLVMValueRef j = cg_add(cg, cv->j0, cg_loop_begin(cg, lf, cv->jn, label(cg, cv, "f")));
    bk->f = cg_add(cg, cg_mulc(cg, g, cv->Fg), cg_mulc(cg, j, cv->fb));
    bk->w = cg_mulc(cg, bk->f, cv->Cg * cv->KH * cv->KW);
    LLVMValueRef image = cg_mulc(cg, b, cv->F);
    bool one = kernel_result((Node *)cv->n)->one_image;
    *ybase = cg_mulc(cg, one ? bk->f : cg_add(cg, image, bk->f), cv->OH * cv->OW);
    bk->yimg = one ? cg_mulc(cg, image, cv->OH * cv->OW) : NULL;
}

/* The blocks of `rows` rows at output row oh, for every block of fb filters of group g of
 * image b, across the row. The filters are inside the rows, so the input rows a block reads
 * (all channels of the group) stay in cache while every filter block passes over them,
 * rather than the whole image passing once per filter block. */
static void emit_row_blocks(Cg *cg, const Conv *cv, Block bk, LLVMValueRef b, LLVMValueRef g,
                            LLVMValueRef oh) {
    CgLoop lf;
    LLVMValueRef xbase, ybase;
    filters_begin(cg, cv, &bk, b, g, &lf, &xbase, &ybase);
    for (int ci = 0; ci < cv->cols.nblocks; ci++) {
        bk.cb = &cv->cols.blocks[ci];
        bk.x = cg_add(cg, xbase, cg_mulc(cg, oh, cv->sh * cv->W));
        bk.y = cg_add(cg, ybase, cg_mulc(cg, oh, cv->OW));
        emit_col_blocks(cg, cv, bk);
    }
    cg_loop_end(cg, &lf, NULL);
}

/* The row run holding output row o. */
static const CgRun *run_of(const Conv *cv, int64_t o) {
    int i = 0;
    while (cv->rows.runs[i].b <= o)
        i++;
    return &cv->rows.runs[i];
}

/* What emit_plane places at output row o: a loop of blocks of rb rows inside o's row run,
 * where the run has rb rows left (returns their count), else (0) one block of *rows rows.
 * The last rows split into blocks of nearly equal size (16 rows by 3: five blocks of 3 and
 * one of 1 would leave that row with a third of the tile's accumulators; instead 3, 3, 3,
 * 3, 2, 2). */
static int64_t plan_rows(const Conv *cv, int64_t o, int64_t *rows) {
    const CgRun *r = run_of(cv, o);
    int64_t full = (r->b - o) / cv->rb, rest = cv->OH - o - full * cv->rb;
    if (rest > 0 && 2 * rest < cv->rb)
        full--; /* the rows after the loop: two blocks, rather than one of very few rows */
    *rows = cv->rb;
    if (full > 0)
        return full;
    int64_t left = cv->OH - o;
    *rows = left <= cv->rb ? left : left < 2 * cv->rb ? (left + 1) / 2 : cv->rb;
    return 0;
}

/* Whether rows [o, o + n) and [o2, o2 + n) lie row for row in the same row runs. */
static bool same_runs(const Conv *cv, int64_t o, int64_t o2, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (run_of(cv, o + i) != run_of(cv, o2 + i))
            return false;
    return true;
}

/* The rows from output row o that emit_plane covers with one block body (returns how many
 * blocks, *rows rows each): plan_rows' loop, or its blocks of up to rb rows where
 * consecutive ones have the same rows and runs (the last rows' equal blocks). */
static int64_t plan_segment(const Conv *cv, int64_t o, int64_t *rows) {
    int64_t count = plan_rows(cv, o, rows), next;
    if (count)
        return count;
    for (count = 1; o + count * *rows < cv->OH; count++) {
        int64_t o2 = o + count * *rows;
        if (plan_rows(cv, o2, &next) || next != *rows || !same_runs(cv, o, o2, *rows))
            break;
    }
    return count;
}

/* Group g of image b over the whole output plane, in blocks of rb rows: where a
 * row run has rb rows left, a loop of blocks inside it; elsewhere (the borders, the ends of
 * runs) blocks of up to rb rows, each row with its own run's kernel rows, so that no border
 * row is a block of its own. Consecutive such blocks of the same rows and runs (the last
 * rows' equal blocks) share a loop too: each block is code the back end compiles (LeNet-5's
 * second layer, 10 rows by 3, had three block bodies, 3 x k, 2 and 2; then two, and one
 * since fewest_rows). */
static void emit_plane(Cg *cg, const Conv *cv, LLVMValueRef b, LLVMValueRef g) {
    Block bk = {.width = cv->cols.width};
    for (int64_t o = 0; o < cv->OH;) {
        int64_t rows, count = plan_segment(cv, o, &rows);
        bk.rows = rows;
        for (int64_t i = 0; i < rows; i++)
            bk.run[i] = run_of(cv, o + i);
        if (count == 1) {
            emit_row_blocks(cg, cv, bk, b, g, cg_i64(cg, o));
        } else {
            CgLoop l;
            LLVMValueRef i = cg_loop_begin(cg, &l, cg_i64(cg, count), label(cg, cv, "oh"));
            emit_row_blocks(cg, cv, bk, b, g, cg_addc(cg, cg_mulc(cg, i, rows), o));
            cg_loop_end(cg, &l, NULL);
        }
        o += count * rows;
    }
}

/* With the kernel columns a loop (roll_kw), a block body is KH x rows x fb FMAs of code,
 * and rows that do not fill blocks of rb get bodies of their own (LeNet-5's second layer,
 * 10 rows: blocks of 3 made a body of 3 rows and one of 2, 200 FMAs). Fewer rows per block
 * may cover the plane with less code: rb becomes the count, down to a tile of MIN_TILE
 * accumulators, whose bodies have the fewest rows in all (the larger on a tie). */
static void fewest_rows(Conv *cv) {
    int64_t top = cv->rb, best = top, least = INT64_MAX;
    for (int64_t r = top; r >= 1 && (r == top || r * cv->fb * cv->chains >= MIN_TILE); r--) {
        cv->rb = r;
        int64_t sum = 0;
        for (int64_t o = 0, rows; o < cv->OH; sum += rows)
            o += plan_segment(cv, o, &rows) * rows;
        if (sum < least) {
            least = sum;
            best = r;
        }
    }
    cv->rb = best;
}

/* The vectors of flat run fr at flat output p, for every block of fb filters of group g of
 * image b: blocks of up to rb vectors, of nearly equal size (7 by 3: 3, 2, 2). Masks as in
 * Block (mlen, mper). */
static void emit_flat_blocks(Cg *cg, const Conv *cv, const CgFlatRun *fr, int64_t mlen,
                             LLVMValueRef mper, LLVMValueRef b, LLVMValueRef g, LLVMValueRef p) {
    Block bk = {.width = cv->flat.width, .mlen = mlen, .mper = mper};
    CgLoop lf;
    LLVMValueRef xbase, ybase;
    filters_begin(cg, cv, &bk, b, g, &lf, &xbase, &ybase);
    int64_t nb = (fr->nvec + cv->rb - 1) / cv->rb;
    for (int64_t i = 0, v = 0; i < nb; i++, v += bk.rows) {
        bk.rows = (fr->nvec - v + nb - i - 1) / (nb - i);
        bk.off = fr->off + v;
        bk.fmask = fr->mask + v * cv->KH * mlen;
        bk.x = cg_add_signed(cg, cg_add(cg, xbase, p), fr->off[v]);
        bk.y = cg_add_signed(cg, cg_add(cg, ybase, p), fr->off[v]);
        emit_block(cg, cv, &bk);
    }
    cg_loop_end(cg, &lf, NULL);
}

/* Whether flat run fr is whole periods (not the stretch at the end). */
static bool whole_periods(const Conv *cv, const CgFlatRun *fr) {
    int64_t width = cv->flat.width;
    return fr->nvec * width == cv->flat.period && fr->off[fr->nvec - 1] == (fr->nvec - 1) * width;
}

/* Runs [i, j) of whole periods as one run of all their periods, with each period's masks
 * (Block's layout, mlen = periods x KW): a kernel whose columns are a loop already picks its
 * masks from tables at run time (roll_kw), and picking them by period as well makes the top
 * and bottom borders the interior's code rather than blocks of their own. A border period
 * then also multiplies the zeros of its kernel rows that lie in the padding, a few percent
 * of a small layer's taps, for a third of its code: LeNet-5's first layer (28 x 28, 5 x 5,
 * padding 2) was three runs of seven vectors. */
static CgFlatRun merge_runs(Cg *cg, const Conv *cv, int i, int j) {
    const CgFlatRun *first = &cv->flat.runs[i];
    CgFlatRun m = {.p0 = first->p0, .nvec = first->nvec, .off = first->off};
    for (int r = i; r < j; r++)
        m.count += cv->flat.runs[r].count;
    int64_t KH = cv->KH, KW = cv->KW, taps = KH * KW, mlen = m.count * KW;
    m.mask = arena_array(cg->g->arena, (size_t)(m.nvec * KH * mlen), sizeof *m.mask);
    for (int r = i, q = 0; r < j; r++)
        for (int64_t c = 0; c < cv->flat.runs[r].count; c++, q++)
            for (int64_t v = 0; v < m.nvec; v++)
                for (int64_t kh = 0; kh < KH; kh++)
                    memcpy(m.mask + (v * KH + kh) * mlen + q * KW,
                           cv->flat.runs[r].mask + v * taps + kh * KW, (size_t)KW * sizeof *m.mask);
    return m;
}

/* Group g of image b over the whole plane as one flat row: each run, a loop of its periods
 * where it has more than one; with the kernel columns a loop, the runs of whole periods
 * merged into one (merge_runs). */
static void emit_plane_flat(Cg *cg, const Conv *cv, LLVMValueRef b, LLVMValueRef g) {
    for (int i = 0, j; i < cv->flat.nruns; i = j) {
        CgFlatRun fr = cv->flat.runs[i];
        j = i + 1;
        if (cv->roll_kw && whole_periods(cv, &fr))
            while (j < cv->flat.nruns && whole_periods(cv, &cv->flat.runs[j]))
                j++;
        bool merged = j > i + 1;
        if (merged)
            fr = merge_runs(cg, cv, i, j);
        LLVMValueRef p = cg_i64(cg, fr.p0), mper = NULL;
        CgLoop l;
        if (fr.count > 1) {
            LLVMValueRef k = cg_loop_begin(cg, &l, cg_i64(cg, fr.count), label(cg, cv, "p"));
            p = cg_addc(cg, cg_mulc(cg, k, cv->flat.period), fr.p0);
            if (merged)
                mper = cg_mulc(cg, k, cv->KW);
        }
        emit_flat_blocks(cg, cv, &fr, merged ? fr.count * cv->KW : cv->KW, mper, b, g, p);
        if (fr.count > 1)
            cg_loop_end(cg, &l, NULL);
    }
}

/* This task's part: with at least as many images as tasks, a share of the images; else (a
 * small batch) a share of every group's filter blocks over all the images. Sets cv's filter
 * blocks and the images [*first, *first + *count). With one filter block per group only the
 * images split, and the filter loop keeps its constant trip count of 1: a runtime one cost
 * LeNet-5's first layer 34% more compile time. With a pooling tail or in an image chain
 * only the filter blocks split (see the top of this file), and in a chain of the one image. */
static void take_part(Cg *cg, Conv *cv, LLVMValueRef N, LLVMValueRef *first, LLVMValueRef *count) {
    LLVMValueRef J = cg_i64(cg, cv->Fg / cv->fb);
    if (cv->n->chain || cv->n->tail) { /* at least two filter blocks (IMAGE_SPLIT_FILTERS) */
        *first = cv->n->chain ? cg->image : cg_i64(cg, 0);
        *count = cv->n->chain ? cg_i64(cg, 1) : N;
        cg_task_part(cg, J, &cv->j0, &cv->jn);
        return;
    }
    if (cv->Fg / cv->fb < 2) {
        cv->j0 = cg_i64(cg, 0);
        cv->jn = J;
        cg_task_part(cg, N, first, count);
        return;
    }
    cg_task_part2(cg, N, J, first, count, &cv->j0, &cv->jn);
}

bool lower_conv2d(Cg *cg, Node *n) {
    cg->rolled_loops = true;
    Conv cv;
    conv_setup(cg, n, &cv);
    if (cv.roll_kw && !cv.flat.nruns)
        fewest_rows(&cv);
    LLVMValueRef first, count;
    take_part(cg, &cv, cg_dim(cg, n->shape.d[0]), &first, &count);
    CgLoop ln, lg;
    LLVMValueRef b = cg_add(cg, first, cg_loop_begin(cg, &ln, count, label(cg, &cv, "n")));
    LLVMValueRef g = cg_loop_begin(cg, &lg, cg_i64(cg, cv.groups), label(cg, &cv, "g"));
    if (cv.flat.nruns)
        emit_plane_flat(cg, &cv, b, g);
    else
        emit_plane(cg, &cv, b, g);
    if (n->tail) {
        LLVMValueRef plane = cg_add(cg, cg_mulc(cg, g, cv.Fg), cg_mulc(cg, cv.j0, cv.fb));
        LLVMValueRef y_plane = n->tail->one_image ? plane : cg_add(cg, cg_mulc(cg, b, cv.F), plane);
        cg_pool_planes(cg, n->tail, plane, y_plane, cg_mulc(cg, cv.jn, cv.fb));
    }
    cg_loop_end(cg, &lg, NULL);
    cg_loop_end(cg, &ln, NULL);
    return true;
}

int64_t cg_conv_max_tasks(const Cg *cg, const Node *n) {
    if (!n->tail && !n->chain)
        return 0;
    Conv cv;
    conv_plan(cg, n, &cv);
    return cv.Fg / cv.fb;
}
