/* conv2d.c: conv2d(x, filters, kernel, stride, padding, dilation, groups, bias), PyTorch's
 * nn.Conv2d on NCHW.
 *
 * Checks: x is [N, C, H, W] with only N symbolic; filters, kernel, stride, dilation and
 * groups >= 1, padding >= 0; groups divides C and filters; "same" only with stride 1; the
 * dilated kernel fits the padded input; weights already bound take C/groups channels.
 * Produces [N, filters, OH, OW] with OH = floor((H + top + bottom - dil*(kh-1) - 1) / stride)
 * + 1, the padding resolved to [top, left, bottom, right] ("valid" = 0; "same" puts
 * dilation*(k-1) in total, the odd one at the end, as PyTorch), and the parameters
 * weight [filters, C/groups, kh, kw] and bias [filters] (bias=true), uniform with
 * fan_in = C/groups * kh * kw. */
#include <string.h>

#include "rules.h"

typedef struct Conv {
    int64_t filters, groups;                /* 0 when invalid (already reported) */
    const Attr *kernel, *stride, *dilation; /* NULL when invalid */
    const Attr *pad;                        /* [top, left, bottom, right]; NULL when invalid */
} Conv;

/* PyTorch's "same": total = dilation * (k - 1) per axis, begin = total / 2. */
static const Attr *pad_same(Graph *g, Node *n, Diag *d, const Conv *c, Attr *p) {
    const int64_t *s = c->stride ? c->stride->v : NULL;
    if (s && (s[0] != 1 || s[1] != 1)) {
        shape_error(g, d, p->loc, n,
                    "padding \"same\" needs stride 1 (as in PyTorch), got stride %s",
                    shape_ints_str(g, s, 2));
        return NULL;
    }
    if (!s || !c->kernel || !c->dilation)
        return NULL;
    int64_t v[4];
    for (int i = 0; i < 2; i++) {
        int64_t total;
        if (__builtin_mul_overflow(c->dilation->v[i], c->kernel->v[i] - 1, &total)) {
            shape_error(g, d, p->loc, n, "padding \"same\" is too large");
            return NULL;
        }
        v[i] = total / 2;
        v[i + 2] = total - total / 2;
    }
    shape_set_ints(p, 4, v);
    return p;
}

static const Attr *conv_padding(Graph *g, Node *n, Diag *d, const Conv *c) {
    Attr *p = node_attr(n, "padding");
    if (!p || !p->set || p->kind != ATTR_STRING || !p->s)
        return shape_arg_ints(g, n, d, "padding", 4, 0);
    if (strcmp(p->s, "same") == 0)
        return pad_same(g, n, d, c, p);
    if (strcmp(p->s, "valid") == 0) {
        shape_set_ints(p, 4, (const int64_t[4]){0, 0, 0, 0});
        return p;
    }
    shape_error(g, d, p->loc, n, "padding must be \"same\", \"valid\" or integers, got \"%s\"",
                p->s);
    return NULL;
}

static bool conv_args(Graph *g, Node *n, Diag *d, Conv *c) {
    memset(c, 0, sizeof *c);
    bool ok = shape_arg_int(g, n, d, "filters", 1, &c->filters);
    ok &= shape_arg_int(g, n, d, "groups", 1, &c->groups);
    ok &= (c->kernel = shape_arg_ints(g, n, d, "kernel", 2, 1)) != NULL;
    ok &= (c->stride = shape_arg_ints(g, n, d, "stride", 2, 1)) != NULL;
    ok &= (c->dilation = shape_arg_ints(g, n, d, "dilation", 2, 1)) != NULL;
    ok &= (c->pad = conv_padding(g, n, d, c)) != NULL;
    return ok;
}

