/* fuzz_differential.c: the JIT at -O0 and -O2 against the reference interpreter.
 *
 * In: bytes taken as a recipe, not as text: each byte is a choice (which input shapes, which
 * operator, which operand, which kernel, ...) for a small generator that tracks shapes and so
 * only writes valid .nnd models: 1-2 inputs [N, ...], 1-8 statements over most of SPEC 1.4
 * (calls, nested calls, `->` chains, param() operands), 1-3 outputs, random parameters
 * (init_random with a seed from the recipe), a batch of 1-7 and input values in [-4, 4]
 * (recipe bytes, then a PRNG seeded by the recipe once they run out). An exhausted recipe
 * reads as zeros, so every input, the empty one included, gives a model.
 * Out: nothing, or abort() with a report (model text, output, index, values) when
 *   - the interpreter or the JIT rejects the model (the generator must write valid ones), or
 *     a compiled model fails to run;
 *   - an output element of -O0 or -O2 differs from the interpreter's beyond the tolerance.
 *
 * Tolerance, per element of an output y (ref = the interpreter, which rounds to float once
 * per node; the JIT rounds in float, fuses and reassociates):
 *     |jit - ref| <= 1e-3 * |ref| + 1e-4 * max|ref over y| + 1e-5
 * A reduction over K terms legitimately differs by about K * 2^-24 * sum|terms|; with K below
 * a few hundred here that is under 1e-4 of the largest term, which the tensor-wide term
 * covers when the sum cancels to a small element. A real lowering bug (an index, a padding, a
 * wrong formula) moves an element by a fraction of the values themselves, far beyond this.
 * NaN must match NaN and infinities must match exactly, except that a finite value beyond
 * 1e37 may stand for an overflowed infinity (rounding decides which side of FLT_MAX it lands).
 * To keep the float noise inside that bound, the generator avoids ill-conditioned spots that
 * are not bugs: log and sqrt of a computed value (not an exact input) take abs(v) + 0.5, and a
 * tensor divisor is abs(v) + 0.5, so a value rounding to either side of 0 cannot turn into NaN
 * in one backend and a number in the other. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnd.h"

enum {
    MAX_VALS = 16,      /* inputs + statements */
    MAX_STMTS = 8,
    MAX_ELEMS = 2048,   /* per tensor at batch 7: keeps each run well under 50 ms */
    MAX_MACS = 1 << 18, /* conv2d and matmul work per node at batch 7 */
    TEXT = 16384,
    EXPR = 2048,
    BATCH_MAX = 7,
};

/* --- the recipe --------------------------------------------------------------------------- */

typedef struct Recipe {
    const uint8_t *p;
    size_t n, at;
} Recipe;

static unsigned take(Recipe *r, unsigned n) {
    uint8_t b = r->at < r->n ? r->p[r->at++] : 0;
    return n ? b % n : 0;
}

static bool chance(Recipe *r, unsigned pct) { return take(r, 100) < pct; }

/* --- shapes, as the compiler's monomials c * N^e over the one symbol N -------------------- */

typedef struct GDim {
    int64_t c;
    int e;
} GDim;

typedef struct GShape {
    int rank;
    GDim d[NND_MAX_RANK];
} GShape;

static bool gdim_eq(GDim a, GDim b) { return a.c == b.c && a.e == b.e; }
static bool gdim_fixed(GDim a) { return a.e == 0; }

static int64_t gdim_at(GDim a, int64_t batch) {
    int64_t v = a.c;
    for (int i = 0; i < a.e; i++)
        v *= batch;
    return v;
}

static int64_t numel_at(const GShape *s, int64_t batch) {
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++)
        n *= gdim_at(s->d[i], batch);
    return n;
}

static bool small(const GShape *s) {
    for (int i = 0; i < s->rank; i++)
        if (s->d[i].e > 2)
            return false;
    return s->rank >= 1 && numel_at(s, BATCH_MAX) <= MAX_ELEMS;
}

/* NumPy broadcasting, as shape_broadcast: equal monomials, or one of them the constant 1. */
static bool broadcast(const GShape *a, const GShape *b, GShape *out) {
    int r = a->rank > b->rank ? a->rank : b->rank;
    out->rank = r;
    for (int i = 0; i < r; i++) {
        int ia = a->rank - r + i, ib = b->rank - r + i;
        GDim x = ia >= 0 ? a->d[ia] : (GDim){1, 0}, y = ib >= 0 ? b->d[ib] : (GDim){1, 0};
        if (gdim_eq(x, y) || (y.c == 1 && y.e == 0))
            out->d[i] = x;
        else if (x.c == 1 && x.e == 0)
            out->d[i] = y;
        else
            return false;
    }
    return true;
}

static void shape_text(char *buf, size_t len, const GShape *s) {
    size_t at = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < s->rank && at < len; i++)
        at += (size_t)snprintf(buf + at, len - at, "%s%lld", i ? ", " : "", (long long)s->d[i].c);
    if (at < len)
        snprintf(buf + at, len - at, "]");
}

/* --- the generator ------------------------------------------------------------------------ */

typedef struct Val {
    char name[16];
    GShape s;
    bool exact; /* a model input: its values are the same in every backend */
} Val;

