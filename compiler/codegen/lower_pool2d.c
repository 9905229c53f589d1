/* lower_pool2d.c: maxpool2d, avgpool2d (PyTorch's MaxPool2d / AvgPool2d) and global_avgpool.
 *
 * x [..., C, H, W] -> y [..., C, OH, OW]: every H x W plane is pooled on its own. Output
 * (oh, ow) covers input rows oh*sh - top + [0, kh) and columns ow*sw - left + [0, kw);
 * maxpool treats the padding as -inf (NaN propagates, as in PyTorch), avgpool sums the taps
 * inside the input and divides by the window's size clipped to the padded input
 * (count_include_pad) or to the input, as PyTorch's divisor does when ceil_mode lets the
 * last window hang past the padding.
 *
 * H, W and the window are compile-time constants, so this is the scheme of lower_conv2d.c:
 * rows split into runs with the same in-image kernel rows and divisor, each with its own
 * loop; along a row, blocks of `width` outputs sit at compile-time positions, so each tap is
 * a plain vector load, a masked one (lanes outside the image read nothing and give -inf or
 * 0) or left out, and each lane's divisor is a constant. A row that is not a multiple of the
 * width ends with a block overlapping the previous one.
 *
 * global_avgpool: [N, C, H, W] -> [N, C, 1, 1], a vectorized sum over each plane times
 * 1/(H*W). */
#include <string.h>

#include "cg.h"

enum {
    VL = 16,       /* outputs per block at most */
    MAX_SPAN = 32, /* floats one strided vector load covers at most */
};

/* Output rows [a, b) whose in-image kernel rows are taps[0..ntaps), with `count` rows in
 * the divisor. */
typedef struct Run {
    int64_t a, b, count;
    int ntaps;
    int64_t *taps;
} Run;

typedef struct Axis {
    int nruns;
    Run *runs;
} Axis;

/* `count` blocks at ow0, ow0 + width, ... whose lane l reads an in-image column for kernel
 * column kw when bit l of mask[kw] is set, and has div[l] columns in its divisor. */
typedef struct ColBlock {
    int64_t ow0, count;
    uint32_t *mask;
    int64_t div[VL];
} ColBlock;

typedef struct Cols {
    int width, nblocks;
    uint32_t lanes; /* the lanes that are outputs: all, unless the row is narrower */
    ColBlock *blocks;
} Cols;

/* One axis of the window: output o covers inputs o*s - p + [0, k) of [0, in), padded to
 * [-p, in + pend). */
typedef struct Win {
    int64_t in, k, s, p, pend;
    bool include_pad;
} Win;

typedef struct Pool {
    const Node *n;
    bool max;
    int64_t H, W, OH, OW, KW, sh, sw, pt, pl;
    Axis rows;
    Cols cols;
    LLVMValueRef X, Y;
} Pool;

static bool inside(const Win *w, int64_t o, int64_t t) {
    int64_t i = o * w->s + t - w->p;
    return i >= 0 && i < w->in;
}

/* PyTorch's divisor along one axis: the window clipped to the padded input
 * (count_include_pad; the window starts inside it), or its in-image taps. */
static int64_t divisor(const Win *w, int64_t o, int ntaps) {
    if (!w->include_pad)
        return ntaps;
    int64_t start = o * w->s - w->p, end = start + w->k;
    return (end < w->in + w->pend ? end : w->in + w->pend) - start;
}

static Axis row_runs(Arena *a, const Win *w, int64_t out) {
    Axis ax = {0, arena_array(a, (size_t)out, sizeof(Run))};
    int64_t *taps = arena_array(a, (size_t)w->k, sizeof *taps);
    for (int64_t o = 0; o < out; o++) {
        int nt = 0;
        for (int64_t t = 0; t < w->k; t++)
            if (inside(w, o, t))
                taps[nt++] = t;
        int64_t count = divisor(w, o, nt);
        Run *last = ax.nruns ? &ax.runs[ax.nruns - 1] : NULL;
        if (last && last->ntaps == nt && last->count == count &&
            memcmp(last->taps, taps, (size_t)nt * sizeof *taps) == 0) {
            last->b = o + 1;
            continue;
        }
        Run *r = &ax.runs[ax.nruns++];
        *r = (Run){o, o + 1, count, nt, arena_array(a, (size_t)w->k, sizeof *taps)};
        memcpy(r->taps, taps, (size_t)nt * sizeof *taps);
    }
    return ax;
}

