/* lower_dense.c: dense(x, units) = x · Wᵀ + b over the last axis of x, as a register-tiled
 * matrix multiplication over pre-packed weights.
 *
 * x [..., K] is M rows (M may be symbolic), weight [U, K] (PyTorch layout), bias [U] ->
 * y [M, U]. At compile time the weights are packed into panels of NR columns (up to four
 * native vectors, see plan): panel p holds W[p*NR + c][k] at [p][k][c], zero past U, so a
 * kernel reads one contiguous line of NR floats per k; the bias is padded the same way.
 *
 * The panels are the outer loop, so a panel (K*NR floats) stays in L2 while every block of
 * MR rows passes over it; a panel over PANEL_BYTES is taken in chunks of k, each chunk over
 * every panel and block before the next, with the sums of a chunk stored in y and reloaded.
 * A block keeps MR x NR/V accumulator vectors in registers; per k it loads the panel's line,
 * broadcasts MR elements of x and issues MR*NR/V FMAs. Rows past the last full block go
 * through one block of 8 rows, one of 4 and one of 2 where they fit; the last row (every
 * row at batch 1) goes through a one-row kernel that covers four panels at a time so that
 * enough independent FMA chains hide the latency; it reads each panel once, whole, and is
 * never chunked. A compact layer (setup) has blocks of MR and the one-row kernel only; in a
 * narrow one the last block ends at the last row, overlapping the one before (an output
 * computed twice comes out the same, and y is not x). A panel cut by U is emitted on its own,
 * with only the vectors and lanes that exist.
 *
 * Every output is the same sequence of FMAs over k = 0..K-1 starting from 0 (a chunk's sums
 * pass through y unchanged), then the bias, then the fused epilogue, whichever kernel
 * computes it: results do not depend on the batch size, on a row's position, or on how rows
 * are split between threads. */
#include "cg_vec.h"
#include "flops.h"
#include "pack_weights.h"

enum {
    ROW_PANELS = 4,      /* panels per one-row kernel */
    PREFETCH_BLOCKS = 4, /* the blocks of a panel that prefetch the next one, a share each */
    MAX_NV = 4,          /* native vectors per panel, at most */
    PANEL_BYTES = 256 << 10, /* the most of a panel the blocks pass over at once (plan) */
    SMALL_SHARE = 20,        /* a layer with at most 1/SMALL_SHARE of the model's work is
                              * compiled compact (small_layer) */
};

typedef struct Dense {
    const Node *n;
    int64_t K, U;
    int V, NR;             /* floats per vector; columns per panel (V to MAX_NV * V) */
    int MR;                /* rows per block */
    int64_t P, Pfull;      /* panels; panels with all NR columns inside U */
    int64_t G, left;       /* groups of ROW_PANELS full panels; full panels after them */
    int64_t ldw, pstride;  /* floats from one line k of a panel to the next; panel to panel */
    int64_t Kc, nk;        /* k per chunk (the last one may be shorter); chunks */
    bool unpadded;         /* the weights are matmul's b: a cut panel's lines end at U */
    bool compact;          /* blocks of MR rows and the one-row kernel only (setup) */
    bool overlap;          /* compact, its last block overlapping the one before (setup) */
    LLVMValueRef X, Y, Wp, Bp;
    LLVMValueRef xoff, woff, yoff; /* the matrices' element offsets in X, Wp, Y (NULL: 0) */
    /* This task's part (cg_task_part): groups [g0, g0 + gn) and, where `tail`, the panels
     * after the last group (full or cut). */
    LLVMValueRef g0, gn, tail;
} Dense;

/* A tile: mr rows from `row` times np panels from `panel` (the last one possibly cut by U). */
typedef struct Tile {
    LLVMValueRef row, panel;
    int mr, np;
    bool cut; /* the last panel is the one U cuts */
    bool shared; /* a full panel's tile that also runs the cut panel (share_cut) */
    LLVMValueRef block; /* the block's index over the panel (prefetch share), or NULL */
    LLVMValueRef k0, kn; /* the chunk [k0, k0 + kn) of k */
    /* i1s, NULL for true: the sums start from 0 (else from y's partial sums); bias and
     * epilogue follow (else the partial sums are stored). */
    LLVMValueRef first, last;
} Tile;