typedef struct Gen {
    Recipe *r;
    char text[TEXT];
    size_t len;
    Val vals[MAX_VALS];
    int nvals, ninputs, nparams;
} Gen;

/* One step of an expression: name(args) applied to the value so far. */
typedef struct Step {
    char op[24];
    char args[512]; /* "" or ", ..." */
} Step;

typedef struct Steps {
    Step s[6];
    int n;
} Steps;

static void appendf(char *buf, size_t cap, size_t *len, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (*len < cap) {
        int k = vsnprintf(buf + *len, cap - *len, fmt, ap);
        *len += k > 0 ? (size_t)k : 0;
    }
    va_end(ap);
}

static void step(Steps *st, const char *op, const char *fmt, ...) {
    Step *s = &st->s[st->n++];
    snprintf(s->op, sizeof s->op, "%s", op);
    s->args[0] = 0;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(s->args, sizeof s->args, fmt, ap);
        va_end(ap);
    }
}

/* The steps applied to base, as nested calls `op(base, args)` or as a chain `base -> op`. */
static void render(char *out, size_t cap, const char *base, const Steps *st, bool chain) {
    size_t len = 0;
    if (chain) {
        appendf(out, cap, &len, "%s", base);
        for (int i = 0; i < st->n; i++) {
            const char *a = st->s[i].args;
            if (*a)
                appendf(out, cap, &len, " -> %s(%s)", st->s[i].op, a + 2);
            else
                appendf(out, cap, &len, " -> %s", st->s[i].op);
        }
        return;
    }
    for (int i = st->n - 1; i >= 0; i--)
        appendf(out, cap, &len, "%s(", st->s[i].op);
    appendf(out, cap, &len, "%s", base);
    for (int i = 0; i < st->n; i++)
        appendf(out, cap, &len, "%s)", st->s[i].args);
}

static const char *small_float(Recipe *r) {
    static const char *const f[] = {"0.5", "-1", "2", "0.25", "-0.75", "3", "1e-3", "-2.5", "1"};
    return f[take(r, 9)];
}

static const char *const plain_unary[] = {
    "relu", "sigmoid", "tanh", "selu", "gelu", "silu", "softplus", "softsign",
    "hard_sigmoid", "relu6", "identity", "exp", "abs", "neg",
};

/* An activation (or log/sqrt made safe) as steps; always applicable. */
static void gen_unary(Gen *g, Steps *st, bool exact) {
    Recipe *r = g->r;
    unsigned k = take(r, 22);
    enum { NPLAIN = sizeof plain_unary / sizeof *plain_unary };
    if (k < NPLAIN) {
        step(st, plain_unary[k], NULL);
        return;
    }
    switch (k - NPLAIN) {
    case 0: step(st, "leaky_relu", chance(r, 50) ? ", alpha=%s" : NULL, small_float(r)); break;
    case 1: step(st, "elu", chance(r, 50) ? ", alpha=%s" : NULL, "0.7"); break;
    case 2: step(st, "gelu", ", approximate=\"%s\"", chance(r, 70) ? "tanh" : "none"); break;
    case 3: {
        int lo = (int)take(r, 5) - 3, hi = lo + (int)take(r, 5);
        unsigned which = take(r, 3);
        /* max is hi + 0.5 >= lo: "%d.5" spelled -1.5 for hi = -1, below min = -1 */
        if (which == 0)
            step(st, "clip", ", min=%d", lo);
        else if (which == 1)
            step(st, "clip", ", max=%g", hi + 0.5);
        else
            step(st, "clip", ", %d, %g", lo, hi + 0.5);
        break;
    }
    case 4: step(st, "dropout", chance(r, 50) ? ", p=0.%u" : NULL, take(r, 10)); break;
    case 5:
    case 6:
        if (!exact) {
            step(st, "abs", NULL);
            step(st, "add", ", 0.5");
        }
        step(st, k - NPLAIN == 5 ? "log" : "sqrt", NULL);
        break;
    default: step(st, "identity", NULL); break;
    }
}

static const char *fresh_param(Gen *g) {
    static char name[16];
    snprintf(name, sizeof name, "p%d", g->nparams++);
    return name;
}

/* A tensor operand: an existing value by name, or sometimes an activation of it (nested). */
static void operand_text(Gen *g, const Val *v, char *out, size_t cap) {
    if (chance(g->r, 25)) {
        Steps st = {0};
        gen_unary(g, &st, v->exact);
        render(out, cap, v->name, &st, false);
    } else {
        snprintf(out, cap, "%s", v->name);
    }
}

/* param([dims]) with a name, since a statement may hold several parametric layers. */
static void param_text(Gen *g, const GShape *s, char *out, size_t cap) {
    char dims[128];
    shape_text(dims, sizeof dims, s);
    snprintf(out, cap, "param(%s, name=\"%s\")", dims, fresh_param(g));
}

static const char *name_arg(Gen *g, bool named) {
    static char buf[32];
    if (!named)
        return "";
    snprintf(buf, sizeof buf, ", name=\"%s\"", fresh_param(g));
    return buf;
}

/* Each gen_<op> appends its steps for an input of shape *s and updates *s; false when the op
 * does not apply to *s (nothing appended). named: a parametric layer takes name=. */