/* Masks and divisors of the block at ow0. */
static void col_block(const Win *w, int width, int64_t out, int64_t ow0, ColBlock *cb) {
    memset(cb->div, 0, sizeof cb->div);
    for (int64_t t = 0; t < w->k; t++) {
        cb->mask[t] = 0;
        for (int l = 0; l < width; l++)
            cb->mask[t] |= (uint32_t)(ow0 + l < out && inside(w, ow0 + l, t)) << l;
    }
    for (int l = 0; l < width && ow0 + l < out; l++) {
        int nt = 0;
        for (int64_t t = 0; t < w->k; t++)
            nt += (cb->mask[t] >> l) & 1;
        cb->div[l] = divisor(w, ow0 + l, nt);
    }
}

/* Blocks at 0, width, 2*width, ... and one ending at out if it is not a multiple of the
 * width; consecutive ones with the same masks and divisors are merged. */
static Cols col_blocks(Arena *a, const Win *w, int64_t out) {
    Cols c = {.width = 1};
    while (c.width < VL && c.width < out && (c.width * 2 - 1) * w->s + 1 <= MAX_SPAN)
        c.width *= 2;
    c.lanes = out < c.width ? (1u << out) - 1 : (uint32_t)((1ull << c.width) - 1);
    int64_t n = (out + c.width - 1) / c.width;
    c.blocks = arena_array(a, (size_t)n, sizeof(ColBlock));
    ColBlock cur = {.mask = arena_array(a, (size_t)w->k, sizeof(uint32_t))};
    for (int64_t i = 0; i < n; i++) {
        int64_t ow0 = i * c.width + c.width <= out || i == 0 ? i * c.width : out - c.width;
        col_block(w, c.width, out, ow0, &cur);
        ColBlock *last = c.nblocks ? &c.blocks[c.nblocks - 1] : NULL;
        if (last && last->ow0 + last->count * c.width == ow0 &&
            memcmp(last->mask, cur.mask, (size_t)w->k * sizeof *cur.mask) == 0 &&
            memcmp(last->div, cur.div, sizeof cur.div) == 0) {
            last->count++;
            continue;
        }
        ColBlock *b = &c.blocks[c.nblocks++];
        *b = cur;
        b->ow0 = ow0;
        b->count = 1;
        b->mask = arena_array(a, (size_t)w->k, sizeof *b->mask);
        memcpy(b->mask, cur.mask, (size_t)w->k * sizeof *b->mask);
    }
    return c;
}

static void pool_setup(Cg *cg, const Node *n, Pool *pl) {
    const Shape *x = &n->in[0]->shape, *y = &n->shape;
    int r = x->rank;
    const int64_t *k = node_attr(n, "kernel")->v, *s = node_attr(n, "stride")->v;
    const int64_t *p = node_attr(n, "padding")->v;
    bool include_pad = n->op == OP_AVGPOOL2D && attr_bool(n, "count_include_pad");
    *pl = (Pool){.n = n, .max = n->op == OP_MAXPOOL2D, .H = x->d[r - 2].c, .W = x->d[r - 1].c,
                 .OH = y->d[r - 2].c, .OW = y->d[r - 1].c, .KW = k[1], .sh = s[0], .sw = s[1],
                 .pt = p[0], .pl = p[1]};
    Win rows = {pl->H, k[0], s[0], p[0], p[2], include_pad};
    Win cols = {pl->W, k[1], s[1], p[1], p[3], include_pad};
    pl->rows = row_runs(cg->g->arena, &rows, pl->OH);
    pl->cols = col_blocks(cg->g->arena, &cols, pl->OW);
    pl->X = cg->buf[n->in[0]->id];
    pl->Y = cg->buf[n->id];
}