/* The weights and bias in the panels' layout (pack_weights.c), as module constants. */
static void pack(Cg *cg, Dense *dn) {
    Arena *a = cg->g->arena;
    const Param *wp = node_param(dn->n, "weight"), *bp = node_param(dn->n, "bias");
    int64_t cols = dn->P * dn->NR;
    Param packed = {.name = arena_printf(a, "%s.packed", wp->name),
                    .shape = {.rank = 1, .d = {dim_const(cols * dn->K)}},
                    .data = cg_param_data_needed(cg, cols * dn->K)
                                ? pack_dense_weight(a, wp->data, dn->U, dn->K, dn->NR)
                                : NULL};
    dn->Wp = cg_param(cg, &packed);
    dn->Bp = NULL;
    if (bp) {
        Param pb = {.name = arena_printf(a, "%s.packed", bp->name),
                    .shape = {.rank = 1, .d = {dim_const(cols)}},
                    .data = cg_param_data_needed(cg, cols)
                                ? pack_dense_bias(a, bp->data, dn->U, dn->NR)
                                : NULL};
        dn->Bp = cg_param(cg, &pb);
    }
}

/* The tiling of a K x U weight matrix for n's kernel. */
static void plan(Cg *cg, const Node *n, int64_t K, int64_t U, Dense *dn) {
    int V = cg_vec_native(cg);
    /* Panels of four vectors with 32 registers (6 rows x 4), else two (6 x 2 with 16), and
     * no wider than U. Per k a 6 x 4 block issues 24 FMAs for 4 loads and 6 broadcasts, a
     * 12 x 2 one (the old tile) 24 for 2 loads and 12 broadcasts: 39 instructions a k against
     * 43. On a quiet core both keep the two FMA ports busy (mlp_s at batch 64: 80.5 and
     * 81.6 us), but in the busy phases of a shared host, when every kernel slows down, the
     * 12 x 2 one slowed down more: a 1024 -> 1024 layer at batch 64 took 1.27x oneDNN's
     * time (median over interleaved blocks), the 6 x 4 one 0.90x. A narrower U gets
     * fewer vectors and more rows: 3 vectors take blocks of 9 rows, 2 and 1 of 12. */
    int nv = cg_vec_regs(cg) >= 32 ? MAX_NV : 2;
    if (nv > (U + V - 1) / V)
        nv = (int)((U + V - 1) / V);
    *dn = (Dense){.n = n, .K = K, .U = U, .V = V, .NR = nv * V};
    /* MR x nv accumulators, nv panel vectors and one broadcast within the registers. */
    dn->MR = (cg_vec_regs(cg) - nv - 2) / nv;
    if (dn->MR > 12)
        dn->MR = 12;
    dn->P = (U + dn->NR - 1) / dn->NR;
    dn->Pfull = U / dn->NR;
    dn->G = dn->Pfull / ROW_PANELS;
    dn->left = dn->Pfull % ROW_PANELS;
    dn->ldw = dn->NR;
    dn->pstride = K * dn->NR;
    /* A panel over PANEL_BYTES is taken in chunks of k (the sums of a chunk go through y):
     * a panel must stay in L2 beside the block's rows of x and the next panel, and a
     * 4096 x 64 one (1 MB) did not: cifar_cnn's 4096 -> 512 layer at batch 64 took 1904-1946
     * us, 1593-1597 in chunks of 256 KB (97% of the peak); 128 KB ones were no faster. */
    dn->nk = dense_k_chunks(K, dn->NR * (int64_t)sizeof(float), PANEL_BYTES, &dn->Kc);
}