static bool gen_dense(Gen *g, Steps *st, GShape *s, bool named) {
    if (s->rank < 1 || !gdim_fixed(s->d[s->rank - 1]))
        return false;
    int64_t units = 1 + take(g->r, 12);
    GShape o = *s;
    o.d[o.rank - 1] = (GDim){units, 0};
    if (!small(&o) || numel_at(s, BATCH_MAX) * units > MAX_MACS)
        return false;
    bool nobias = chance(g->r, 20);
    step(st, "dense", ", %lld%s%s", (long long)units, nobias ? ", bias=false" : "",
         name_arg(g, named));
    *s = o;
    return true;
}

static bool spatial_fixed(const GShape *s, int from) {
    for (int i = from; i < s->rank; i++)
        if (!gdim_fixed(s->d[i]))
            return false;
    return true;
}

static int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

/* shape_window's output size. */
static int64_t window(int64_t in, int64_t pb, int64_t pe, int64_t k, int64_t s, int64_t dil,
                      bool ceil_mode) {
    int64_t span = in + pb + pe - dil * (k - 1) - 1 + (ceil_mode ? s - 1 : 0);
    int64_t o = floor_div(span, s) + 1;
    if (ceil_mode && o > 0 && (o - 1) * s >= in + pb)
        o--;
    return o;
}

static const char *pair(char *buf, size_t cap, int64_t a, int64_t b, bool as_int) {
    if (as_int && a == b)
        snprintf(buf, cap, "%lld", (long long)a);
    else
        snprintf(buf, cap, "[%lld, %lld]", (long long)a, (long long)b);
    return buf;
}

static bool gen_conv2d(Gen *g, Steps *st, GShape *s, bool named) {
    Recipe *r = g->r;
    if (s->rank != 4 || !spatial_fixed(s, 1))
        return false;
    int64_t c = s->d[1].c, h = s->d[2].c, w = s->d[3].c;
    int64_t divs[16], nd = 0;
    for (int64_t i = 1; i <= c && nd < 16; i++)
        if (c % i == 0)
            divs[nd++] = i;
    int64_t groups = chance(r, 50) ? 1 : divs[take(r, (unsigned)nd)];
    int64_t filters = groups * (1 + take(r, (unsigned)(12 / groups > 1 ? 12 / groups : 1)));
    int64_t k[2], str[2], dil[2], pad[4];
    bool square = chance(r, 50);
    for (int i = 0; i < 2; i++) {
        k[i] = i && square ? k[0] : 1 + take(r, 5);
        str[i] = i && square ? str[0] : (chance(r, 60) ? 1 : 1 + take(r, 3));
        dil[i] = i && square ? dil[0] : (chance(r, 70) ? 1 : 2);
    }
    unsigned pk = take(r, 5); /* 0 none, 1 int, 2 [h, w], 3 [t, l, b, r], 4 "same" */
    bool same = pk == 4 && str[0] == 1 && str[1] == 1;
    if (pk == 4 && !same)
        pk = 0; /* "same" needs stride 1: no padding instead */
    char pads[64] = "";
    if (same) {
        for (int i = 0; i < 2; i++) {
            int64_t total = dil[i] * (k[i] - 1);
            pad[i] = total / 2;
            pad[i + 2] = total - total / 2;
        }
        snprintf(pads, sizeof pads, ", padding=\"same\"");
    } else {
        for (int i = 0; i < 4; i++)
            pad[i] = pk == 0 ? 0 : take(r, 3);
        if (pk == 1 || pk == 2) {
            pad[2] = pad[0];
            pad[3] = pad[1] = pk == 1 ? pad[0] : pad[1];
            pad[2] = pad[0];
        }
        if (pk == 1)
            snprintf(pads, sizeof pads, ", padding=%lld", (long long)pad[0]);
        else if (pk == 2)
            snprintf(pads, sizeof pads, ", padding=[%lld, %lld]", (long long)pad[0],
                     (long long)pad[1]);
        else if (pk == 3)
            snprintf(pads, sizeof pads, ", padding=[%lld, %lld, %lld, %lld]", (long long)pad[0],
                     (long long)pad[1], (long long)pad[2], (long long)pad[3]);
    }
    int64_t in[2] = {h, w}, out[2];
    for (int i = 0; i < 2; i++) {
        out[i] = window(in[i], pad[i], pad[i + 2], k[i], str[i], dil[i], false);
        if (out[i] < 1)
            return false;
    }
    GShape o = *s;
    o.d[1] = (GDim){filters, 0};
    o.d[2] = (GDim){out[0], 0};
    o.d[3] = (GDim){out[1], 0};
    if (!small(&o) ||
        numel_at(&o, BATCH_MAX) * (c / groups) * k[0] * k[1] > MAX_MACS)
        return false;
    char kb[32], sb[32], db[32];
    bool ints = chance(r, 50);
    step(st, "conv2d", ", %lld, %s%s%s%s%s%s%s", (long long)filters,
         pair(kb, sizeof kb, k[0], k[1], ints), pads,
         str[0] != 1 || str[1] != 1 ? ", stride=" : "",
         str[0] != 1 || str[1] != 1 ? pair(sb, sizeof sb, str[0], str[1], ints) : "",
         dil[0] != 1 || dil[1] != 1 ? ", dilation=" : "",
         dil[0] != 1 || dil[1] != 1 ? pair(db, sizeof db, dil[0], dil[1], ints) : "",
         groups != 1 ? ", groups=" : "");
    if (groups != 1) {
        size_t len = strlen(st->s[st->n - 1].args);
        appendf(st->s[st->n - 1].args, sizeof st->s[0].args, &len, "%lld", (long long)groups);
    }
    if (chance(r, 20)) {
        size_t len = strlen(st->s[st->n - 1].args);
        appendf(st->s[st->n - 1].args, sizeof st->s[0].args, &len, ", bias=false");
    }
    if (named) {
        size_t len = strlen(st->s[st->n - 1].args);
        appendf(st->s[st->n - 1].args, sizeof st->s[0].args, &len, "%s", name_arg(g, true));
    }
    *s = o;
    return true;
}

