/* lower_pool2d.c: maxpool2d, avgpool2d (PyTorch's MaxPool2d / AvgPool2d) and global_avgpool.
 *
 * x [..., C, H, W] -> y [..., C, OH, OW]: every H x W plane is pooled on its own. Output
 * (oh, ow) covers input rows oh*sh - top + [0, kh) and columns ow*sw - left + [0, kw);
 * maxpool treats the padding as -inf (NaN propagates, as in PyTorch), avgpool sums the taps
 * inside the input and divides by the window's size clipped to the padded input
 * (count_include_pad) or to the input, as PyTorch's divisor does when ceil_mode lets the
 * last window hang past the padding.
 *
 * H, W and the window are compile-time constants, so this is the scheme of lower_conv2d.c,
 * planned by cg_window.c and loaded by cg_vec.c: rows split into runs with the same in-image
 * kernel rows and divisor, each with its own loop; along a row, blocks of `width` outputs sit
 * at compile-time positions, so each tap is a plain vector load, a masked one (lanes outside
 * the image read nothing and give -inf or 0) or left out, and each lane's divisor is a
 * constant. A row that is not a multiple of the width ends with a block overlapping the
 * previous one.
 *
 * A pooling tail (fuse_pool.c) runs inside its convolution's image loop, which pools each
 * image's planes through cg_pool_planes right after computing them.
 *
 * global_avgpool: [N, C, H, W] -> [N, C, 1, 1], a vectorized sum over each plane times
 * 1/(H*W). */
#include <string.h>

#include "cg_vec.h"
#include "cg_window.h"

typedef struct Pool {
    const Node *n;
    bool max;
    int64_t H, W, OH, OW, KW, sh, sw, pt, pl;
    CgRows rows;
    CgCols cols;
    LLVMValueRef X, Y;
} Pool;

static void pool_setup(Cg *cg, const Node *n, Pool *pl) {
    const Shape *x = &n->in[0]->shape, *y = &n->shape;
    int r = x->rank;
    const int64_t *k = node_attr(n, "kernel")->v, *s = node_attr(n, "stride")->v;
    const int64_t *p = node_attr(n, "padding")->v;
    bool include_pad = n->op == OP_AVGPOOL2D && attr_bool(n, "count_include_pad");
    *pl = (Pool){.n = n, .max = n->op == OP_MAXPOOL2D, .H = x->d[r - 2].c, .W = x->d[r - 1].c,
                 .OH = y->d[r - 2].c, .OW = y->d[r - 1].c, .KW = k[1], .sh = s[0], .sw = s[1],
                 .pt = p[0], .pl = p[1]};
    CgWindow rows = {pl->H, k[0], s[0], 1, p[0], p[2], include_pad};
    CgWindow cols = {pl->W, k[1], s[1], 1, p[1], p[3], include_pad};
    pl->rows = cg_window_rows(cg->g->arena, &rows, pl->OH);
    pl->cols = cg_window_cols(cg->g->arena, &cols, pl->OW);
    pl->X = cg->buf[n->in[0]->id];
    pl->Y = cg->buf[n->id];
}