/* Whether dense node n does at most 1/SMALL_SHARE of the model's FLOPs (every symbol 1, so
 * per sample). Such a layer is compiled compact (setup), for a small share of the model's
 * time: its tiles were as much code as a large layer's. */
static bool small_layer(const Cg *cg, const Node *n) {
    int64_t ones[MAX_SYMS];
    for (int i = 0; i < MAX_SYMS; i++)
        ones[i] = 1;
    double rows = 1, all = graph_flops(cg->g, ones);
    for (int i = 0; i + 1 < n->shape.rank; i++) {
        int64_t v;
        rows *= dim_eval(n->shape.d[i], ones, &v) ? (double)v : 0;
    }
    double mine = rows * (double)n->shape.d[n->shape.rank - 1].c * node_flops_per_output(n);
    return mine * SMALL_SHARE <= all;
}

/* Whether the one-row kernel runs the rows after the blocks of MR at the blocks' pace: with
 * panels of MAX_NV vectors, it issues at least 8 independent FMA chains (two panels: 2 FMA
 * ports x 4 cycles of latency), and its pass over the weights for each row stays in L2
 * (all of them within PANEL_BYTES). */
static bool rows_at_pace(const Dense *dn) {
    int64_t panels = dn->P < ROW_PANELS ? dn->P : ROW_PANELS;
    return dn->NR == MAX_NV * dn->V && panels * MAX_NV >= 8 &&
           dn->K * dn->P * dn->NR * (int64_t)sizeof(float) <= PANEL_BYTES;
}

static void setup(Cg *cg, const Node *n, Dense *dn) {
    const Shape *xs = &n->in[0]->shape;
    plan(cg, n, xs->d[xs->rank - 1].c, n->shape.d[n->shape.rank - 1].c, dn);
    /* A small layer (small_layer) is compact: blocks of MR rows and the one-row kernel,
     * rather than blocks of 8, 4 and 2 rows after those of MR: about half of its code
     * (LeNet-5's 120 -> 84 layer, 2.4% of its work: 78 accumulator vectors in its tiles, 42
     * compact, and 24 -> 13 ms of code generation). With panels of MAX_NV vectors the
     * one-row kernel has the FMA chains to run the rows after the blocks (4 of a batch of
     * 64) at about the blocks' pace per row. A narrower layer's one-row kernel is a chain or
     * two, latency-bound (running those rows, mlp_s's 64 -> 10 layer made mlp_s at batch 64
     * 0.1-0.3% slower): its blocks take at most 8 rows rather than 12, and the last one ends
     * at the last row, overlapping the block before, so that only fewer rows than MR go
     * through the one-row kernel (LeNet-5's 84 -> 10 layer: 15 accumulator vectors in its
     * tiles -> 9). Wide layers do not overlap: a block of 6 recomputing 5 rows cost LeNet-5
     * at batch 7 6% (78.5 -> 83.0 us) against the one-row kernel's one row. Nor does a layer
     * taken in chunks of k (a chunk's sums pass through y): a narrow one keeps its blocks of
     * 8, 4 and 2 rows. A layer whose weights stay in cache and whose one-row kernel has the
     * chains (rows_at_pace) is compact too, whatever its share: LeNet-5's 400 -> 120 layer
     * (11.5% of its work, 200 KB) 56 accumulator vectors -> 32, its compile 331.2 -> 295.7 M
     * instructions; LeNet-5 at batch 64 710.5 -> 712.0 us (medians of 10 alternated runs). */
    if (small_layer(cg, n) || rows_at_pace(dn)) {
        bool wide = dn->NR == MAX_NV * dn->V; /* rows_at_pace's layers are */
        dn->compact = wide || dn->nk == 1;
        dn->overlap = !wide && dn->nk == 1;
        if (!wide && dn->MR > 8)
            dn->MR = 8;
    }
    dn->X = cg->buf[n->in[0]->id];
    dn->Y = cg->buf[n->id];
    pack(cg, dn);
}