static const char *label(Cg *cg, const Node *n, const char *what) {
    return arena_printf(cg->g->arena, "%s.%s", n->name, what);
}

/* v + off for a constant off of either sign (cg_add's nuw would make a negative one poison). */
static LLVMValueRef add_signed(Cg *cg, LLVMValueRef v, int64_t off) {
    return off ? LLVMBuildNSWAdd(cg->b, v, cg_i64(cg, off), "") : v;
}

static LLVMValueRef addc(Cg *cg, LLVMValueRef v, int64_t c) {
    return c ? cg_add(cg, v, cg_i64(cg, c)) : v;
}

static LLVMValueRef mulc(Cg *cg, LLVMValueRef v, int64_t c) {
    return c != 1 ? cg_mul(cg, v, cg_i64(cg, c)) : v;
}

/* --- vectors of `width` floats (a plain float for width 1) --------------------------- */

static LLVMTypeRef vec_type(Cg *cg, int width) {
    return width == 1 ? cg->f32 : LLVMVectorType(cg->f32, (unsigned)width);
}

static LLVMValueRef const_vec(Cg *cg, const double *v, int width) {
    LLVMValueRef e[MAX_SPAN];
    for (int l = 0; l < width; l++)
        e[l] = cg_f32(cg, v[l]);
    return width == 1 ? e[0] : LLVMConstVector(e, (unsigned)width);
}

static LLVMValueRef splat_const(Cg *cg, double v, int width) {
    double e[MAX_SPAN];
    for (int l = 0; l < width; l++)
        e[l] = v;
    return const_vec(cg, e, width);
}

/* llvm.masked.load of `span` floats at p: lanes whose bit of mask is clear are not read
 * and give `fill`. p may lie outside the buffer where those lanes are. */
static LLVMValueRef masked_load(Cg *cg, LLVMValueRef p, int span, uint32_t mask, double fill) {
    LLVMTypeRef vt = vec_type(cg, span), types[2] = {vt, cg->ptr};
    unsigned id = LLVMLookupIntrinsicID("llvm.masked.load", strlen("llvm.masked.load"));
    LLVMValueRef bits[MAX_SPAN];
    for (int l = 0; l < span; l++)
        bits[l] = LLVMConstInt(cg->i1, (mask >> l) & 1, 0);
    LLVMValueRef args[4] = {p, LLVMConstInt(cg->i32, 4, 0), LLVMConstVector(bits, (unsigned)span),
                            splat_const(cg, fill, span)};
    return LLVMBuildCall2(cg->b, LLVMIntrinsicGetType(cg->ctx, id, types, 2),
                          LLVMGetIntrinsicDeclaration(cg->mod, id, types, 2), args, 4, "");
}

/* base[i], base[i + stride], ... (width of them), lane l only if bit l of mask is set
 * (`fill` otherwise). A strided row is loaded as the one span that covers it and shuffled. */
static LLVMValueRef load_vec(Cg *cg, LLVMValueRef base, LLVMValueRef i, int width, int64_t stride,
                             uint32_t mask, double fill) {
    if (width == 1)
        return cg_load(cg, base, i);
    int span = (int)((width - 1) * stride + 1);
    LLVMValueRef v;
    if (mask == (uint32_t)((1ull << width) - 1)) {
        v = LLVMBuildLoad2(cg->b, vec_type(cg, span),
                           LLVMBuildInBoundsGEP2(cg->b, cg->f32, base, &i, 1, ""), "");
        LLVMSetAlignment(v, 4);
    } else {
        uint32_t span_mask = 0;
        for (int l = 0; l < width; l++)
            span_mask |= ((mask >> l) & 1u) << (l * stride);
        v = masked_load(cg, LLVMBuildGEP2(cg->b, cg->f32, base, &i, 1, ""), span, span_mask, fill);
    }
    if (stride == 1)
        return v;
    LLVMValueRef pick[VL];
    for (int l = 0; l < width; l++)
        pick[l] = LLVMConstInt(cg->i32, (unsigned long long)(l * stride), 0);
    return LLVMBuildShuffleVector(cg->b, v, LLVMGetPoison(LLVMTypeOf(v)),
                                  LLVMConstVector(pick, (unsigned)width), "");
}