static bool gen_pool(Gen *g, Steps *st, GShape *s, bool avg) {
    Recipe *r = g->r;
    if ((s->rank != 4 && s->rank != 3) || !spatial_fixed(s, s->rank - 3))
        return false;
    int64_t in[2] = {s->d[s->rank - 2].c, s->d[s->rank - 1].c};
    int64_t k[2], str[2], pad[4], out[2];
    bool square = chance(r, 50), stride_set = chance(r, 50), ceil_mode = chance(r, 40);
    for (int i = 0; i < 2; i++) {
        k[i] = i && square ? k[0] : 1 + take(r, 4);
        if (k[i] > in[i] + 2 * (k[i] / 2))
            k[i] = 1;
        str[i] = !stride_set ? k[i] : i && square ? str[0] : 1 + take(r, 3);
    }
    unsigned pk = take(r, 4); /* 0 none, 1 int, 2 [h, w], 3 [t, l, b, r] */
    for (int i = 0; i < 4; i++)
        pad[i] = pk == 0 ? 0 : take(r, (unsigned)(k[i % 2] / 2 + 1));
    if (pk == 1) {
        int64_t m = k[0] < k[1] ? k[0] : k[1];
        pad[0] = pad[1] = pad[2] = pad[3] = pad[0] > m / 2 ? m / 2 : pad[0];
    } else if (pk == 2) {
        pad[2] = pad[0];
        pad[3] = pad[1];
    }
    for (int i = 0; i < 2; i++) {
        out[i] = window(in[i], pad[i], pad[i + 2], k[i], str[i], 1, ceil_mode);
        if (out[i] < 1)
            return false;
    }
    char args[256], kb[32], sb[32];
    size_t len = 0;
    bool ints = chance(r, 50);
    appendf(args, sizeof args, &len, ", %s", pair(kb, sizeof kb, k[0], k[1], ints));
    if (stride_set)
        appendf(args, sizeof args, &len, ", stride=%s", pair(sb, sizeof sb, str[0], str[1], ints));
    if (pk == 1)
        appendf(args, sizeof args, &len, ", padding=%lld", (long long)pad[0]);
    else if (pk == 2)
        appendf(args, sizeof args, &len, ", padding=[%lld, %lld]", (long long)pad[0],
                (long long)pad[1]);
    else if (pk == 3)
        appendf(args, sizeof args, &len, ", padding=[%lld, %lld, %lld, %lld]", (long long)pad[0],
                (long long)pad[1], (long long)pad[2], (long long)pad[3]);
    if (ceil_mode)
        appendf(args, sizeof args, &len, ", ceil_mode=true");
    if (avg && chance(r, 50))
        appendf(args, sizeof args, &len, ", count_include_pad=%s",
                chance(r, 50) ? "false" : "true");
    step(st, avg ? "avgpool2d" : "maxpool2d", "%s", args);
    s->d[s->rank - 2] = (GDim){out[0], 0};
    s->d[s->rank - 1] = (GDim){out[1], 0};
    return true;
}

static bool gen_global_avgpool(Gen *g, Steps *st, GShape *s) {
    (void)g;
    if (s->rank != 4 || !spatial_fixed(s, 1))
        return false;
    step(st, "global_avgpool", NULL);
    s->d[2] = s->d[3] = (GDim){1, 0};
    return true;
}

static bool gen_norm(Gen *g, Steps *st, GShape *s, bool batch, bool named) {
    if (batch ? s->rank < 2 || !gdim_fixed(s->d[1]) : !gdim_fixed(s->d[s->rank - 1]))
        return false;
    const char *eps = chance(g->r, 30) ? ", eps=1e-3" : "";
    step(st, batch ? "batchnorm" : "layernorm", "%s%s", eps, name_arg(g, named));
    return true;
}

static bool gen_flatten(Gen *g, Steps *st, GShape *s) {
    int axis = (int)take(g->r, (unsigned)s->rank);
    GDim rest = {1, 0};
    for (int i = axis; i < s->rank; i++)
        rest = (GDim){rest.c * s->d[i].c, rest.e + s->d[i].e};
    if (rest.e > 2)
        return false;
    bool negative = chance(g->r, 30);
    if (axis == 1 && chance(g->r, 50))
        step(st, "flatten", NULL);
    else
        step(st, "flatten", ", axis=%d", negative ? axis - s->rank : axis);
    s->rank = axis + 1;
    s->d[axis] = rest;
    return true;
}