/* Vectors of panel j of the tile, and the lanes of vector h that lie inside U. */
static int panel_vectors(const Dense *dn, const Tile *t, int j) {
    if (!(t->cut && j == t->np - 1))
        return dn->NR / dn->V;
    int64_t rest = dn->U - dn->Pfull * dn->NR;
    return (int)((rest + dn->V - 1) / dn->V);
}

static uint32_t vector_lanes(const Dense *dn, const Tile *t, int j, int h) {
    uint32_t all = (uint32_t)((1ull << dn->V) - 1);
    if (!(t->cut && j == t->np - 1))
        return all;
    int64_t left = dn->U - dn->Pfull * dn->NR - (int64_t)h * dn->V;
    return left >= dn->V ? all : (uint32_t)((1ull << left) - 1);
}

static LLVMValueRef plus(Cg *cg, LLVMValueRef off, LLVMValueRef v) {
    return off ? cg_add(cg, off, v) : v;
}

/* v into y at `at`: the lanes of the run-time mask, or where it is NULL of `lanes`. */
static void store(Cg *cg, const Dense *dn, LLVMValueRef v, LLVMValueRef at, uint32_t lanes,
                  LLVMValueRef mask) {
    if (mask)
        cg_vec_store_picked(cg, v, dn->Y, at, mask);
    else
        cg_vec_store(cg, v, dn->Y, at, dn->V, lanes);
}