/* groups must divide both channel counts; bound weights fix C / groups. */
static bool conv_groups(Graph *g, Node *n, Diag *d, const Conv *c, int64_t ch) {
    bool ok = true;
    SrcLoc at = shape_arg_loc(n, "groups");
    if (c->groups && ch % c->groups) {
        shape_error(g, d, at, n, "groups %lld does not divide the %lld input channels of %s",
                    (long long)c->groups, (long long)ch, shape_in_str(g, n, 0));
        ok = false;
    }
    if (c->groups && c->filters && c->filters % c->groups) {
        shape_error(g, d, at, n, "groups %lld does not divide filters %lld", (long long)c->groups,
                    (long long)c->filters);
        ok = false;
    }
    const Param *w = shape_bound_param(n, "weight");
    int64_t want;
    if (ok && c->groups && w && w->shape.rank == 4 && !dim_is(w->shape.d[1], ch / c->groups) &&
        !__builtin_mul_overflow(w->shape.d[1].c, c->groups, &want)) {
        shape_error(g, d, n->loc, n, "expects %lld input channels (weight %s), got %s",
                    (long long)want, graph_shape_str(g, &w->shape), shape_in_str(g, n, 0));
        ok = false;
    }
    return ok; /* any other mismatch with a bound weight is shape_param's to report */
}

static const char *pair_str(Graph *g, const int64_t *v) {
    if (v[0] == v[1])
        return arena_printf(g->arena, "%lld", (long long)v[0]);
    return arena_printf(g->arena, "%lldx%lld", (long long)v[0], (long long)v[1]);
}

/* The output's H and W; false after reporting a kernel that does not fit. */
static bool conv_spatial(Graph *g, Node *n, Diag *d, const Conv *c, int64_t out[2]) {
    const Shape *x = &n->in[0]->shape;
    const int64_t *k = c->kernel->v, *p = c->pad->v;
    for (int i = 0; i < 2; i++)
        if (!shape_window(x->d[2 + i].c, p[i], p[i + 2], k[i], c->stride->v[i], c->dilation->v[i],
                          false, &out[i])) {
            shape_error(g, d, n->loc, n, "output of %s is too large", shape_in_str(g, n, 0));
            return false;
        }
    if (out[0] >= 1 && out[1] >= 1)
        return true;
    /* shape_window succeeded, so the padded sizes do not overflow. */
    shape_error(g, d, n->loc, n,
                "kernel %lldx%lld (dilation %s) is larger than the padded input %lldx%lld",
                (long long)k[0], (long long)k[1], pair_str(g, c->dilation->v),
                (long long)(x->d[2].c + p[0] + p[2]), (long long)(x->d[3].c + p[1] + p[3]));
    return false;
}

static bool conv_params(Graph *g, Node *n, Diag *d, const Conv *c, int64_t ch) {
    const int64_t *k = c->kernel->v;
    int64_t w[4] = {c->filters, ch / c->groups, k[0], k[1]}, fan_in;
    if (__builtin_mul_overflow(w[1], k[0], &fan_in) ||
        __builtin_mul_overflow(fan_in, k[1], &fan_in))
        fan_in = 0; /* the weight is then too large, which shape_param reports */
    if (!shape_param(g, n, d, "weight", shape_make(4, w), PINIT_UNIFORM_FANIN, fan_in))
        return false;
    return !attr_bool(n, "bias") ||
           shape_param(g, n, d, "bias", shape_make(1, &c->filters), PINIT_UNIFORM_FANIN, fan_in);
}

bool shape_conv2d(Graph *g, Node *n, Diag *d) {
    Conv c;
    bool args_ok = conv_args(g, n, d, &c);
    if (!shape_need_rank(g, n, d, 4, 4, "a 4-D input [N, C, H, W]") ||
        !shape_need_fixed(g, n, d, 1, 4, "fixed C, H and W (only N may be symbolic)"))
        return false;
    const Shape *x = &n->in[0]->shape;
    int64_t ch = x->d[1].c, out[2];
    bool ok = conv_groups(g, n, d, &c, ch);
    if (c.kernel && c.stride && c.dilation && c.pad)
        ok &= conv_spatial(g, n, d, &c, out);
    if (!ok || !args_ok)
        return false;
    n->shape = *x;
    n->shape.d[1] = dim_const(c.filters);
    n->shape.d[2] = dim_const(out[0]);
    n->shape.d[3] = dim_const(out[1]);
    return conv_params(g, n, d, &c, ch);
}