/* reshape: the constant part of the element count split into factors; a -1 takes what is
 * left over, and must when the count is symbolic. */
static bool gen_reshape(Gen *g, Steps *st, GShape *s) {
    Recipe *r = g->r;
    GDim total = {1, 0};
    for (int i = 0; i < s->rank; i++)
        total = (GDim){total.c * s->d[i].c, total.e + s->d[i].e};
    int rank = 1 + (int)take(r, 4);
    int64_t left = total.c, f[NND_MAX_RANK];
    for (int i = 0; i < rank; i++) {
        int64_t divs[64], nd = 0;
        for (int64_t d = 1; d <= left && nd < 64; d++)
            if (left % d == 0)
                divs[nd++] = d;
        f[i] = i == rank - 1 ? left : divs[take(r, (unsigned)nd)];
        left /= f[i];
    }
    int infer = total.e > 0 || chance(r, 40) ? (int)take(r, (unsigned)rank) : -1;
    char args[256];
    size_t len = 0;
    appendf(args, sizeof args, &len, ", [");
    for (int i = 0; i < rank; i++)
        appendf(args, sizeof args, &len, "%s%lld", i ? ", " : "",
                i == infer ? -1LL : (long long)f[i]);
    appendf(args, sizeof args, &len, "]");
    step(st, "reshape", "%s", args);
    s->rank = rank;
    for (int i = 0; i < rank; i++)
        s->d[i] = (GDim){f[i], i == infer ? total.e : 0};
    return true;
}

static bool gen_transpose(Gen *g, Steps *st, GShape *s) {
    Recipe *r = g->r;
    int perm[NND_MAX_RANK], n = s->rank;
    GShape o = *s;
    if (chance(r, 25)) {
        step(st, "transpose", NULL);
        for (int i = 0; i < n; i++)
            o.d[i] = s->d[n - 1 - i];
        *s = o;
        return true;
    }
    for (int i = 0; i < n; i++)
        perm[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)take(r, (unsigned)(i + 1)), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    char args[128];
    size_t len = 0;
    appendf(args, sizeof args, &len, ", perm=[");
    for (int i = 0; i < n; i++) {
        appendf(args, sizeof args, &len, "%s%d", i ? ", " : "",
                chance(r, 15) ? perm[i] - n : perm[i]);
        o.d[i] = s->d[perm[i]];
    }
    appendf(args, sizeof args, &len, "]");
    step(st, "transpose", "%s", args);
    *s = o;
    return true;
}

/* A param shape broadcastable to s: a suffix of s's dimensions, some of them 1. */
static GShape param_like(Recipe *r, const GShape *s) {
    GShape p;
    int drop = (int)take(r, (unsigned)s->rank);
    p.rank = s->rank - drop;
    for (int i = 0; i < p.rank; i++) {
        GDim d = s->d[drop + i];
        p.d[i] = gdim_fixed(d) && chance(r, 70) ? d : (GDim){1, 0};
    }
    return p;
}

static bool gen_binary(Gen *g, Steps *st, GShape *s) {
    Recipe *r = g->r;
    static const char *const ops[] = {"add", "sub", "mul", "div"};
    unsigned op = take(r, 4), kind = take(r, 4);
    char b[EXPR];
    GShape bs, o;
    if (kind == 0) { /* a number */
        snprintf(b, sizeof b, "%s", op == 3 ? "-2.5" : small_float(r));
        step(st, ops[op], ", %s", b);
        return true;
    }
    if (kind == 1) {
        bs = param_like(r, s);
        param_text(g, &bs, b, sizeof b);
    } else {
        const Val *v = &g->vals[take(r, (unsigned)g->nvals)];
        bs = v->s;
        if (!broadcast(s, &bs, &o))
            return false;
        operand_text(g, v, b, sizeof b);
    }
    if (!broadcast(s, &bs, &o) || !small(&o))
        return false;
    if (op == 3 && kind != 1) /* keep a computed divisor away from 0 */
        step(st, ops[op], ", add(abs(%s), 0.5)", b);
    else
        step(st, ops[op], ", %s", b);
    *s = o;
    return true;
}