/* The tile's k loop, then bias, epilogue and stores. */
static void emit_tile(Cg *cg, const Dense *dn, const Tile *t) {
    int64_t K = dn->K, NR = dn->NR;
    int V = dn->V, nacc = 0, nv[ROW_PANELS];
    for (int j = 0; j < t->np; j++)
        nacc += t->mr * (nv[j] = panel_vectors(dn, t, j));
    /* Row r's offsets are the tile's plus the constant r * K: an offset computed as
     * (row + r) * K, with row holding a task's runtime first row, came out of LLVM as one
     * multiplication per row inside the k loop (mlp_s at batch 64 ran 1.7x slower). Panel
     * j's weights are the first panel's plus the constant j * pstride. */
    LLVMValueRef x0 = plus(cg, dn->xoff, cg_mulc(cg, t->row, K));
    LLVMValueRef wbase = plus(cg, dn->woff, cg_mulc(cg, t->panel, dn->pstride));

    /* Each accumulator's place in y, its columns and lanes: constant, or for the last vector
     * of a shared tile, those below U at run time (all of them in a full panel). */
    LLVMValueRef at[CG_MAX_ACC], col[CG_MAX_ACC], init[CG_MAX_ACC], mask[CG_MAX_ACC];
    LLVMValueRef zero = cg_vec_splat_const(cg, 0.0, V);
    uint32_t lanes[CG_MAX_ACC];
    LLVMValueRef y0 = plus(cg, dn->yoff, cg_mulc(cg, t->row, dn->U));
    for (int r = 0, a = 0; r < t->mr; r++) {
        LLVMValueRef yrow = cg_addc(cg, y0, r * dn->U);
        for (int j = 0; j < t->np; j++) {
            LLVMValueRef col0 = cg_mulc(cg, cg_addc(cg, t->panel, j), NR);
            for (int h = 0; h < nv[j]; h++, a++) {
                col[a] = cg_addc(cg, col0, (int64_t)h * V);
                lanes[a] = vector_lanes(dn, t, j, h);
                at[a] = cg_add(cg, yrow, col[a]);
                mask[a] = t->shared && h == nv[j] - 1
                              ? cg_vec_lanes_below(cg, 0, LLVMBuildSub(cg->b, cg_i64(cg, dn->U), col[a], ""), V)
                              : NULL;
                init[a] = zero;
                if (t->first)
                    init[a] = LLVMBuildSelect(
                        cg->b, t->first, zero,
                        mask[a] ? cg_vec_load_picked(cg, dn->Y, at[a], V, 1, mask[a], 0.0)
                                : cg_vec_load(cg, dn->Y, at[a], V, 1, lanes[a], 0.0), "");
            }
        }
    }

    /* The next panel, into L2: a block's panel comes from L2 but a panel's first
     * block reads it from memory (L3), unless the blocks before it fetched it ahead.
     * Blocks 0..PREFETCH_BLOCKS-1 each fetch their share, NR / PREFETCH_BLOCKS floats
     * further at each k (later blocks fetch the last share again, from L2). The whole panel
     * in the first block asked L3 for 128 KB in a sixth of the panel's time: a 1024 -> 1024
     * layer at batch 64 ran 5-6% slower (mlp_l 8-10%), and no prefetch at all the same.
     * With fewer than PREFETCH_BLOCKS blocks (a batch under 24) part of the next panel is
     * left to the hardware's prefetchers: at batch 16, 1024 -> 1024 measured the same as
     * with the whole panel fetched by every block, and so did shares fitted to the block
     * count. */
    LLVMValueRef fetch = NULL;
    if (t->block && !t->cut && !dn->unpadded) {
        LLVMValueRef last = cg_i64(cg, PREFETCH_BLOCKS - 1);
        LLVMValueRef b = LLVMBuildSelect(
            cg->b, LLVMBuildICmp(cg->b, LLVMIntULT, t->block, last, ""), t->block, last, "");
        LLVMValueRef at = cg_add(cg, cg_addc(cg, wbase, dn->pstride), cg_mulc(cg, t->k0, NR));
        fetch = cg_elem_ptr(
            cg, dn->Wp, cg_add(cg, at, cg_mulc(cg, cg_mul(cg, b, t->kn), NR / PREFETCH_BLOCKS)));
    }

    /* The k loop's addresses are pointers made before it plus constants: x's rows at
     * x + r * K + i, the panels' line k through a pointer that steps a line per k, the
     * prefetch through one that steps its share. LLVM's loop strength reduction, which
     * used to make them so, is off (pass_gate.cpp, emit_code.cpp): from row offsets alone
     * its code generator kept a register and an add per row (a 6 x 4 block: 48
     * instructions a k, not 39). The panels after the first are at constant offsets from
     * it. */
    LLVMValueRef x = cg_elem_ptr(cg, dn->X, cg_add(cg, x0, t->k0));
    LLVMValueRef w0 = cg_elem_ptr(cg, dn->Wp, cg_add(cg, wbase, cg_mulc(cg, t->k0, dn->ldw)));
    CgLoop lk;
    LLVMValueRef i = cg_loop_begin(cg, &lk, t->kn, "dense.k");
    /* At most 27 accumulators (plan: MR x vectors), then the two pointers. */
    LLVMValueRef acc[CG_MAX_ACC], next[CG_MAX_ACC];
    for (int a = 0; a < nacc; a++)
        acc[a] = cg_loop_acc(cg, &lk, init[a], "acc");
    LLVMValueRef line = cg_loop_acc(cg, &lk, w0, "w");
    LLVMValueRef pf = fetch ? cg_loop_acc(cg, &lk, fetch, "pf") : NULL;
    LLVMValueRef w[ROW_PANELS][MAX_NV];
    for (int j = 0; j < t->np; j++)
        for (int h = 0; h < nv[j]; h++)
            w[j][h] = cg_vec_load(cg, line, cg_i64(cg, j * dn->pstride + (int64_t)h * V), V, 1,
                                  dn->unpadded ? vector_lanes(dn, t, j, h)
                                               : (uint32_t)((1ull << V) - 1),
                                  0.0);
    if (pf)
        cg_prefetch_l2(cg, pf, cg_i64(cg, 0));
    int a = 0;
    for (int r = 0; r < t->mr; r++) {
        LLVMValueRef xs = cg_vec_splat(cg, cg_load(cg, x, cg_addc(cg, i, r * K)), V);
        for (int j = 0; j < t->np; j++)
            for (int h = 0; h < nv[j]; h++, a++)
                next[a] = cg_vec_fma(cg, xs, w[j][h], acc[a]);
    }
    next[nacc] = cg_elem_ptr(cg, line, cg_i64(cg, dn->ldw));
    if (pf)
        next[nacc + 1] = cg_elem_ptr(cg, pf, cg_i64(cg, NR / PREFETCH_BLOCKS));
    cg_loop_end(cg, &lk, next);

    /* Chunked, the partial sums go through y, so y must share no memory with x or with an
     * epilogue's operand: plan_memory puts an output in its input's buffer only for unary
     * kernels. */
    CgIf f;
    if (t->last) { /* the partial sums, then the outputs after the last chunk */
        for (a = 0; a < nacc; a++)
            store(cg, dn, lk.acc_out[a], at[a], lanes[a], mask[a]);
        cg_if_begin(cg, &f, t->last, "dense.last");
    }
    for (a = 0; a < nacc; a++) {
        LLVMValueRef v = lk.acc_out[a];
        if (dn->Bp)
            v = LLVMBuildFAdd(cg->b, v,
                              cg_vec_load(cg, dn->Bp, col[a], V, 1, (uint32_t)((1ull << V) - 1), 0.0), "");
        v = mask[a] ? cg_epilogue_picked(cg, dn->n, v, at[a], mask[a])
                    : cg_epilogue_lanes(cg, dn->n, v, at[a], lanes[a]);
        store(cg, dn, v, at[a], lanes[a], mask[a]);
    }
    if (t->last)
        cg_if_end(cg, &f);
}

