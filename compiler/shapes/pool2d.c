/* pool2d.c: maxpool2d and avgpool2d (PyTorch's MaxPool2d / AvgPool2d), and global_avgpool.
 *
 * Checks: x is [N, C, H, W] or [C, H, W] with only N symbolic; kernel and stride >= 1;
 * padding >= 0 and at most half the kernel (PyTorch's rule); "valid" = 0 ("same" is not a
 * PyTorch pool padding); at least one window. Produces [..., C, OH, OW] with PyTorch's
 * pooling_output_shape: OH = floor-or-ceil((H + top + bottom - kh) / stride) + 1, and with
 * ceil_mode the last window dropped when it would start in the bottom/right padding. An unset
 * stride becomes the kernel and the padding is stored as [top, left, bottom, right].
 * global_avgpool: [N, C, H, W] -> [N, C, 1, 1]. */
#include <string.h>

#include "rules.h"

static const char *const pool_rank = "a 3-D [C, H, W] or 4-D [N, C, H, W] input";
static const char *const pool_fixed = "fixed C, H and W (only N may be symbolic)";

/* An unset stride is the kernel, as in PyTorch; it is stored so the lowering need not know. */
static const Attr *pool_stride(Graph *g, Node *n, Diag *d, const Attr *kernel) {
    Attr *s = node_attr(n, "stride");
    if (!s || s->set)
        return shape_arg_ints(g, n, d, "stride", 2, 1);
    if (!kernel)
        return NULL;
    shape_set_ints(s, 2, kernel->v);
    return s;
}

static const Attr *pool_padding(Graph *g, Node *n, Diag *d, const Attr *kernel) {
    Attr *p = node_attr(n, "padding");
    if (p && p->set && p->kind == ATTR_STRING && p->s) {
        if (strcmp(p->s, "valid") == 0) {
            shape_set_ints(p, 4, (const int64_t[4]){0, 0, 0, 0});
            return p;
        }
        shape_error(g, d, p->loc, n, "padding must be integers or \"valid\", got \"%s\"", p->s);
        return NULL;
    }
    p = shape_arg_ints(g, n, d, "padding", 4, 0);
    if (!p || !kernel)
        return p;
    for (int i = 0; i < 4; i++)
        if (p->v[i] > kernel->v[i % 2] / 2) { /* top/bottom go with kh, left/right with kw */
            shape_error(g, d, p->loc, n,
                        "padding %s must be at most half the kernel %s (as in PyTorch)",
                        shape_ints_str(g, p->v, 4), shape_ints_str(g, kernel->v, 2));
            return NULL;
        }
    return p;
}

/* The output's H and W; false after reporting a kernel that does not fit. */
static bool pool_spatial(Graph *g, Node *n, Diag *d, const Attr *k, const Attr *s, const Attr *p,
                         int64_t out[2]) {
    const Shape *x = &n->in[0]->shape;
    bool ceil_mode = attr_bool(n, "ceil_mode");
    int r = x->rank;
    for (int i = 0; i < 2; i++)
        if (!shape_window(x->d[r - 2 + i].c, p->v[i], p->v[i + 2], k->v[i], s->v[i], 1, ceil_mode,
                          &out[i])) {
            shape_error(g, d, n->loc, n, "output of %s is too large", shape_in_str(g, n, 0));
            return false;
        }
    if (out[0] >= 1 && out[1] >= 1)
        return true;
    shape_error(g, d, n->loc, n, "kernel %lldx%lld is larger than the padded input %lldx%lld",
                (long long)k->v[0], (long long)k->v[1],
                (long long)(x->d[r - 2].c + p->v[0] + p->v[2]),
                (long long)(x->d[r - 1].c + p->v[1] + p->v[3]));
    return false;
}

bool shape_pool2d(Graph *g, Node *n, Diag *d) {
    const Attr *k = shape_arg_ints(g, n, d, "kernel", 2, 1);
    const Attr *s = pool_stride(g, n, d, k);
    const Attr *p = pool_padding(g, n, d, k);
    const Shape *x = &n->in[0]->shape;
    if (!shape_need_rank(g, n, d, 3, 4, pool_rank) ||
        !shape_need_fixed(g, n, d, x->rank - 3, x->rank, pool_fixed))
        return false;
    int64_t out[2];
    if (!k || !s || !p || !pool_spatial(g, n, d, k, s, p, out))
        return false;
    n->shape = *x;
    n->shape.d[x->rank - 2] = dim_const(out[0]);
    n->shape.d[x->rank - 1] = dim_const(out[1]);
    return true;
}

bool shape_global_avgpool(Graph *g, Node *n, Diag *d) {
    if (!shape_need_rank(g, n, d, 4, 4, "a 4-D input [N, C, H, W]") ||
        !shape_need_fixed(g, n, d, 1, 4, pool_fixed))
        return false;
    n->shape = n->in[0]->shape;
    n->shape.d[2] = n->shape.d[3] = dim_const(1);
    return true;
}