static bool gen_matmul(Gen *g, Steps *st, GShape *s, const char *self) {
    Recipe *r = g->r;
    if (s->rank < 1)
        return false;
    GDim k = s->d[s->rank - 1];
    GShape bs, o;
    char b[EXPR];
    unsigned kind = take(r, 3);
    if (kind == 2 && s->rank >= 2 && self) { /* x @ x^T over the last two axes */
        bs = *s;
        bs.d[bs.rank - 1] = s->d[s->rank - 2];
        bs.d[bs.rank - 2] = k;
        char perm[64];
        size_t len = 0;
        appendf(perm, sizeof perm, &len, "[");
        for (int i = 0; i < s->rank; i++)
            appendf(perm, sizeof perm, &len, "%s%d", i ? ", " : "",
                    i == s->rank - 2 ? s->rank - 1 : i == s->rank - 1 ? s->rank - 2 : i);
        appendf(perm, sizeof perm, &len, "]");
        snprintf(b, sizeof b, "transpose(%s, perm=%s)", self, perm);
    } else {
        if (!gdim_fixed(k))
            return false;
        if (kind == 0) {
            bs.rank = 1;
            bs.d[0] = k;
        } else {
            bs.rank = 2;
            bs.d[0] = k;
            bs.d[1] = (GDim){1 + take(r, 10), 0};
            if (s->rank >= 3 && chance(r, 40)) { /* a batch dimension that broadcasts */
                GDim bd = s->d[s->rank - 3];
                bs.rank = 3;
                bs.d[2] = bs.d[1];
                bs.d[1] = k;
                bs.d[0] = gdim_fixed(bd) && chance(r, 50) ? bd : (GDim){1, 0};
            }
        }
        param_text(g, &bs, b, sizeof b);
    }
    /* numpy.matmul's shape */
    GShape ba = *s, bb = bs;
    ba.rank = s->rank > 2 ? s->rank - 2 : 0;
    bb.rank = bs.rank > 2 ? bs.rank - 2 : 0;
    if (ba.rank == 0 && bb.rank == 0)
        o.rank = 0;
    else if (!broadcast(&ba, &bb, &o))
        return false;
    if (s->rank >= 2)
        o.d[o.rank++] = s->d[s->rank - 2];
    if (bs.rank >= 2)
        o.d[o.rank++] = bs.d[bs.rank - 1];
    if (o.rank == 0 || !small(&o) ||
        numel_at(&o, BATCH_MAX) * gdim_at(k, BATCH_MAX) > MAX_MACS)
        return false;
    step(st, "matmul", ", %s", b);
    *s = o;
    return true;
}

static bool gen_concat(Gen *g, Steps *st, GShape *s, const char *self) {
    Recipe *r = g->r;
    int axis = (int)take(r, (unsigned)s->rank), parts = 1 + (int)take(r, 2);
    GDim sum = s->d[axis];
    char args[EXPR];
    size_t len = 0;
    for (int p = 0; p < parts; p++) {
        unsigned kind = take(r, 3);
        const Val *v = &g->vals[take(r, (unsigned)g->nvals)];
        bool fits = v->s.rank == s->rank && v->s.d[axis].e == s->d[axis].e;
        for (int i = 0; fits && i < s->rank; i++)
            fits = i == axis || gdim_eq(v->s.d[i], s->d[i]);
        char b[EXPR];
        GDim add = s->d[axis];
        if (kind == 0 && fits) {
            operand_text(g, v, b, sizeof b);
            add = v->s.d[axis];
        } else if (kind == 1 && spatial_fixed(s, 0)) {
            GShape ps = *s;
            ps.d[axis].c = 1 + take(r, 4);
            param_text(g, &ps, b, sizeof b);
            add = ps.d[axis];
        } else if (self) {
            Steps u = {0};
            gen_unary(g, &u, false);
            render(b, sizeof b, self, &u, false);
        } else {
            return false;
        }
        sum.c += add.c;
        appendf(args, sizeof args, &len, ", %s", b);
    }
    GShape o = *s;
    o.d[axis] = sum;
    if (!small(&o))
        return false;
    if (axis != 1 || chance(r, 50))
        appendf(args, sizeof args, &len, ", axis=%d", chance(r, 30) ? axis - s->rank : axis);
    step(st, "concat", "%s", args);
    *s = o;
    return true;
}

static bool gen_softmax(Gen *g, Steps *st, GShape *s) {
    Recipe *r = g->r;
    const char *op = chance(r, 50) ? "softmax" : "log_softmax";
    if (chance(r, 30)) {
        step(st, op, NULL);
        return true;
    }
    int axis = (int)take(r, (unsigned)s->rank);
    step(st, op, ", axis=%d", chance(r, 40) ? axis - s->rank : axis);
    return true;
}

/* One operator step on a value of shape *s (self: its name when the value is a plain name,
 * for the ops that repeat their operand). Tries a few picks, then an activation. */
static void gen_op(Gen *g, Steps *st, GShape *s, const char *self, bool named, bool exact) {
    for (int tries = 0; tries < 4; tries++) {
        bool ok;
        switch (take(g->r, 18)) {
        case 0: case 1: ok = gen_dense(g, st, s, named); break;
        case 2: case 3: ok = gen_conv2d(g, st, s, named); break;
        case 4: ok = gen_pool(g, st, s, false); break;
        case 5: ok = gen_pool(g, st, s, true); break;
        case 6: ok = gen_global_avgpool(g, st, s); break;
        case 7: ok = gen_norm(g, st, s, true, named); break;
        case 8: ok = gen_norm(g, st, s, false, named); break;
        case 9: ok = gen_flatten(g, st, s); break;
        case 10: ok = gen_reshape(g, st, s); break;
        case 11: ok = gen_transpose(g, st, s); break;
        case 12: case 13: ok = gen_binary(g, st, s); break;
        case 14: ok = gen_matmul(g, st, s, self); break;
        case 15: ok = gen_concat(g, st, s, self); break;
        case 16: ok = gen_softmax(g, st, s); break;
        default: gen_unary(g, st, exact); ok = true; break;
        }
        if (ok)
            return;
    }
    gen_unary(g, st, exact);
}