/* base[i..i+width) = v, only the lanes set in `lanes` (llvm.masked.store unless all are). */
static void store_vec(Cg *cg, LLVMValueRef v, LLVMValueRef base, LLVMValueRef i, int width,
                      uint32_t lanes) {
    if (lanes == (uint32_t)((1ull << width) - 1)) {
        LLVMValueRef p = LLVMBuildInBoundsGEP2(cg->b, cg->f32, base, &i, 1, "");
        LLVMSetAlignment(LLVMBuildStore(cg->b, v, p), 4);
        return;
    }
    LLVMTypeRef types[2] = {LLVMTypeOf(v), cg->ptr};
    unsigned id = LLVMLookupIntrinsicID("llvm.masked.store", strlen("llvm.masked.store"));
    LLVMValueRef bits[VL];
    for (int l = 0; l < width; l++)
        bits[l] = LLVMConstInt(cg->i1, (lanes >> l) & 1, 0);
    LLVMValueRef args[4] = {v, LLVMBuildInBoundsGEP2(cg->b, cg->f32, base, &i, 1, ""),
                            LLVMConstInt(cg->i32, 4, 0), LLVMConstVector(bits, (unsigned)width)};
    LLVMBuildCall2(cg->b, LLVMIntrinsicGetType(cg->ctx, id, types, 2),
                   LLVMGetIntrinsicDeclaration(cg->mod, id, types, 2), args, 4, "");
}

/* llvm.maximum: NaN if either is NaN, as PyTorch's max pooling (cg_intrinsic2 is scalar). */
static LLVMValueRef maximum(Cg *cg, LLVMValueRef a, LLVMValueRef b) {
    LLVMTypeRef t = LLVMTypeOf(a);
    unsigned id = LLVMLookupIntrinsicID("llvm.maximum", strlen("llvm.maximum"));
    LLVMValueRef args[2] = {a, b};
    return LLVMBuildCall2(cg->b, LLVMIntrinsicGetType(cg->ctx, id, &t, 1),
                          LLVMGetIntrinsicDeclaration(cg->mod, id, &t, 1), args, 2, "");
}

/* --- blocks ---------------------------------------------------------------------------- */

/* One block of outputs of row run r: x indexes the input under its first output. */
static LLVMValueRef window(Cg *cg, const Pool *pl, const Run *r, const ColBlock *cb, int width,
                           LLVMValueRef x) {
    double fill = pl->max ? -__builtin_inf() : 0.0;
    LLVMValueRef acc = NULL;
    for (int i = 0; i < r->ntaps; i++)
        for (int64_t kw = 0; kw < pl->KW; kw++) {
            if (!cb->mask[kw])
                continue;
            int64_t off = (r->taps[i] - pl->pt) * pl->W + kw - pl->pl;
            LLVMValueRef v =
                load_vec(cg, pl->X, add_signed(cg, x, off), width, pl->sw, cb->mask[kw], fill);
            acc = !acc      ? v
                  : pl->max ? maximum(cg, acc, v)
                            : cg_fadd(cg, acc, v);
        }
    if (!acc || pl->max)
        return acc ? acc : splat_const(cg, fill, width);
    /* Every window overlaps the input (the shape rule limits the padding), so only the
     * lanes past a narrow row, which are not stored, have no divisor. */
    double scale[VL];
    for (int l = 0; l < width; l++)
        scale[l] = cb->div[l] ? 1.0 / (double)(r->count * cb->div[l]) : 0.0;
    return cg_fmul(cg, acc, const_vec(cg, scale, width));
}