/* Blocks of mr rows: `count` of them from row `first`, the last one from row `last` where
 * it is not NULL (they overlap). */
typedef struct Blocks {
    LLVMValueRef first, count;
    int mr;
    LLVMValueRef last;
} Blocks;

/* Every block of every size over t's panel. The blocks of a full panel prefetch the next. */
static void emit_panel(Cg *cg, const Dense *dn, Tile t, const Blocks *bl, int nbl) {
    for (int g = 0; g < nbl; g++) {
        CgLoop lb;
        LLVMValueRef b = cg_loop_begin(cg, &lb, bl[g].count, t.cut ? "dense.block.cut" : "dense.block");
        t.row = cg_add(cg, bl[g].first, cg_mulc(cg, b, bl[g].mr));
        if (bl[g].last)
            t.row = LLVMBuildSelect(cg->b, LLVMBuildICmp(cg->b, LLVMIntULT, t.row, bl[g].last, ""),
                                    t.row, bl[g].last, "dense.row0");
        t.mr = bl[g].mr;
        t.block = t.cut ? NULL : b;
        emit_tile(cg, dn, &t);
        cg_loop_end(cg, &lb, NULL);
    }
}

/* Whether the full panels' tiles also run the cut panel: it has as many vectors as they do
 * (U = 120 in panels of 64: 64 + 56), its weights and bias are zero past U (not matmul's
 * unpadded b), and the last vector's lanes inside U are then picked at run time (all of them
 * in a full panel). The cut panel's own tiles were as much code again: LeNet-5's 400 -> 120
 * layer 104 accumulator vectors in its tiles, 56 shared. */
static bool share_cut(const Dense *dn) {
    return dn->Pfull > 0 && dn->P > dn->Pfull && !dn->unpadded &&
           (dn->U - dn->Pfull * dn->NR + dn->V - 1) / dn->V == dn->NR / dn->V;
}

/* The blocks over the part's panels: for each panel, every block of every size, so that the
 * panel (or its chunk of k) stays in cache while they pass over it; over each chunk in turn
 * where the panels are taken in chunks. */