static void emit(Gen *g, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (g->len < TEXT) {
        int k = vsnprintf(g->text + g->len, TEXT - g->len, fmt, ap);
        g->len += k > 0 ? (size_t)k : 0;
    }
    va_end(ap);
}

static void gen_inputs(Gen *g) {
    Recipe *r = g->r;
    g->ninputs = 1 + (int)take(r, 2);
    for (int i = 0; i < g->ninputs; i++) {
        Val *v = &g->vals[g->nvals++];
        snprintf(v->name, sizeof v->name, "x%d", i);
        v->exact = true;
        if (i == 1 && chance(r, 50)) { /* the same shape as x0: binary ops and concat use it */
            v->s = g->vals[0].s;
        } else {
            unsigned kind = take(r, 4); /* image, matrix, 3-D, 5-D */
            int rank = kind == 0 ? 4 : kind == 1 ? 2 : kind == 2 ? 3 : 1 + (int)take(r, 5);
            v->s.rank = rank;
            v->s.d[0] = (GDim){1, 1};
            for (int d = 1; d < rank; d++)
                v->s.d[d] = (GDim){1 + take(r, kind == 0 && d == 1 ? 4 : 12), 0};
            while (numel_at(&v->s, BATCH_MAX) > MAX_ELEMS)
                for (int d = 1; d < rank; d++)
                    v->s.d[d].c = (v->s.d[d].c + 1) / 2;
        }
        emit(g, "  input %s : f32[N", v->name);
        for (int d = 1; d < v->s.rank; d++)
            emit(g, ", %lld", (long long)v->s.d[d].c);
        emit(g, "]\n");
    }
}

/* One statement hK = EXPR; EXPR is calls or a chain on an operand. */
static void gen_stmt(Gen *g, int k) {
    Recipe *r = g->r;
    const Val *src = &g->vals[take(r, (unsigned)g->nvals)];
    char base[EXPR], expr[EXPR * 2];
    bool plain = !chance(r, 20);
    if (plain)
        snprintf(base, sizeof base, "%s", src->name);
    else
        operand_text(g, src, base, sizeof base);
    GShape s = src->s;
    Steps st = {0};
    int nops = 1 + (int)take(r, 3);
    for (int i = 0; i < nops && st.n < 3; i++)
        gen_op(g, &st, &s, i == 0 && plain ? src->name : NULL, i > 0, src->exact && plain && i == 0);
    render(expr, sizeof expr, base, &st, chance(r, 50));
    Val *v = &g->vals[g->nvals++];
    snprintf(v->name, sizeof v->name, "h%d", k);
    v->s = s;
    v->exact = false;
    emit(g, "  %s = %s\n", v->name, expr);
}

static void generate(Gen *g) {
    g->len = 0;
    emit(g, "model diff {\n");
    gen_inputs(g);
    int nstmts = 1 + (int)take(g->r, MAX_STMTS);
    for (int k = 0; k < nstmts; k++)
        gen_stmt(g, k);
    int nout = 1 + (int)take(g->r, 3);
    bool used[MAX_VALS] = {false};
    used[g->nvals - 1] = true; /* the last statement is always an output */
    emit(g, "  output %s\n", g->vals[g->nvals - 1].name);
    for (int i = 1; i < nout; i++) {
        int j = g->ninputs + (int)take(g->r, (unsigned)(g->nvals - g->ninputs));
        if (!used[j])
            emit(g, "  output %s\n", g->vals[j].name);
        used[j] = true;
    }
    emit(g, "}\n");
}

/* --- running and comparing ---------------------------------------------------------------- */

typedef struct Run {
    nnd_model *m;
    nnd_context *ctx;
    nnd_tensor out[MAX_VALS];
    size_t nout;
} Run;

static const char *const run_names[] = {"interpreter", "JIT -O0", "JIT -O2"};

static void report_and_abort(const char *text, const char *what) {
    fprintf(stderr, "\nfuzz_differential: %s\n--- model ---\n%s-------------\n", what, text);
    abort();
}

static void compile_run(Run *run, int which, const char *text, uint64_t seed, int64_t batch,
                        nnd_tensor *in, size_t nin) {
    nnd_options o;
    nnd_options_init(&o);
    o.init_random = 1;
    o.init_seed = seed;
    o.opt_level = which == 2 ? 2 : 0;
    o.backend = which == 0 ? NND_BACKEND_INTERP : NND_BACKEND_JIT;
    char *err = NULL, msg[4096];
    nnd_status st = nnd_model_compile_string(text, "diff.nnd", NULL, &o, &run->m, &err);
    if (st != NND_OK) {
        snprintf(msg, sizeof msg, "%s rejects a generated model: %s\n%s", run_names[which],
                 nnd_status_name(st), err ? err : "");
        nnd_string_free(err);
        report_and_abort(text, msg);
    }
    if (nnd_context_create(run->m, &run->ctx) != NND_OK)
        report_and_abort(text, "nnd_context_create failed");
    run->nout = nnd_model_num_outputs(run->m);
    int64_t syms[NND_MAX_RANK] = {batch, batch, batch, batch, batch, batch, batch, batch};
    for (size_t k = 0; k < run->nout; k++) {
        int64_t dims[NND_MAX_RANK], n = 1;
        if (nnd_model_output_shape(run->m, k, syms, dims) != NND_OK)
            report_and_abort(text, "nnd_model_output_shape failed");
        for (size_t d = 0; d < nnd_model_output(run->m, k)->rank; d++)
            n *= dims[d];
        run->out[k] = (nnd_tensor){malloc((size_t)(n ? n : 1) * sizeof(float)), (size_t)n, 0,
                                   NULL, {0}};
        if (!run->out[k].data)
            report_and_abort(text, "out of memory");
    }
    st = nnd_run(run->ctx, in, nin, run->out, run->nout);
    if (st != NND_OK) {
        snprintf(msg, sizeof msg, "%s fails to run: %s: %s", run_names[which],
                 nnd_status_name(st), nnd_context_error(run->ctx));
        report_and_abort(text, msg);
    }
}