/* The blocks of cb in one row (x and y index the row's first output): one, or a loop. */
static void emit_col_blocks(Cg *cg, const Pool *pl, const Run *r, const ColBlock *cb,
                            LLVMValueRef x, LLVMValueRef y) {
    int width = pl->cols.width;
    LLVMValueRef ow0 = cg_i64(cg, cb->ow0);
    CgLoop l;
    if (cb->count > 1) {
        LLVMValueRef k = cg_loop_begin(cg, &l, cg_i64(cg, cb->count), label(cg, pl->n, "ow"));
        ow0 = addc(cg, mulc(cg, k, width), cb->ow0);
    }
    LLVMValueRef v = window(cg, pl, r, cb, width, cg_add(cg, x, mulc(cg, ow0, pl->sw)));
    store_vec(cg, v, pl->Y, cg_add(cg, y, ow0), width, pl->cols.lanes);
    if (cb->count > 1)
        cg_loop_end(cg, &l, NULL);
}

static void emit_plane(Cg *cg, const Pool *pl, LLVMValueRef xbase, LLVMValueRef ybase) {
    for (int ri = 0; ri < pl->rows.nruns; ri++) {
        const Run *r = &pl->rows.runs[ri];
        CgLoop l;
        LLVMValueRef i = cg_loop_begin(cg, &l, cg_i64(cg, r->b - r->a), label(cg, pl->n, "oh"));
        LLVMValueRef oh = addc(cg, i, r->a);
        LLVMValueRef xrow = cg_add(cg, xbase, mulc(cg, oh, pl->sh * pl->W));
        LLVMValueRef yrow = cg_add(cg, ybase, mulc(cg, oh, pl->OW));
        for (int ci = 0; ci < pl->cols.nblocks; ci++)
            emit_col_blocks(cg, pl, r, &pl->cols.blocks[ci], xrow, yrow);
        cg_loop_end(cg, &l, NULL);
    }
}

/* The number of H x W planes: the product of the dimensions before the last two. */
static LLVMValueRef planes(Cg *cg, const Shape *s) {
    Dim p = dim_const(1);
    for (int i = 0; i < s->rank - 2; i++)
        dim_mul(p, s->d[i], &p); /* shape inference refused overflowing shapes */
    return cg_dim(cg, p);
}

bool lower_pool2d(Cg *cg, Node *n) {
    Pool pl;
    pool_setup(cg, n, &pl);
    CgLoop lp;
    LLVMValueRef p = cg_loop_begin(cg, &lp, planes(cg, &n->shape), label(cg, n, "plane"));
    emit_plane(cg, &pl, mulc(cg, p, pl.H * pl.W), mulc(cg, p, pl.OH * pl.OW));
    cg_loop_end(cg, &lp, NULL);
    return true;
}

bool lower_global_avgpool(Cg *cg, Node *n) {
    const Shape *x = &n->in[0]->shape;
    int64_t hw = x->d[2].c * x->d[3].c;
    LLVMValueRef X = cg->buf[n->in[0]->id], Y = cg->buf[n->id];
    CgLoop lp, li;
    LLVMValueRef p = cg_loop_begin(cg, &lp, planes(cg, x), label(cg, n, "plane"));
    LLVMValueRef base = mulc(cg, p, hw);
    LLVMValueRef i = cg_loop_begin(cg, &li, cg_i64(cg, hw), label(cg, n, "i"));
    LLVMValueRef acc = cg_loop_acc(cg, &li, cg_f32(cg, 0.0), label(cg, n, "sum"));
    LLVMValueRef next = cg_fadd(cg, acc, cg_load(cg, X, cg_add(cg, base, i)));
    cg_loop_end(cg, &li, &next);
    cg_store(cg, cg_fmul(cg, li.acc_out[0], cg_f32(cg, 1.0 / (double)hw)), Y, p);
    cg_loop_end(cg, &lp, NULL);
    return true;
}