static const char *label(Cg *cg, const Node *n, const char *what) {
    return arena_printf(cg->g->arena, "%s.%s", n->name, what);
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
static LLVMValueRef window(Cg *cg, const Pool *pl, const CgRun *r, const CgColBlock *cb, int width,
                           LLVMValueRef x) {
    double fill = pl->max ? -__builtin_inf() : 0.0;
    LLVMValueRef acc = NULL;
    for (int i = 0; i < r->ntaps; i++)
        for (int64_t kw = 0; kw < pl->KW; kw++) {
            if (!cb->mask[kw])
                continue;
            int64_t off = (r->taps[i] - pl->pt) * pl->W + kw - pl->pl;
            LLVMValueRef v = cg_vec_load(cg, pl->X, cg_add_signed(cg, x, off), width, pl->sw,
                                         cb->mask[kw], fill);
            acc = !acc      ? v
                  : pl->max ? maximum(cg, acc, v)
                            : cg_fadd(cg, acc, v);
        }
    if (!acc || pl->max)
        return acc ? acc : cg_vec_splat_const(cg, fill, width);
    /* Every window overlaps the input (the shape rule limits the padding), so only the
     * lanes past a narrow row, which are not stored, have no divisor. */
    double scale[CG_VL];
    for (int l = 0; l < width; l++)
        scale[l] = cb->div[l] ? 1.0 / (double)(r->count * cb->div[l]) : 0.0;
    return cg_fmul(cg, acc, cg_vec_const(cg, scale, width));
}

/* The blocks of cb in one row (x and y index the row's first output): one, or a loop. */
static void emit_col_blocks(Cg *cg, const Pool *pl, const CgRun *r, const CgColBlock *cb,
                            LLVMValueRef x, LLVMValueRef y) {
    int width = pl->cols.width;
    LLVMValueRef ow0 = cg_i64(cg, cb->ow0);
    CgLoop l;
    if (cb->count > 1) {
        LLVMValueRef k = cg_loop_begin(cg, &l, cg_i64(cg, cb->count), label(cg, pl->n, "ow"));
        ow0 = cg_addc(cg, cg_mulc(cg, k, width), cb->ow0);
    }
    LLVMValueRef v = window(cg, pl, r, cb, width, cg_add(cg, x, cg_mulc(cg, ow0, pl->sw)));
    cg_vec_store(cg, v, pl->Y, cg_add(cg, y, ow0), width, pl->cols.lanes);
    if (cb->count > 1)
        cg_loop_end(cg, &l, NULL);
}

static void emit_plane(Cg *cg, const Pool *pl, LLVMValueRef xbase, LLVMValueRef ybase) {
    for (int ri = 0; ri < pl->rows.nruns; ri++) {
        const CgRun *r = &pl->rows.runs[ri];
        CgLoop l;
        LLVMValueRef i = cg_loop_begin(cg, &l, cg_i64(cg, r->b - r->a), label(cg, pl->n, "oh"));
        LLVMValueRef oh = cg_addc(cg, i, r->a);
        LLVMValueRef xrow = cg_add(cg, xbase, cg_mulc(cg, oh, pl->sh * pl->W));
        LLVMValueRef yrow = cg_add(cg, ybase, cg_mulc(cg, oh, pl->OW));
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

void cg_pool_planes(Cg *cg, const Node *n, LLVMValueRef x_plane, LLVMValueRef y_plane,
                    LLVMValueRef count) {
    Pool pl;
    pool_setup(cg, n, &pl);
    CgLoop lp;
    LLVMValueRef i = cg_loop_begin(cg, &lp, count, label(cg, n, "plane"));
    emit_plane(cg, &pl, cg_mulc(cg, cg_add(cg, x_plane, i), pl.H * pl.W),
               cg_mulc(cg, cg_add(cg, y_plane, i), pl.OH * pl.OW));
    cg_loop_end(cg, &lp, NULL);
}

bool lower_pool2d(Cg *cg, Node *n) {
    cg->rolled_loops = true;
    LLVMValueRef first, count;
    cg_task_part(cg, planes(cg, &n->shape), &first, &count);
    cg_pool_planes(cg, n, first, first, count);
    return true;
}

bool lower_global_avgpool(Cg *cg, Node *n) {
    const Shape *x = &n->in[0]->shape;
    int64_t hw = x->d[2].c * x->d[3].c;
    LLVMValueRef X = cg->buf[n->in[0]->id], Y = cg->buf[n->id];
    CgLoop lp, li;
    LLVMValueRef p = cg_loop_begin(cg, &lp, planes(cg, x), label(cg, n, "plane"));
    LLVMValueRef base = cg_mulc(cg, p, hw);
    LLVMValueRef i = cg_loop_begin(cg, &li, cg_i64(cg, hw), label(cg, n, "i"));
    LLVMValueRef acc = cg_loop_acc(cg, &li, cg_f32(cg, 0.0), label(cg, n, "sum"));
    LLVMValueRef next = cg_fadd(cg, acc, cg_load(cg, X, cg_add(cg, base, i)));
    cg_loop_end(cg, &li, &next);
    cg_store(cg, cg_fmul(cg, li.acc_out[0], cg_f32(cg, 1.0 / (double)hw)), Y, p);
    cg_loop_end(cg, &lp, NULL);
    return true;
}