static void emit_blocks(Cg *cg, const Dense *dn, const Blocks *bl, int nbl) {
    Tile t = {.np = 1, .k0 = cg_i64(cg, 0), .kn = cg_i64(cg, dn->K)};
    CgLoop lc;
    if (dn->nk > 1) {
        LLVMValueRef c = cg_loop_begin(cg, &lc, cg_i64(cg, dn->nk), "dense.chunk");
        t.k0 = cg_mulc(cg, c, dn->Kc);
        t.first = LLVMBuildICmp(cg->b, LLVMIntEQ, c, cg_i64(cg, 0), "dense.first");
        t.last = LLVMBuildICmp(cg->b, LLVMIntEQ, c, cg_i64(cg, dn->nk - 1), "dense.last");
        /* the last chunk's lines, between 1 and Kc (dense_k_chunks) */
        t.kn = LLVMBuildSelect(cg->b, t.last, cg_i64(cg, dn->K - (dn->nk - 1) * dn->Kc),
                               cg_i64(cg, dn->Kc), "dense.kn");
    }
    bool shared = share_cut(dn);
    if (dn->Pfull > 0) {
        LLVMValueRef np = cg_mulc(cg, dn->gn, ROW_PANELS);
        int64_t tail = dn->left + shared;
        if (tail > 0)
            np = cg_add(cg, np, LLVMBuildSelect(cg->b, dn->tail, cg_i64(cg, tail), cg_i64(cg, 0), ""));
        CgLoop lp;
        t.panel = cg_add(cg, cg_mulc(cg, dn->g0, ROW_PANELS), cg_loop_begin(cg, &lp, np, "dense.panel"));
        t.shared = shared;
        emit_panel(cg, dn, t, bl, nbl);
        cg_loop_end(cg, &lp, NULL);
    }
    if (dn->P > dn->Pfull && !shared) {
        CgIf f;
        cg_if_begin(cg, &f, dn->tail, "dense.cut");
        t.panel = cg_i64(cg, dn->Pfull);
        t.cut = true;
        emit_panel(cg, dn, t, bl, nbl);
        cg_if_end(cg, &f);
    }
    if (dn->nk > 1)
        cg_loop_end(cg, &lc, NULL);
}

/* The remaining rows, one at a time, ROW_PANELS panels per tile; the panels are the outer
 * loop so that they stay in cache while the rows pass over them. */
static void emit_row_tiles(Cg *cg, const Dense *dn, LLVMValueRef first, LLVMValueRef count,
                           LLVMValueRef panel, int np, bool cut) {
    CgLoop lm;
    LLVMValueRef row = cg_add(cg, first, cg_loop_begin(cg, &lm, count, "dense.row"));
    emit_tile(cg, dn,
              &(Tile){.row = row, .panel = panel, .mr = 1, .np = np, .cut = cut,
                      .k0 = cg_i64(cg, 0), .kn = cg_i64(cg, dn->K)});
    cg_loop_end(cg, &lm, NULL);
}

static void emit_rows(Cg *cg, const Dense *dn, LLVMValueRef first, LLVMValueRef count) {
    if (dn->G > 0) {
        CgLoop lq;
        LLVMValueRef q = cg_add(cg, dn->g0, cg_loop_begin(cg, &lq, dn->gn, "dense.group"));
        emit_row_tiles(cg, dn, first, count, cg_mulc(cg, q, ROW_PANELS), ROW_PANELS, false);
        cg_loop_end(cg, &lq, NULL);
    }
    bool cut = dn->P > dn->Pfull;
    if (dn->left + cut > 0) {
        CgIf f;
        cg_if_begin(cg, &f, dn->tail, "dense.tail");
        emit_row_tiles(cg, dn, first, count, cg_i64(cg, dn->G * ROW_PANELS), (int)(dn->left + cut),
                       cut);
        cg_if_end(cg, &f);
    }
}

/* This task's part: with at least as many groups of panels as tasks, a share of the groups
 * over all the rows, so that each thread streams its own part of the weights; else a share
 * of the rows over all the panels. Sets dn's part and the rows [*first, *first + *count).
 * A layer with fewer than two groups only ever splits its rows, and its part stays
 * constant where it can: runtime panel counts cost it 17% more compile time. */