static void run_free(Run *run) {
    for (size_t k = 0; k < run->nout; k++)
        free(run->out[k].data);
    nnd_context_destroy(run->ctx);
    nnd_model_destroy(run->m);
}

/* Whether jit matches ref: see the tolerance in the file's comment. */
static bool close_enough(double ref, double jit, double max_ref) {
    if (isnan(ref) || isnan(jit))
        return isnan(ref) && isnan(jit);
    if (isinf(ref) || isinf(jit)) {
        if (ref == jit)
            return true;
        double fin = isinf(ref) ? jit : ref, inf = isinf(ref) ? ref : jit;
        return !isinf(fin) && fabs(fin) > 1e37 && (fin > 0) == (inf > 0);
    }
    if (!isfinite(max_ref))
        max_ref = 0;
    return fabs(jit - ref) <= 1e-3 * fabs(ref) + 1e-4 * max_ref + 1e-5;
}

static void compare(const char *text, const Run *ref, const Run *jit, int which, int64_t batch) {
    if (ref->nout != jit->nout)
        report_and_abort(text, "the backends disagree on the number of outputs");
    for (size_t k = 0; k < ref->nout; k++) {
        const nnd_tensor *a = &ref->out[k], *b = &jit->out[k];
        if (a->rank != b->rank || memcmp(a->out_shape, b->out_shape, a->rank * sizeof(int64_t)))
            report_and_abort(text, "the backends disagree on an output shape");
        double max_ref = 0;
        for (size_t i = 0; i < a->count; i++)
            if (isfinite(a->data[i]) && fabs(a->data[i]) > max_ref)
                max_ref = fabs(a->data[i]);
        for (size_t i = 0; i < a->count; i++) {
            if (close_enough(a->data[i], b->data[i], max_ref))
                continue;
            char msg[512];
            snprintf(msg, sizeof msg,
                     "%s differs from the interpreter: output %zu (%s) element %zu of %zu, "
                     "batch %lld: interpreter %.9g, %s %.9g (max |interpreter| %.9g)",
                     run_names[which], k, nnd_model_output(ref->m, k)->name, i, a->count,
                     (long long)batch, a->data[i], run_names[which], b->data[i], max_ref);
            report_and_abort(text, msg);
        }
    }
}

static uint64_t mix(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096)
        return 0;
    Recipe r = {data, size, 0};
    static Gen g;
    memset(&g, 0, sizeof g);
    g.r = &r;
    int64_t batch = 1 + take(&r, BATCH_MAX);
    uint64_t seed = take(&r, 256), state = seed;
    generate(&g);
    for (size_t i = 0; i < size; i++)
        state = state * 31 + data[i];

    nnd_tensor in[2];
    int64_t shapes[2][NND_MAX_RANK];
    for (int i = 0; i < g.ninputs; i++) {
        const GShape *s = &g.vals[i].s;
        int64_t n = numel_at(s, batch);
        float *x = malloc((size_t)n * sizeof(float));
        if (!x)
            abort();
        for (int64_t j = 0; j < n; j++) { /* multiples of 1/32 in [-4, 4) */
            unsigned b = r.at < r.n ? r.p[r.at++] : (unsigned)(mix(&state) & 255);
            x[j] = ((float)b - 128.0f) / 32.0f;
        }
        for (int d = 0; d < s->rank; d++)
            shapes[i][d] = gdim_at(s->d[d], batch);
        in[i] = (nnd_tensor){x, (size_t)n, (size_t)s->rank, shapes[i], {0}};
    }
    if (getenv("NND_DIFF_PRINT"))
        fprintf(stderr, "batch %lld seed %llu\n%s", (long long)batch, (unsigned long long)seed,
                g.text);
    Run runs[3];
    for (int w = 0; w < 3; w++)
        compile_run(&runs[w], w, g.text, seed, batch, in, (size_t)g.ninputs);
    compare(g.text, &runs[0], &runs[1], 1, batch);
    compare(g.text, &runs[0], &runs[2], 2, batch);
    for (int w = 0; w < 3; w++)
        run_free(&runs[w]);
    for (int i = 0; i < g.ninputs; i++)
        free(in[i].data);
    return 0;
}