static void take_part(Cg *cg, Dense *dn, LLVMValueRef M, LLVMValueRef *first, LLVMValueRef *count) {
    LLVMValueRef G = cg_i64(cg, dn->G), yes = LLVMConstInt(cg->i1, 1, 0);
    if (dn->G < 2) {
        dn->g0 = cg_i64(cg, 0);
        dn->gn = G;
        dn->tail = yes;
        cg_task_part(cg, M, first, count);
        return;
    }
    LLVMValueRef panels = cg_task_part2(cg, G, M, &dn->g0, &dn->gn, first, count);
    dn->tail = LLVMBuildSelect(cg->b, panels, cg_task_last(cg), yes, "");
}

/* All M rows (this task's part of them or of the panels): blocks of MR, of 8, 4 and 2 rows,
 * then the one-row kernels. */
static void emit_gemm(Cg *cg, Dense *dn, LLVMValueRef rows) {
    LLVMValueRef first, M;
    take_part(cg, dn, rows, &first, &M);
    Blocks bl[4];
    int nbl = 0;
    LLVMValueRef MR = cg_i64(cg, dn->MR), done;
    if (dn->overlap) { /* the rows left: one more block, overlapping; fewer than MR: none */
        LLVMValueRef whole = LLVMBuildICmp(cg->b, LLVMIntUGE, M, MR, "");
        bl[nbl++] = (Blocks){
            first,
            LLVMBuildSelect(cg->b, whole, LLVMBuildUDiv(cg->b, cg_addc(cg, M, dn->MR - 1), MR, ""),
                            cg_i64(cg, 0), "dense.blocks"),
            dn->MR, LLVMBuildSub(cg->b, cg_add(cg, first, M), MR, "dense.last_block")};
        done = LLVMBuildSelect(cg->b, whole, cg_add(cg, first, M), first, "");
    } else {
        bl[nbl++] = (Blocks){first, LLVMBuildUDiv(cg->b, M, MR, "dense.blocks"), dn->MR, NULL};
        done = cg_add(cg, first, cg_mulc(cg, bl[0].count, dn->MR));
    }
    /* The rows left (fewer than MR): blocks of 8, 4 and 2 where they fit, over each panel
     * while it is in cache, so that only an odd row is left to the one-row kernel: a batch
     * of 64 or 256 is 6 * k + 4, and each of two threads' 32 or 128 rows 6 * k + 2. */
    for (int mr = 8; mr >= 2 && !dn->compact; mr /= 2)
        if (mr < dn->MR) {
            LLVMValueRef rest = LLVMBuildSub(cg->b, cg_add(cg, first, M), done, "");
            LLVMValueRef one = LLVMBuildUDiv(cg->b, rest, cg_i64(cg, mr), "");
            bl[nbl++] = (Blocks){done, one, mr, NULL};
            done = cg_add(cg, done, cg_mulc(cg, one, mr));
        }
    emit_blocks(cg, dn, bl, nbl);
    emit_rows(cg, dn, done, LLVMBuildSub(cg->b, cg_add(cg, first, M), done, "dense.rest"));
}

bool lower_dense(Cg *cg, Node *n) {
    cg->rolled_loops = true;
    Dense dn;
    setup(cg, n, &dn);
    Dim numel, rows;
    if (!shape_numel(&n->in[0]->shape, &numel) || !dim_div(numel, dim_const(dn.K), &rows))
        return false; /* shape inference guarantees both */
    emit_gemm(cg, &dn, cg_dim(cg, rows));
    return true;
}

void cg_gemm(Cg *cg, const Node *n, const CgGemm *m) {
    cg->rolled_loops = true;
    Dense dn;
    plan(cg, n, m->K, m->N, &dn);
    dn.ldw = m->N;
    dn.pstride = dn.NR;
    dn.unpadded = true;
    dn.X = m->A;
    dn.Wp = m->B;
    dn.Y = m->Y;
    dn.xoff = m->aoff;
    dn.woff = m->boff;
    dn.yoff = m->yoff;
    emit_gemm(cg, &dn, m->M);
}
