/* test_shapes.c: shape inference and argument checks for every operator of SPEC 1.4.
 *
 * Each test builds a small graph through the API (inputs with declared shapes, one or a few
 * nodes with their defaults applied and some arguments overridden), runs shape_infer, and
 * asserts the output shapes, the declared parameters and the normalized arguments, or the
 * number of errors and the words they must contain. */
#include <ctype.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>

#include "attrs.h"
#include "graph.h"
#include "ops.h"
#include "shapes.h"
#include "unit_harness.h"

static struct {
    Arena *a;
    jmp_buf oom;
    Graph *g;
    Diag *d;
} F;

/* Nodes live at column 5, arguments set by a test at column 20: errors say which. */
static const SrcLoc NODE_LOC = {"m.nnd", 1, 5, 0};
static const SrcLoc ARG_LOC = {"m.nnd", 1, 20, 24};

static void fixture_new(void) {
    F.a = arena_new();
    arena_on_oom(F.a, &F.oom);
    F.g = graph_new(F.a, "m", "m.nnd");
    F.d = diag_new(F.a);
}

static void fixture_free(void) { arena_free(F.a); }

#define BEGIN()                                                                                    \
    fixture_new();                                                                                 \
    if (setjmp(F.oom)) {                                                                           \
        CU_FAIL("out of memory");                                                                  \
        fixture_free();                                                                            \
        return;                                                                                    \
    }
#define END() fixture_free()

/* "N, 3, 7, 13", "N*2, M", "" (a scalar): numbers and symbol names joined by '*'. */
static Shape sh(const char *spec) {
    Shape s;
    memset(&s, 0, sizeof s);
    const char *p = spec;
    while (*p) {
        Dim d = dim_const(1), f;
        for (;;) {
            while (*p == ' ')
                p++;
            if (isdigit((unsigned char)*p)) {
                char *end;
                f = dim_const(strtoll(p, &end, 10));
                p = end;
            } else {
                char name[16];
                size_t k = 0;
                while (isalnum((unsigned char)*p) && k < sizeof name - 1)
                    name[k++] = *p++;
                name[k] = 0;
                f = dim_sym(graph_sym(F.g, name));
            }
            CU_ASSERT(dim_mul(d, f, &d));
            while (*p == ' ')
                p++;
            if (*p != '*')
                break;
            p++;
        }
        s.d[s.rank++] = d;
        if (*p == ',')
            p++;
    }
    return s;
}

static Node *input(const char *name, const char *spec) {
    Node *x = graph_add_node(F.g, OP_INPUT, name, NODE_LOC, NULL, 0);
    x->shape = sh(spec);
    return x;
}

/* A node of kind k on nin inputs, with its defaults applied. */
static Node *op(OpKind k, const char *name, int nin, ...) {
    Node *in[8];
    va_list ap;
    va_start(ap, nin);
    for (int i = 0; i < nin; i++)
        in[i] = va_arg(ap, Node *);
    va_end(ap);
    Node *n = graph_add_node(F.g, k, name, NODE_LOC, in, nin);
    ops_apply_defaults(F.g, n);
    return n;
}

static Literal li(int64_t v) {
    Literal l = {.kind = LIT_INT, .i = v};
    return l;
}
static Literal lf(double v) {
    Literal l = {.kind = LIT_FLOAT, .f = v};
    return l;
}
static Literal lb(bool v) {
    Literal l = {.kind = LIT_BOOL, .b = v};
    return l;
}
static Literal ls(const char *v) {
    Literal l = {.kind = LIT_STRING, .s = v};
    return l;
}
/* A list of n ints. */
static Literal ll(int n, ...) {
    Literal l = {.kind = LIT_LIST, .n = n, .list_ok = true};
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++)
        l.v[i] = va_arg(ap, int);
    va_end(ap);
    return l;
}

/* Sets argument `name` of n as the binder would, located at ARG_LOC. */
static void arg(Node *n, const char *name, Literal lit) {
    ArgSpec spec[MAX_ARGS];
    int ns = ops_schema(n->op, spec);
    for (int i = 0; i < ns; i++)
        if (strcmp(spec[i].name, name) == 0) {
            Attr *a = node_attr(n, name);
            if (!a) /* a number for a `tn` argument */
                a = node_add_attr(F.g, n, name, ATTR_FLOAT);
            CU_ASSERT_PTR_NULL(attr_set(a, spec[i].type, &lit));
            a->loc = ARG_LOC;
            return;
        }
    CU_FAIL("no such argument");
}

static bool infer(void) { return shape_infer(F.g, F.d); }

static const char *ints_of(const Node *n, const char *name) {
    const Attr *a = node_attr(n, name);
    if (!a || !a->set || a->kind != ATTR_INTS)
        return "(not ints)";
    Shape s = {.rank = a->n};
    for (int i = 0; i < a->n; i++)
        s.d[i] = dim_const(a->v[i]);
    return graph_shape_str(F.g, &s);
}

#define EXPECT_SHAPE(n, s) CU_ASSERT_STRING_EQUAL(node_shape_str(F.g, (n)), (s))
#define EXPECT_INTS(n, name, s) CU_ASSERT_STRING_EQUAL(ints_of((n), (name)), (s))
#define EXPECT_OK()                                                                                \
    do {                                                                                           \
        CU_ASSERT_TRUE(infer());                                                                   \
        expect_errors(__LINE__, 0, (const char *)NULL);                                            \
    } while (0)
/* Exactly `count` errors whose messages, together, contain every word given. */
#define EXPECT_ERRORS(count, ...) expect_errors(__LINE__, (count), __VA_ARGS__, (const char *)NULL)

static void expect_errors(int line, int count, ...) {
    bool ok = diag_count(F.d) == count;
    const char *all = "";
    for (int i = 0; i < diag_count(F.d); i++)
        all = arena_printf(F.a, "%s%s\n", all, diag_message(F.d, i));
    va_list ap;
    va_start(ap, count);
    for (const char *w; (w = va_arg(ap, const char *));)
        if (!strstr(all, w)) {
            fprintf(stderr, "\n  missing \"%s\"", w);
            ok = false;
        }
    va_end(ap);
    if (!ok)
        fprintf(stderr, "\n  line %d: expected %d errors, got:\n%s", line, count, diag_text(F.d));
    CU_assertImplementation(ok, (unsigned)line, "expected errors", __FILE__, "", CU_FALSE);
}

/* The diagnostics, rendered, mention column col. */
#define EXPECT_AT(col) CU_ASSERT_PTR_NOT_NULL(strstr(diag_text(F.d), "m.nnd:1:" #col ": error:"))

static void expect_param(int line, const Node *n, const char *suffix, const char *shape,
                         ParamInit init, int64_t fan_in) {
    const Param *p = node_param(n, suffix);
    bool ok = p && strcmp(graph_shape_str(F.g, &p->shape), shape) == 0 && p->init == init &&
              (init != PINIT_UNIFORM_FANIN || p->fan_in == fan_in) &&
              strcmp(p->name, arena_printf(F.a, "%s.%s", n->prefix, suffix)) == 0;
    if (!ok)
        fprintf(stderr, "\n  line %d: parameter %s: got %s\n", line, suffix,
                p ? graph_shape_str(F.g, &p->shape) : "none");
    CU_assertImplementation(ok, (unsigned)line, "parameter", __FILE__, "", CU_FALSE);
}
#define EXPECT_PARAM(n, suffix, shape, init, fan_in)                                               \
    expect_param(__LINE__, (n), (suffix), (shape), (init), (fan_in))

/* ---- the driver and the shared helpers ---------------------------------------------------- */

static void test_shapes_bad_input_makes_downstream_bad_silently(void) {
    BEGIN();
    Node *x = input("x", "N, 64");
    Node *c = op(OP_CONV2D, "c1", 1, x);
    arg(c, "filters", li(8));
    arg(c, "kernel", li(3));
    Node *r = op(OP_RELU, "r", 1, c);
    Node *s = op(OP_ADD, "s", 2, r, x);
    Node *ok = op(OP_RELU, "ok", 1, x);
    CU_ASSERT_FALSE(infer());
    EXPECT_ERRORS(1, "conv2d 'c1' expects a 4-D input [N, C, H, W], got [N, 64]");
    CU_ASSERT_TRUE(c->bad && r->bad && s->bad);
    CU_ASSERT_FALSE(ok->bad);
    EXPECT_SHAPE(s, "[?]");
    EXPECT_SHAPE(ok, "[N, 64]");
    END();
}

static void test_shapes_node_already_bad_is_skipped(void) {
    BEGIN();
    Node *x = input("x", "N, 64");
    Node *h = op(OP_DENSE, "h", 1, x); /* units left unset: the binder reported it */
    h->bad = true;
    Node *r = op(OP_RELU, "r", 1, h);
    CU_ASSERT_FALSE(infer());
    EXPECT_ERRORS(0, "");
    CU_ASSERT_TRUE(r->bad);
    END();
}

static void test_shapes_independent_errors_all_reported(void) {
    BEGIN();
    Node *x = input("x", "N, 16");
    Node *y = input("y", "N, 8");
    op(OP_ADD, "a", 2, x, y);
    Node *h = op(OP_DENSE, "h", 1, x);
    arg(h, "units", li(0));
    Node *s = op(OP_SOFTMAX, "s", 1, y);
    arg(s, "axis", li(2));
    CU_ASSERT_FALSE(infer());
    EXPECT_ERRORS(3, "add 'a' cannot broadcast [N, 16] with [N, 8]", "dense 'h' units",
                  "softmax 's' axis 2 is out of range");
    END();
}

static void test_shapes_arity_checked(void) {
    BEGIN();
    Node *x = input("x", "N, 16");
    Node *a = op(OP_ADD, "a", 1, x); /* neither a second tensor nor a number */
    Node *c = graph_add_node(F.g, OP_CONCAT, "c", NODE_LOC, NULL, 0);
    ops_apply_defaults(F.g, c);
    CU_ASSERT_FALSE(infer());
    EXPECT_ERRORS(2, "add 'a' takes 2 tensor inputs, got 1",
                  "concat 'c' takes at least 1 tensor input, got 0");
    CU_ASSERT_TRUE(a->bad && c->bad);
    END();
}

static void test_shapes_rerun_is_idempotent(void) {
    BEGIN();
    Node *x = input("x", "N, 3, 8, 8");
    Node *c = op(OP_CONV2D, "c", 1, x);
    arg(c, "filters", li(4));
    arg(c, "kernel", li(4));
    arg(c, "padding", ls("same"));
    Node *p = op(OP_MAXPOOL2D, "p", 1, c);
    arg(p, "kernel", li(2));
    EXPECT_OK();
    CU_ASSERT_TRUE(infer());
    EXPECT_ERRORS(0, "");
    CU_ASSERT_EQUAL(c->nparams, 2);
    EXPECT_SHAPE(c, "[N, 4, 8, 8]");
    EXPECT_INTS(c, "padding", "[1, 1, 2, 2]");
    EXPECT_SHAPE(p, "[N, 4, 4, 4]");
    END();
}

static void test_shapes_axis_and_broadcast_helpers(void) {
    BEGIN();
    Node *x = input("x", "N, 3, 4");
    Node *s = op(OP_SOFTMAX, "s", 1, x);
    CU_ASSERT_EQUAL(shape_axis(F.g, s, F.d, "axis", -1, 3), 2);
    CU_ASSERT_EQUAL(shape_axis(F.g, s, F.d, "axis", -3, 3), 0);
    CU_ASSERT_EQUAL(shape_axis(F.g, s, F.d, "axis", 2, 3), 2);
    EXPECT_ERRORS(0, "");
    CU_ASSERT_EQUAL(shape_axis(F.g, s, F.d, "axis", 3, 3), -1);
    CU_ASSERT_EQUAL(shape_axis(F.g, s, F.d, "axis", -4, 3), -1);
    EXPECT_ERRORS(2, "axis 3 is out of range for the 3-D input [N, 3, 4] (expected -3 to 2)",
                  "axis -4");
    Shape a = sh("N, 1, 5"), b = sh("3, 1"), out;
    CU_ASSERT_TRUE(shape_broadcast(&a, &b, &out));
    CU_ASSERT_STRING_EQUAL(graph_shape_str(F.g, &out), "[N, 3, 5]");
    Shape c = sh("N, 4"), e = sh("M, 4"), one = sh("1, 4"), sc = sh("");
    CU_ASSERT_FALSE(shape_broadcast(&c, &e, &out));
    CU_ASSERT_TRUE(shape_broadcast(&one, &c, &out));
    CU_ASSERT_STRING_EQUAL(graph_shape_str(F.g, &out), "[N, 4]");
    CU_ASSERT_TRUE(shape_broadcast(&sc, &c, &out));
    CU_ASSERT_STRING_EQUAL(graph_shape_str(F.g, &out), "[N, 4]");
    END();
}

/* ---- dense ---------------------------------------------------------------------------------- */

static void test_shapes_dense_params(void) {
    BEGIN();
    Node *x = input("pixels", "N, 64");
    Node *h = op(OP_DENSE, "h1", 1, x);
    arg(h, "units", li(32));
    EXPECT_OK();
    EXPECT_SHAPE(h, "[N, 32]");
    CU_ASSERT_EQUAL(h->nparams, 2);
    EXPECT_PARAM(h, "weight", "[32, 64]", PINIT_UNIFORM_FANIN, 64);
    EXPECT_PARAM(h, "bias", "[32]", PINIT_UNIFORM_FANIN, 64);
    CU_ASSERT_STRING_EQUAL(node_param(h, "weight")->name, "h1.weight");
    END();
}

static void test_shapes_dense_any_rank_and_no_bias(void) {
    BEGIN();
    Node *x = input("x", "N, 5, 7");
    Node *v = input("v", "7");
    Node *h = op(OP_DENSE, "h", 1, x);
    arg(h, "units", li(3));
    Node *k = op(OP_DENSE, "k", 1, v);
    arg(k, "units", li(2));
    arg(k, "bias", lb(false));
    EXPECT_OK();
    EXPECT_SHAPE(h, "[N, 5, 3]");
    EXPECT_PARAM(h, "weight", "[3, 7]", PINIT_UNIFORM_FANIN, 7);
    EXPECT_SHAPE(k, "[2]");
    CU_ASSERT_EQUAL(k->nparams, 1);
    CU_ASSERT_PTR_NULL(node_param(k, "bias"));
    END();
}

static void test_shapes_dense_input_errors(void) {
    BEGIN();
    Node *x = input("x", "N, M");
    Node *s = input("s", "");
    Node *h = op(OP_DENSE, "h1", 1, x);
    arg(h, "units", li(4));
    Node *k = op(OP_DENSE, "k", 1, s);
    arg(k, "units", li(4));
    CU_ASSERT_FALSE(infer());
    EXPECT_ERRORS(2, "dense 'h1' needs a fixed last input dimension, got [N, M]",
                  "dense 'k' expects an input with at least 1 dimension", "got []");
    EXPECT_AT(5);
    CU_ASSERT_EQUAL(h->nparams, 0);
    END();
}

static void test_shapes_dense_bad_units_located(void) {
    BEGIN();
    Node *x = input("x", "N, 8");
    Node *h = op(OP_DENSE, "h", 1, x);
    arg(h, "units", li(0));
    Node *k = op(OP_DENSE, "k", 1, x);
    arg(k, "units", li(-3));
    CU_ASSERT_FALSE(infer());
    EXPECT_ERRORS(2, "dense 'h' units must be at least 1, got 0", "dense 'k' units", "-3");
    EXPECT_AT(20);
    END();
}

static void test_shapes_dense_bound_weight_mismatch(void) {
    BEGIN();
    Node *x = input("x", "N, 100");
    Node *h = op(OP_DENSE, "h2", 1, x);
    arg(h, "units", li(10));
    int64_t w[2] = {10, 128};
    Shape ws = {.rank = 2, .d = {dim_const(w[0]), dim_const(w[1])}};
    static float data[1];
    node_add_param(F.g, h, "weight", ws, PINIT_UNIFORM_FANIN, 128)->data = data;
    CU_ASSERT_FALSE(infer());
    EXPECT_ERRORS(1, "dense 'h2' needs an input whose last dimension is 128, got [N, 100]");
    END();
}

static void test_shapes_dense_too_large(void) {
    BEGIN();
    Node *x = input("x", "N, 4");
    Node *h = op(OP_DENSE, "h", 1, x);
    arg(h, "units", li((int64_t)1 << 31)); /* weight [2^31, 4]: 2^33 elements */
    Node *y = input("y", "65536, 65536, 1");
    Node *k = op(OP_DENSE, "k", 1, y);
    arg(k, "units", li(2)); /* output 2^33 elements */
    CU_ASSERT_FALSE(infer());
    EXPECT_ERRORS(2, "dense 'h' parameter 'h.weight' [2147483648, 4] is too large",
                  "dense 'k' output shape [65536, 65536, 2] is too large");
    END();
}

/* ---- conv2d --------------------------------------------------------------------------------- */

static Node *conv(Node *x, const char *name, int filters, int kernel) {
    Node *c = op(OP_CONV2D, name, 1, x);
    arg(c, "filters", li(filters));
    arg(c, "kernel", li(kernel));
    return c;
}

static void test_shapes_conv2d_odd_image(void) {
    BEGIN();
    Node *x = input("x", "N, 3, 7, 13");
    Node *c = conv(x, "c1", 8, 3);
    EXPECT_OK();
    EXPECT_SHAPE(c, "[N, 8, 5, 11]");
    EXPECT_PARAM(c, "weight", "[8, 3, 3, 3]", PINIT_UNIFORM_FANIN, 27);
    EXPECT_PARAM(c, "bias", "[8]", PINIT_UNIFORM_FANIN, 27);
    EXPECT_INTS(c, "padding", "[0, 0, 0, 0]");
    END();
}

static void test_shapes_conv2d_stride_and_padding(void) {
    BEGIN();
    Node *x = input("x", "N, 3, 7, 13");
    Node *c = conv(x, "c", 8, 3);
    arg(c, "stride", li(2));
    arg(c, "padding", li(1));
    Node *e = conv(x, "e", 4, 2); /* even kernel, stride 2: floor((7 - 2) / 2) + 1 = 3 */
    arg(e, "stride", li(2));
    EXPECT_OK();
    EXPECT_SHAPE(c, "[N, 8, 4, 7]");
    EXPECT_SHAPE(e, "[N, 4, 3, 6]");
    END();
}

static void test_shapes_conv2d_dilation(void) {
    BEGIN();
    Node *x = input("x", "N, 3, 7, 13");
    Node *c = conv(x, "c", 8, 3);
    arg(c, "dilation", li(2)); /* reach 5: 7 - 4 = 3, 13 - 4 = 9 */
    Node *e = conv(x, "e", 8, 3);
    arg(e, "dilation", ll(2, 1, 3));
    arg(e, "stride", ll(2, 2, 1));
    arg(e, "padding", ll(2, 1, 2));
    EXPECT_OK();
    EXPECT_SHAPE(c, "[N, 8, 3, 9]");
    EXPECT_SHAPE(e, "[N, 8, 4, 11]"); /* H: (7+2-2-1)/2+1 = 4; W: 13+4-6-1+1 = 11 */
    EXPECT_PARAM(c, "weight", "[8, 3, 3, 3]", PINIT_UNIFORM_FANIN, 27);
    END();
}

static void test_shapes_conv2d_rect_kernel_and_asymmetric_pad(void) {
    BEGIN();
    Node *x = input("x", "N, 3, 7, 13");
    Node *c = conv(x, "c", 2, 3);
    arg(c, "kernel", ll(2, 3, 5));
    arg(c, "stride", ll(2, 1, 2));
    Node *e = conv(x, "e", 2, 3);
    arg(e, "padding", ll(4, 1, 2, 0, 3)); /* top 1, left 2, bottom 0, right 3 */
    EXPECT_OK();
    EXPECT_SHAPE(c, "[N, 2, 5, 5]");
    EXPECT_PARAM(c, "weight", "[2, 3, 3, 5]", PINIT_UNIFORM_FANIN, 45);
    EXPECT_SHAPE(e, "[N, 2, 6, 16]");
    EXPECT_INTS(e, "padding", "[1, 2, 0, 3]");
    END();
}

static void test_shapes_conv2d_groups(void) {
    BEGIN();
    Node *x = input("x", "N, 4, 7, 13");
    Node *c = conv(x, "c", 6, 3);
    arg(c, "groups", li(2));
    EXPECT_OK();
    EXPECT_SHAPE(c, "[N, 6, 5, 11]");
    EXPECT_PARAM(c, "weight", "[6, 2, 3, 3]", PINIT_UNIFORM_FANIN, 18);
    EXPECT_PARAM(c, "bias", "[6]", PINIT_UNIFORM_FANIN, 18);
    END();
}

static void test_shapes_conv2d_depthwise_without_bias(void) {
    BEGIN();
    Node *x = input("x", "N, 3, 7, 13");
    Node *c = conv(x, "dw", 3, 3);
    arg(c, "groups", li(3));
    arg(c, "padding", li(1));
    arg(c, "bias", lb(false));
    EXPECT_OK();
    EXPECT_SHAPE(c, "[N, 3, 7, 13]");
    EXPECT_PARAM(c, "weight", "[3, 1, 3, 3]", PINIT_UNIFORM_FANIN, 9);
    CU_ASSERT_EQUAL(c->nparams, 1);
    END();
}

static void test_shapes_conv2d_same_and_valid(void) {
    BEGIN();
    Node *x = input("x", "N, 3, 7, 13");
    Node *s = conv(x, "s", 8, 3);
    arg(s, "padding", ls("same"));
    Node *v = conv(x, "v", 8, 3);
    arg(v, "padding", ls("valid"));
    Node *dl = conv(x, "dl", 8, 3);
    arg(dl, "padding", ls("same"));
    arg(dl, "dilation", li(2));
    EXPECT_OK();
    EXPECT_SHAPE(s, "[N, 8, 7, 13]");
    EXPECT_INTS(s, "padding", "[1, 1, 1, 1]");
    CU_ASSERT_EQUAL(node_attr(s, "padding")->kind, ATTR_INTS);
    EXPECT_SHAPE(v, "[N, 8, 5, 11]");
    EXPECT_INTS(v, "padding", "[0, 0, 0, 0]");
    EXPECT_SHAPE(dl, "[N, 8, 7, 13]");
    EXPECT_INTS(dl, "padding", "[2, 2, 2, 2]");
    END();
}

static void test_shapes_conv2d_same_even_kernel_pads_at_end(void) {
    BEGIN();
    Node *x = input("x", "N, 3, 7, 13");
    Node *s = conv(x, "s", 8, 4); /* total 3: 1 before, 2 after */
    arg(s, "padding", ls("same"));
    Node *r = conv(x, "r", 8, 2);
    arg(r, "kernel", ll(2, 2, 4));
    arg(r, "dilation", ll(2, 1, 2)); /* totals 1 and 6 */
    arg(r, "padding", ls("same"));
    EXPECT_OK();
    EXPECT_SHAPE(s, "[N, 8, 7, 13]");
    EXPECT_INTS(s, "padding", "[1, 1, 2, 2]");
    EXPECT_SHAPE(r, "[N, 8, 7, 13]");
    EXPECT_INTS(r, "padding", "[0, 3, 1, 3]");
    END();
}

static void test_shapes_conv2d_same_needs_stride_1(void) {
    BEGIN();
    Node *x = input("x", "N, 3, 7, 13");
    Node *s = conv(x, "s", 8, 3);
    arg(s, "padding", ls("same"));
    arg(s, "stride", ll(2, 1, 2));
    CU_ASSERT_FALSE(infer());
    EXPECT_ERRORS(1, "conv2d 's' padding \"same\" needs stride 1", "got stride [1, 2]");
    EXPECT_AT(20);
    END();
}

static void test_shapes_conv2d_kernel_larger_than_input(void) {
    BEGIN();
    Node *x = input("x", "N, 3, 3, 3");
    conv(x, "c2", 8, 5);
    Node *ok = conv(x, "ok", 8, 5);
    arg(ok, "padding", li(1)); /* padded 5x5: one output */
    Node *y = input("y", "N, 3, 7, 13");
    Node *dl = conv(y, "dl", 8, 3);
    arg(dl, "dilation", li(4)); /* reach 9 > 7 */
    CU_ASSERT_FALSE(infer());
    EXPECT_ERRORS(2, "conv2d 'c2' kernel 5x5 (dilation 1) is larger than the padded input 3x3",
                  "conv2d 'dl' kernel 3x3 (dilation 4) is larger than the padded input 7x13");
    EXPECT_SHAPE(ok, "[N, 8, 1, 1]");
    END();
}

static void test_shapes_conv2d_input_rank_and_fixed_dims(void) {
    BEGIN();
    Node *x = input("x", "N, 64");
    Node *y = input("y", "N, 3, H, W");
    Node *z = input("z", "N, C, 8, 8");
    conv(x, "c1", 8, 3);
    conv(y, "c2", 8, 3);
    conv(z, "c3", 8, 3);
    CU_ASSERT_FALSE(infer());
    EXPECT_ERRORS(3, "conv2d 'c1' expects a 4-D input [N, C, H, W], got [N, 64]",
                  "conv2d 'c2' needs fixed C, H and W (only N may be symbolic), got [N, 3, H, W]",
                  "conv2d 'c3' needs fixed C, H and W", "[N, C, 8, 8]");
    END();
}

static void test_shapes_conv2d_groups_must_divide(void) {
    BEGIN();
    Node *x = input("x", "N, 3, 7, 13");
    Node *c = conv(x, "c", 5, 3);
    arg(c, "groups", li(2));
    CU_ASSERT_FALSE(infer());
    EXPECT_ERRORS(2, "conv2d 'c' groups 2 does not divide the 3 input channels of [N, 3, 7, 13]",
                  "groups 2 does not divide filters 5");
    EXPECT_AT(20);
    END();
}

static void test_shapes_conv2d_bad_arguments_all_reported(void) {
    BEGIN();
    Node *x = input("x", "N, 3, 7, 13");
    Node *c = conv(x, "c", 0, 0);
    arg(c, "stride", li(0));
    arg(c, "dilation", ll(2, 1, 0));
    arg(c, "padding", li(-1));
    arg(c, "groups", li(0));
    Node *e = conv(x, "e", 4, 3);
    arg(e, "padding", ls("full"));
    CU_ASSERT_FALSE(infer());
    EXPECT_ERRORS(7, "filters must be at least 1, got 0", "groups must be at least 1",
                  "kernel must be at least 1, got [0, 0]", "stride must be at least 1",
                  "dilation must be at least 1, got [1, 0]",
                  "padding must be at least 0, got [-1, -1, -1, -1]",
                  "conv2d 'e' padding must be \"same\", \"valid\" or integers, got \"full\"");
    END();
}

static void test_shapes_conv2d_bound_weight_channels(void) {
    BEGIN();
    Node *x = input("x", "N, 4, 28, 28");
    Node *c = conv(x, "c1", 8, 3);
    Shape ws = {.rank = 4, .d = {dim_const(8), dim_const(3), dim_const(3), dim_const(3)}};
    static float data[1];
    node_add_param(F.g, c, "weight", ws, PINIT_UNIFORM_FANIN, 27)->data = data;
    CU_ASSERT_FALSE(infer());
    EXPECT_ERRORS(1,
                  "conv2d 'c1' expects 3 input channels (weight [8, 3, 3, 3]), got [N, 4, 28, 28]");
    END();
}

static void test_shapes_conv2d_too_large(void) {
    BEGIN();
    Node *x = input("x", "N, 3, 7, 13");
    Node *c = conv(x, "c", 4, 3);
    arg(c, "dilation", li(INT64_MAX / 2 + 1));
    Node *e = conv(x, "e", 4, 3);
    arg(e, "padding", li(INT64_MAX - 2));
    CU_ASSERT_FALSE(infer());
    EXPECT_ERRORS(2, "conv2d 'c' output of [N, 3, 7, 13] is too large", "conv2d 'e' output");
    END();
}

/* The SPEC's lenet5: the symbolic batch flows through conv, pool, flatten and dense. */
static void test_shapes_lenet_symbolic_batch(void) {
    BEGIN();
    Node *x = input("x", "N, 1, 28, 28");
    Node *c1 = conv(x, "c1", 6, 5);
    arg(c1, "padding", li(2));
    Node *p1 = op(OP_MAXPOOL2D, "p1", 1, op(OP_RELU, "r1", 1, c1));
    arg(p1, "kernel", li(2));
    Node *c2 = conv(p1, "c2", 16, 5);
    Node *p2 = op(OP_MAXPOOL2D, "p2", 1, op(OP_RELU, "r2", 1, c2));
    arg(p2, "kernel", li(2));
    Node *f3 = op(OP_DENSE, "f3", 1, op(OP_FLATTEN, "fl", 1, p2));
    arg(f3, "units", li(120));
    EXPECT_OK();
    EXPECT_SHAPE(x, "[N, 1, 28, 28]"); /* an input keeps its declaration */
    CU_ASSERT_TRUE(shape_input(F.g, x, F.d));
    EXPECT_SHAPE(c1, "[N, 6, 28, 28]");
    EXPECT_SHAPE(p1, "[N, 6, 14, 14]");
    EXPECT_SHAPE(c2, "[N, 16, 10, 10]");
    EXPECT_SHAPE(p2, "[N, 16, 5, 5]");
    EXPECT_SHAPE(f3, "[N, 120]");
    EXPECT_PARAM(f3, "weight", "[120, 400]", PINIT_UNIFORM_FANIN, 400);
    EXPECT_PARAM(c2, "weight", "[16, 6, 5, 5]", PINIT_UNIFORM_FANIN, 150);
    END();
}

/* ---- pools ---------------------------------------------------------------------------------- */

static Node *pool(OpKind k, Node *x, const char *name, int kernel) {
    Node *p = op(k, name, 1, x);
    arg(p, "kernel", li(kernel));
    return p;
}

static void test_shapes_pool_stride_defaults_to_kernel(void) {
    BEGIN();
    Node *x = input("x", "N, 3, 7, 13");
    Node *p = pool(OP_MAXPOOL2D, x, "p", 2);
    Node *q = op(OP_AVGPOOL2D, "q", 1, x);
    arg(q, "kernel", ll(2, 3, 2));
    CU_ASSERT_FALSE(node_attr(p, "stride")->set);
    EXPECT_OK();
    EXPECT_SHAPE(p, "[N, 3, 3, 6]");
    EXPECT_INTS(p, "stride", "[2, 2]");
    EXPECT_INTS(p, "padding", "[0, 0, 0, 0]");
    EXPECT_SHAPE(q, "[N, 3, 2, 6]");
    EXPECT_INTS(q, "stride", "[3, 2]");
    CU_ASSERT_EQUAL(p->nparams, 0);
    END();
}

static void test_shapes_pool_ceil_mode(void) {
    BEGIN();
    Node *x = input("x", "N, 3, 7, 13");
    Node *p = pool(OP_MAXPOOL2D, x, "p", 2);
    arg(p, "ceil_mode", lb(true));
    Node *q = pool(OP_AVGPOOL2D, x, "q", 3);
    arg(q, "stride", li(2));
    arg(q, "ceil_mode", lb(true)); /* ceil(4/2)+1 = 3, ceil(10/2)+1 = 6: no partial window */
    EXPECT_OK();
    EXPECT_SHAPE(p, "[N, 3, 4, 7]");
    EXPECT_SHAPE(q, "[N, 3, 3, 6]");
    END();
}

/* With ceil_mode, a window that would start in the bottom/right padding is dropped. */
static void test_shapes_pool_ceil_mode_drops_window_in_padding(void) {
    BEGIN();
    Node *x = input("x", "N, 3, 5, 13");
    Node *p = pool(OP_MAXPOOL2D, x, "p", 2);
    arg(p, "stride", li(3));
    arg(p, "padding", li(1));
    arg(p, "ceil_mode", lb(true));
    Node *f = pool(OP_MAXPOOL2D, x, "f", 2);
    arg(f, "stride", li(3));
    arg(f, "padding", li(1));
    EXPECT_OK();
    /* H: ceil(5/3)+1 = 3, but window 3 starts at 6 >= 5 + 1: 2. W: ceil(13/3)+1 = 6 -> 5. */
    EXPECT_SHAPE(p, "[N, 3, 2, 5]");
    EXPECT_SHAPE(f, "[N, 3, 2, 5]");
    END();
}

/* PyTorch's ceil_mode admits a window that overhangs an input smaller than the kernel. */
static void test_shapes_pool_window_past_small_input(void) {
    BEGIN();
    Node *x = input("x", "N, 3, 2, 2");
    Node *c = pool(OP_MAXPOOL2D, x, "c", 3);
    arg(c, "stride", li(2));
    arg(c, "ceil_mode", lb(true));
    Node *f = pool(OP_MAXPOOL2D, x, "f", 3);
    arg(f, "stride", li(2));
    CU_ASSERT_FALSE(infer());
    EXPECT_ERRORS(1, "maxpool2d 'f' kernel 3x3 is larger than the padded input 2x2");
    EXPECT_SHAPE(c, "[N, 3, 1, 1]");
    END();
}

static void test_shapes_pool_padding_at_most_half_kernel(void) {
    BEGIN();
    Node *x = input("x", "N, 3, 7, 13");
    Node *ok = pool(OP_MAXPOOL2D, x, "ok", 3);
    arg(ok, "padding", li(1));
    Node *p = pool(OP_MAXPOOL2D, x, "p", 2);
    arg(p, "padding", li(2));
    Node *q = pool(OP_AVGPOOL2D, x, "q", 3);
    arg(q, "kernel", ll(2, 4, 2));
    arg(q, "padding", ll(2, 2, 2)); /* 2 <= 4/2 for H, 2 > 2/2 for W */
    Node *r = pool(OP_AVGPOOL2D, x, "r", 3);
    arg(r, "padding", li(-1));
    CU_ASSERT_FALSE(infer());
    EXPECT_ERRORS(3, "maxpool2d 'p' padding [2, 2, 2, 2] must be at most half the kernel [2, 2]",
                  "avgpool2d 'q' padding", "avgpool2d 'r' padding must be at least 0");
    EXPECT_SHAPE(ok, "[N, 3, 3, 5]");
    EXPECT_AT(20);
    END();
}

static void test_shapes_pool_explicit_stride_and_padding(void) {
    BEGIN();
    Node *x = input("x", "N, 3, 7, 13");
    Node *p = pool(OP_AVGPOOL2D, x, "p", 3);
    arg(p, "stride", li(2));
    arg(p, "padding", li(1));
    arg(p, "count_include_pad", lb(false));
    Node *q = pool(OP_MAXPOOL2D, x, "q", 3);
    arg(q, "stride", ll(2, 1, 2));
    arg(q, "padding", ll(4, 1, 0, 0, 1)); /* top 1, right 1 */
    EXPECT_OK();
    EXPECT_SHAPE(p, "[N, 3, 4, 7]");
    EXPECT_SHAPE(q, "[N, 3, 6, 6]");
    END();
}

static void test_shapes_pool_accepts_unbatched_input(void) {
    BEGIN();
    Node *x = input("x", "3, 7, 13");
    Node *p = pool(OP_MAXPOOL2D, x, "p", 2);
    Node *q = pool(OP_AVGPOOL2D, x, "q", 3);
    arg(q, "stride", li(1));
    EXPECT_OK();
    EXPECT_SHAPE(p, "[3, 3, 6]");
    EXPECT_SHAPE(q, "[3, 5, 11]");
    END();
}

static void test_shapes_pool_input_errors(void) {
    BEGIN();
    Node *x = input("x", "N, 64");
    Node *y = input("y", "N, 3, H, 13");
    Node *z = input("z", "C, 7, 13");
    pool(OP_MAXPOOL2D, x, "a", 2);
    pool(OP_AVGPOOL2D, y, "b", 2);
    pool(OP_MAXPOOL2D, z, "c", 2);
    Node *k = pool(OP_MAXPOOL2D, input("w", "N, 3, 7, 13"), "k", 0);
    CU_ASSERT_FALSE(infer());
    EXPECT_ERRORS(
        4, "maxpool2d 'a' expects a 3-D [C, H, W] or 4-D [N, C, H, W] input, got [N, 64]",
        "avgpool2d 'b' needs fixed C, H and W (only N may be symbolic), got [N, 3, H, 13]",
        "maxpool2d 'c' needs fixed", "maxpool2d 'k' kernel must be at least 1");
    CU_ASSERT_FALSE(node_attr(k, "stride")->set);
    END();
}

static void test_shapes_pool_padding_strings(void) {
    BEGIN();
    Node *x = input("x", "N, 3, 7, 13");
    Node *v = pool(OP_MAXPOOL2D, x, "v", 2);
    arg(v, "padding", ls("valid"));
    Node *s = pool(OP_AVGPOOL2D, x, "s", 3);
    arg(s, "padding", ls("same"));
    CU_ASSERT_FALSE(infer());
    EXPECT_ERRORS(1, "avgpool2d 's' padding must be integers or \"valid\", got \"same\"");
    EXPECT_SHAPE(v, "[N, 3, 3, 6]");
    EXPECT_INTS(v, "padding", "[0, 0, 0, 0]");
    END();
}

static void test_shapes_global_avgpool(void) {
    BEGIN();
    Node *x = input("x", "N, 3, 7, 13");
    Node *g = op(OP_GLOBAL_AVGPOOL, "g", 1, x);
    Node *y = input("y", "N, 3, 7");
    op(OP_GLOBAL_AVGPOOL, "b", 1, y);
    Node *z = input("z", "N, 3, H, W");
    op(OP_GLOBAL_AVGPOOL, "s", 1, z);
    CU_ASSERT_FALSE(infer());
    EXPECT_SHAPE(g, "[N, 3, 1, 1]");
    EXPECT_ERRORS(2, "global_avgpool 'b' expects a 4-D input [N, C, H, W], got [N, 3, 7]",
                  "global_avgpool 's' needs fixed C, H and W");
    END();
}

/* ---- normalization -------------------------------------------------------------------------- */

static void test_shapes_batchnorm(void) {
    BEGIN();
    Node *x = input("x", "N, 16, 7, 13");
    Node *b = op(OP_BATCHNORM, "bn", 1, x);
    Node *y = input("y", "N, 5");
    Node *c = op(OP_BATCHNORM, "bn1d", 1, y);
    EXPECT_OK();
    EXPECT_SHAPE(b, "[N, 16, 7, 13]");
    CU_ASSERT_EQUAL(b->nparams, 4);
    EXPECT_PARAM(b, "weight", "[16]", PINIT_ONES, 0);
    EXPECT_PARAM(b, "bias", "[16]", PINIT_ZEROS, 0);
    EXPECT_PARAM(b, "running_mean", "[16]", PINIT_ZEROS, 0);
    EXPECT_PARAM(b, "running_var", "[16]", PINIT_VARIANCE, 0);
    EXPECT_SHAPE(c, "[N, 5]");
    EXPECT_PARAM(c, "running_var", "[5]", PINIT_VARIANCE, 0);
    END();
}

static void test_shapes_batchnorm_errors(void) {
    BEGIN();
    Node *x = input("x", "16");
    op(OP_BATCHNORM, "a", 1, x);
    Node *y = input("y", "N, C, 4");
    op(OP_BATCHNORM, "b", 1, y);
    Node *z = input("z", "N, 16");
    Node *c = op(OP_BATCHNORM, "c", 1, z);
    arg(c, "eps", li(0));
    Node *e = op(OP_BATCHNORM, "e", 1, x); /* both eps and rank */
    arg(e, "eps", lf(-1e-5));
    CU_ASSERT_FALSE(infer());
    EXPECT_ERRORS(5,
                  "batchnorm 'a' expects an input [N, C, ...] with at least 2 dimensions, got [16]",
                  "batchnorm 'b' needs a fixed channel dimension (axis 1), got [N, C, 4]",
                  "batchnorm 'c' eps must be greater than 0, got 0", "batchnorm 'e' eps",
                  "batchnorm 'e' expects");
    END();
}

static void test_shapes_layernorm(void) {
    BEGIN();
    Node *x = input("x", "N, T, 32");
    Node *l = op(OP_LAYERNORM, "ln", 1, x);
    arg(l, "eps", lf(1e-6));
    Node *v = input("v", "7");
    Node *m = op(OP_LAYERNORM, "lv", 1, v);
    EXPECT_OK();
    EXPECT_SHAPE(l, "[N, T, 32]");
    CU_ASSERT_EQUAL(l->nparams, 2);
    EXPECT_PARAM(l, "weight", "[32]", PINIT_ONES, 0);
    EXPECT_PARAM(l, "bias", "[32]", PINIT_ZEROS, 0);
    EXPECT_SHAPE(m, "[7]");
    END();
}

static void test_shapes_layernorm_errors(void) {
    BEGIN();
    Node *x = input("x", "N, M");
    op(OP_LAYERNORM, "a", 1, x);
    Node *y = input("y", "");
    op(OP_LAYERNORM, "b", 1, y);
    Node *z = input("z", "N, 8");
    Node *c = op(OP_LAYERNORM, "c", 1, z);
    arg(c, "eps", lf(NAN));
    CU_ASSERT_FALSE(infer());
    EXPECT_ERRORS(3, "layernorm 'a' needs a fixed last input dimension, got [N, M]",
                  "layernorm 'b' expects an input with at least 1 dimension",
                  "layernorm 'c' eps must be greater than 0");
    END();
}

/* ---- flatten, reshape, transpose, dropout --------------------------------------------------- */

static void test_shapes_flatten_axis(void) {
    BEGIN();
    Node *x = input("x", "N, 16, 5, 5");
    Node *f = op(OP_FLATTEN, "f", 1, x);
    Node *g = op(OP_FLATTEN, "g", 1, x);
    arg(g, "axis", li(-2));
    Node *h = op(OP_FLATTEN, "h", 1, x);
    arg(h, "axis", li(3));
    Node *v = op(OP_FLATTEN, "v", 1, input("v", "7"));
    arg(v, "axis", li(0));
    Node *s = op(OP_FLATTEN, "s", 1, input("s", ""));
    arg(s, "axis", li(-1));
    EXPECT_OK();
    EXPECT_SHAPE(f, "[N, 400]");
    CU_ASSERT_EQUAL(attr_int(f, "axis"), 1);
    EXPECT_SHAPE(g, "[N, 16, 25]");
    CU_ASSERT_EQUAL(attr_int(g, "axis"), 2);
    EXPECT_SHAPE(h, "[N, 16, 5, 5]");
    EXPECT_SHAPE(v, "[7]");
    EXPECT_SHAPE(s, "[1]"); /* torch.flatten of a scalar */
    END();
}

static void test_shapes_flatten_symbolic(void) {
    BEGIN();
    Node *x = input("x", "N, 3, M");
    Node *f = op(OP_FLATTEN, "f", 1, x);
    Node *g = op(OP_FLATTEN, "g", 1, x);
    arg(g, "axis", li(0));
    Node *h = op(OP_FLATTEN, "h", 1, input("y", "N, 4, 3"));
    arg(h, "axis", li(-3));
    EXPECT_OK();
    EXPECT_SHAPE(f, "[N, M*3]");
    EXPECT_SHAPE(g, "[N*M*3]");
    EXPECT_SHAPE(h, "[N*12]");
    END();
}

static void test_shapes_flatten_errors(void) {
    BEGIN();
    Node *x = input("x", "N, 16, 5, 5");
    Node *f = op(OP_FLATTEN, "f", 1, x);
    arg(f, "axis", li(4));
    Node *g = op(OP_FLATTEN, "g", 1, input("s", ""));
    arg(g, "axis", li(1));
    Node *big = input("big", "65536, 65536, 65536");
    Node *h = op(OP_FLATTEN, "h", 1, big);
    arg(h, "axis", li(0));
    CU_ASSERT_FALSE(infer());
    EXPECT_ERRORS(
        3, "flatten 'f' axis 4 is out of range for the 4-D input [N, 16, 5, 5] (expected -4 to 3)",
        "flatten 'g' axis 1", "flatten 'h' input [65536, 65536, 65536] is too large");
    EXPECT_AT(20);
    END();
}

static Node *reshape(Node *x, const char *name, Literal list) {
    Node *r = op(OP_RESHAPE, name, 1, x);
    arg(r, "shape", list);
    return r;
}

static void test_shapes_reshape_minus_one_symbolic(void) {
    BEGIN();
    Node *x = input("x", "N, 3, 4");
    Node *a = reshape(x, "a", ll(2, -1, 12));
    Node *b = reshape(input("y", "N, 12"), "b", ll(3, -1, 3, 4));
    Node *c = reshape(x, "c", ll(2, 6, -1));
    Node *e = reshape(input("z", "N, M, 6"), "e", ll(3, 2, -1, 3));
    EXPECT_OK();
    EXPECT_SHAPE(a, "[N, 12]");
    EXPECT_SHAPE(b, "[N, 3, 4]");
    EXPECT_SHAPE(c, "[6, N*2]");
    EXPECT_SHAPE(e, "[2, N*M, 3]");
    EXPECT_INTS(a, "shape", "[-1, 12]"); /* the list stays as written */
    END();
}

static void test_shapes_reshape_fixed(void) {
    BEGIN();
    Node *x = input("x", "2, 3, 4");
    Node *a = reshape(x, "a", ll(2, 4, 6));
    Node *b = reshape(x, "b", ll(1, -1));
    Node *c = reshape(x, "c", ll(4, 1, 2, 12, 1));
    Node *s = reshape(input("one", "1, 1"), "s", ll(0));
    EXPECT_OK();
    EXPECT_SHAPE(a, "[4, 6]");
    EXPECT_SHAPE(b, "[24]");
    EXPECT_SHAPE(c, "[1, 2, 12, 1]");
    EXPECT_SHAPE(s, "[]");
    END();
}

static void test_shapes_reshape_errors(void) {
    BEGIN();
    Node *x = input("x", "2, 3, 4");
    Node *y = input("y", "N, 12");
    reshape(x, "two", ll(3, -1, -1, 2));
    reshape(x, "zero", ll(2, 0, 24));
    reshape(x, "neg", ll(2, -2, 12));
    reshape(x, "count", ll(2, 5, 5));
    reshape(y, "sym", ll(2, 2, 6));
    reshape(input("z", "N, 3, 5"), "div", ll(2, -1, 4));
    CU_ASSERT_FALSE(infer());
    EXPECT_ERRORS(6, "reshape 'two' shape [-1, -1, 2] has more than one -1",
                  "reshape 'zero' shape [0, 24] has size 0",
                  "reshape 'neg' shape [-2, 12] has size -2",
                  "reshape 'count' cannot reshape [2, 3, 4] (24 elements) into [5, 5]",
                  "reshape 'sym' cannot reshape [N, 12] (N*12 elements) into [2, 6] (a -1 may",
                  "reshape 'div' cannot reshape [N, 3, 5] (N*15 elements) into [-1, 4]");
    EXPECT_AT(20);
    END();
}

static void test_shapes_transpose_default_reverses(void) {
    BEGIN();
    Node *x = input("x", "N, 3, 5");
    Node *t = op(OP_TRANSPOSE, "t", 1, x);
    CU_ASSERT_FALSE(node_attr(t, "perm")->set);
    EXPECT_OK();
    EXPECT_SHAPE(t, "[5, 3, N]");
    EXPECT_INTS(t, "perm", "[2, 1, 0]");
    END();
}

static void test_shapes_transpose_perm(void) {
    BEGIN();
    Node *x = input("x", "N, 3, 5, 7");
    Node *t = op(OP_TRANSPOSE, "t", 1, x);
    arg(t, "perm", ll(4, 0, 2, 3, 1));
    Node *u = op(OP_TRANSPOSE, "u", 1, input("y", "N, 3, 5"));
    arg(u, "perm", ll(3, 0, -1, 1));
    EXPECT_OK();
    EXPECT_SHAPE(t, "[N, 5, 7, 3]");
    EXPECT_SHAPE(u, "[N, 5, 3]");
    EXPECT_INTS(u, "perm", "[0, 2, 1]");
    END();
}

static void test_shapes_transpose_errors(void) {
    BEGIN();
    Node *x = input("x", "N, 3, 5");
    Node *a = op(OP_TRANSPOSE, "a", 1, x);
    arg(a, "perm", ll(2, 1, 0));
    Node *b = op(OP_TRANSPOSE, "b", 1, x);
    arg(b, "perm", ll(3, 0, 0, 1));
    Node *c = op(OP_TRANSPOSE, "c", 1, x);
    arg(c, "perm", ll(3, 0, 1, 3));
    CU_ASSERT_FALSE(infer());
    EXPECT_ERRORS(3, "transpose 'a' perm [1, 0] has 2 entries, but the input [N, 3, 5] has 3 axes",
                  "transpose 'b' perm [0, 0, 1] is not a permutation of the axes of [N, 3, 5]",
                  "transpose 'c' perm [0, 1, 3] is not a permutation");
    EXPECT_AT(20);
    END();
}

static void test_shapes_dropout(void) {
    BEGIN();
    Node *x = input("x", "N, 8");
    Node *a = op(OP_DROPOUT, "a", 1, x);
    Node *b = op(OP_DROPOUT, "b", 1, x);
    arg(b, "p", li(0));
    Node *c = op(OP_DROPOUT, "c", 1, x);
    arg(c, "p", li(1));
    Node *e = op(OP_DROPOUT, "e", 1, x);
    arg(e, "p", lf(-0.1));
    CU_ASSERT_FALSE(infer());
    EXPECT_SHAPE(a, "[N, 8]");
    EXPECT_SHAPE(b, "[N, 8]");
    EXPECT_ERRORS(2, "dropout 'c' p must be in [0, 1), got 1",
                  "dropout 'e' p must be in [0, 1), got -0.1");
    EXPECT_AT(20);
    END();
}

/* ---- elementwise ---------------------------------------------------------------------------- */

static void test_shapes_activations_keep_shape(void) {
    static const OpKind acts[] = {
        OP_RELU,     OP_SIGMOID, OP_TANH,     OP_LEAKY_RELU, OP_ELU,          OP_SELU,
        OP_GELU,     OP_SILU,    OP_SOFTPLUS, OP_SOFTSIGN,   OP_HARD_SIGMOID, OP_RELU6,
        OP_IDENTITY, OP_EXP,     OP_LOG,      OP_SQRT,       OP_ABS,          OP_NEG,
    };
    BEGIN();
    Node *x = input("x", "N, 3, 7, 13");
    Node *n[sizeof acts / sizeof acts[0]];
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++)
        n[i] = op(acts[i], op_name(acts[i]), 1, i ? n[i - 1] : x);
    Node *s = op(OP_RELU, "scalar", 1, input("s", ""));
    EXPECT_OK();
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++) {
        EXPECT_SHAPE(n[i], "[N, 3, 7, 13]");
        CU_ASSERT_EQUAL(n[i]->nparams, 0);
    }
    EXPECT_SHAPE(s, "[]");
    END();
}

static void test_shapes_gelu_approximate(void) {
    BEGIN();
    Node *x = input("x", "N, 8");
    Node *a = op(OP_GELU, "a", 1, x);
    Node *b = op(OP_GELU, "b", 1, x);
    arg(b, "approximate", ls("tanh"));
    Node *c = op(OP_GELU, "c", 1, x);
    arg(c, "approximate", ls("fast"));
    CU_ASSERT_FALSE(infer());
    EXPECT_SHAPE(a, "[N, 8]");
    EXPECT_SHAPE(b, "[N, 8]");
    EXPECT_ERRORS(1, "gelu 'c' approximate must be \"none\" or \"tanh\", got \"fast\"");
    EXPECT_AT(20);
    END();
}

static void test_shapes_clip_bounds(void) {
    BEGIN();
    Node *x = input("x", "N, 8");
    Node *lo = op(OP_CLIP, "lo", 1, x);
    arg(lo, "min", li(0));
    Node *hi = op(OP_CLIP, "hi", 1, x);
    arg(hi, "max", lf(6));
    Node *both = op(OP_CLIP, "both", 1, x);
    arg(both, "min", lf(-1));
    arg(both, "max", lf(-1));
    Node *bad = op(OP_CLIP, "bad", 1, x);
    arg(bad, "min", lf(2));
    arg(bad, "max", lf(1));
    op(OP_CLIP, "none", 1, x);
    CU_ASSERT_FALSE(infer());
    EXPECT_SHAPE(lo, "[N, 8]");
    EXPECT_SHAPE(hi, "[N, 8]");
    EXPECT_SHAPE(both, "[N, 8]");
    EXPECT_ERRORS(2, "clip 'bad' min 2 is greater than max 1", "clip 'none' needs min or max");
    END();
}

static void test_shapes_binary_broadcast(void) {
    static const OpKind ops[] = {OP_ADD, OP_SUB, OP_MUL, OP_DIV};
    BEGIN();
    Node *x = input("x", "N, 1, 5");
    Node *y = input("y", "3, 1");
    Node *n[4];
    for (int i = 0; i < 4; i++)
        n[i] = op(ops[i], op_name(ops[i]), 2, x, y);
    Node *b = op(OP_ADD, "bias", 2, input("h", "N, 16"), input("v", "16"));
    Node *o = op(OP_MUL, "ones", 2, input("o", "1, 4"), input("m", "N, 1"));
    Node *same = op(OP_SUB, "same", 2, input("p", "N, M"), input("q", "N, M"));
    Node *sc = op(OP_ADD, "sc", 2, input("s", ""), input("t", "2, 3"));
    EXPECT_OK();
    for (int i = 0; i < 4; i++)
        EXPECT_SHAPE(n[i], "[N, 3, 5]");
    EXPECT_SHAPE(b, "[N, 16]");
    EXPECT_SHAPE(o, "[N, 4]");
    EXPECT_SHAPE(same, "[N, M]");
    EXPECT_SHAPE(sc, "[2, 3]");
    END();
}

static void test_shapes_binary_number_operand(void) {
    BEGIN();
    Node *x = input("x", "N, 8");
    Node *a = op(OP_ADD, "a", 1, x);
    arg(a, "b", li(1));
    Node *d = op(OP_DIV, "d", 1, x);
    arg(d, "b", lf(2.5));
    EXPECT_OK();
    EXPECT_SHAPE(a, "[N, 8]");
    EXPECT_SHAPE(d, "[N, 8]");
    CU_ASSERT_DOUBLE_EQUAL(attr_float(d, "b"), 2.5, 0);
    END();
}

static void test_shapes_binary_errors(void) {
    BEGIN();
    op(OP_ADD, "r", 2, input("x", "N, 16"), input("y", "N, 8"));
    op(OP_MUL, "s", 2, input("a", "N, 4"), input("b", "M, 4"));
    op(OP_SUB, "t", 2, input("c", "N, 4"), input("d", "4, 4"));
    CU_ASSERT_FALSE(infer());
    EXPECT_ERRORS(3, "add 'r' cannot broadcast [N, 16] with [N, 8]",
                  "mul 's' cannot broadcast [N, 4] with [M, 4]",
                  "sub 't' cannot broadcast [N, 4] with [4, 4]");
    EXPECT_AT(5);
    END();
}

/* ---- matmul --------------------------------------------------------------------------------- */

static void test_shapes_matmul_vectors(void) {
    BEGIN();
    Node *v = input("v", "4");
    Node *m = input("m", "4, 5");
    Node *w = input("w", "3, 4");
    Node *dot = op(OP_MATMUL, "dot", 2, v, v);
    Node *vm = op(OP_MATMUL, "vm", 2, v, m);
    Node *mv = op(OP_MATMUL, "mv", 2, w, v);
    Node *vb = op(OP_MATMUL, "vb", 2, v, input("b", "N, 4, 6"));
    Node *bv = op(OP_MATMUL, "bv", 2, input("c", "N, 3, 4"), v);
    EXPECT_OK();
    EXPECT_SHAPE(dot, "[]");
    EXPECT_SHAPE(vm, "[5]");
    EXPECT_SHAPE(mv, "[3]");
    EXPECT_SHAPE(vb, "[N, 6]");
    EXPECT_SHAPE(bv, "[N, 3]");
    END();
}

static void test_shapes_matmul_batched(void) {
    BEGIN();
    Node *a = op(OP_MATMUL, "a", 2, input("x", "N, 3"), input("w", "3, 5"));
    Node *b = op(OP_MATMUL, "b", 2, input("p", "2, 1, 3, 4"), input("q", "5, 4, 6"));
    Node *c = op(OP_MATMUL, "c", 2, input("r", "N, 7, 4"), input("s", "4, 2"));
    Node *e = op(OP_MATMUL, "e", 2, input("t", "N, M"), input("u", "M, 3"));
    EXPECT_OK();
    EXPECT_SHAPE(a, "[N, 5]");
    EXPECT_SHAPE(b, "[2, 5, 3, 6]");
    EXPECT_SHAPE(c, "[N, 7, 2]");
    EXPECT_SHAPE(e, "[N, 3]");
    END();
}

static void test_shapes_matmul_errors(void) {
    BEGIN();
    op(OP_MATMUL, "inner", 2, input("a", "N, 3, 4"), input("b", "5, 6"));
    op(OP_MATMUL, "batch", 2, input("c", "2, 3, 4"), input("d", "5, 4, 6"));
    op(OP_MATMUL, "scalar", 2, input("e", ""), input("f", "3"));
    op(OP_MATMUL, "sym", 2, input("g", "N, 4"), input("h", "M, 4"));
    CU_ASSERT_FALSE(infer());
    EXPECT_ERRORS(
        4, "matmul 'inner' cannot multiply [N, 3, 4] by [5, 6]: inner dimensions 4 and 5 differ",
        "matmul 'batch' cannot broadcast the batch dimensions of [2, 3, 4] and [5, 4, 6]",
        "matmul 'scalar' needs operands with at least 1 dimension, got [] and [3]",
        "matmul 'sym' cannot multiply [N, 4] by [M, 4]: inner dimensions 4 and M differ");
    END();
}

/* ---- concat, softmax ------------------------------------------------------------------------ */

static void test_shapes_concat(void) {
    BEGIN();
    Node *x = input("x", "N, 3, 7");
    Node *y = input("y", "N, 5, 7");
    Node *c = op(OP_CONCAT, "c", 2, x, y);
    Node *b = op(OP_CONCAT, "b", 3, x, x, x);
    arg(b, "axis", li(0));
    Node *l = op(OP_CONCAT, "l", 2, x, input("z", "N, 3, 2"));
    arg(l, "axis", li(-1));
    Node *one = op(OP_CONCAT, "one", 1, x);
    Node *m = op(OP_CONCAT, "m", 2, input("p", "N*2, 4"), input("q", "N, 4"));
    arg(m, "axis", li(0));
    /* Different symbols (or a symbol and a constant) add up to a derived size. */
    Node *sym = op(OP_CONCAT, "sym", 2, x, input("u", "3, 3, 7"));
    arg(sym, "axis", li(0));
    Node *again = op(OP_CONCAT, "again", 2, x, input("v", "3, 3, 7"));
    arg(again, "axis", li(0));
    EXPECT_OK();
    EXPECT_SHAPE(sym, "[(N+3), 3, 7]");
    CU_ASSERT(dim_eq(sym->shape.d[0], again->shape.d[0])); /* one derived symbol, reused */
    EXPECT_SHAPE(c, "[N, 8, 7]");
    EXPECT_SHAPE(b, "[N*3, 3, 7]");
    EXPECT_SHAPE(l, "[N, 3, 9]");
    CU_ASSERT_EQUAL(attr_int(l, "axis"), 2);
    EXPECT_SHAPE(one, "[N, 3, 7]");
    EXPECT_SHAPE(m, "[N*3, 4]");
    END();
}

static void test_shapes_concat_errors(void) {
    BEGIN();
    Node *x = input("x", "N, 3, 7");
    op(OP_CONCAT, "dims", 3, x, input("y", "N, 5, 6"), input("w", "N, 2, 8"));
    op(OP_CONCAT, "rank", 2, x, input("z", "N, 3"));
    Node *a = op(OP_CONCAT, "axis", 2, x, x);
    arg(a, "axis", li(3));
    op(OP_CONCAT, "scalar", 2, input("e", ""), input("f", ""));
    Node *big = input("big", "4294967296, 1");
    Node *l = op(OP_CONCAT, "large", 2, big, big);
    arg(l, "axis", li(0));
    CU_ASSERT_FALSE(infer());
    EXPECT_ERRORS(6, "concat 'large' cannot add sizes 4294967296 and 4294967296 along axis 0: "
                     "the result is too large", "concat 'dims' input 2 [N, 5, 6] does not match input 1 [N, 3, 7]",
                  "concat 'dims' input 3 [N, 2, 8]",
                  "concat 'rank' input 2 [N, 3] does not match input 1 [N, 3, 7]",
                  "concat 'axis' axis 3 is out of range",
                  "concat 'scalar' cannot concatenate scalars");
    END();
}

static void test_shapes_softmax_axis(void) {
    BEGIN();
    Node *x = input("x", "N, 10");
    Node *s = op(OP_SOFTMAX, "s", 1, x);
    Node *l = op(OP_LOG_SOFTMAX, "l", 1, x);
    arg(l, "axis", li(0));
    Node *z = op(OP_SOFTMAX, "z", 1, input("sc", ""));
    Node *bad = op(OP_LOG_SOFTMAX, "bad", 1, x);
    arg(bad, "axis", li(-3));
    CU_ASSERT_FALSE(infer());
    EXPECT_SHAPE(s, "[N, 10]");
    CU_ASSERT_EQUAL(attr_int(s, "axis"), 1);
    EXPECT_SHAPE(l, "[N, 10]");
    CU_ASSERT_EQUAL(attr_int(l, "axis"), 0);
    EXPECT_SHAPE(z, "[]");
    EXPECT_ERRORS(
        1,
        "log_softmax 'bad' axis -3 is out of range for the 2-D input [N, 10] (expected -2 to 1)");
    EXPECT_AT(20);
    END();
}

NND_SUITE("shapes", test_shapes_bad_input_makes_downstream_bad_silently,
          test_shapes_node_already_bad_is_skipped, test_shapes_independent_errors_all_reported,
          test_shapes_arity_checked, test_shapes_rerun_is_idempotent,
          test_shapes_axis_and_broadcast_helpers, test_shapes_dense_params,
          test_shapes_dense_any_rank_and_no_bias, test_shapes_dense_input_errors,
          test_shapes_dense_bad_units_located, test_shapes_dense_bound_weight_mismatch,
          test_shapes_dense_too_large, test_shapes_conv2d_odd_image,
          test_shapes_conv2d_stride_and_padding, test_shapes_conv2d_dilation,
          test_shapes_conv2d_rect_kernel_and_asymmetric_pad, test_shapes_conv2d_groups,
          test_shapes_conv2d_depthwise_without_bias, test_shapes_conv2d_same_and_valid,
          test_shapes_conv2d_same_even_kernel_pads_at_end, test_shapes_conv2d_same_needs_stride_1,
          test_shapes_conv2d_kernel_larger_than_input, test_shapes_conv2d_input_rank_and_fixed_dims,
          test_shapes_conv2d_groups_must_divide, test_shapes_conv2d_bad_arguments_all_reported,
          test_shapes_conv2d_bound_weight_channels, test_shapes_conv2d_too_large,
          test_shapes_lenet_symbolic_batch, test_shapes_pool_stride_defaults_to_kernel,
          test_shapes_pool_ceil_mode, test_shapes_pool_ceil_mode_drops_window_in_padding,
          test_shapes_pool_window_past_small_input, test_shapes_pool_padding_at_most_half_kernel,
          test_shapes_pool_explicit_stride_and_padding, test_shapes_pool_accepts_unbatched_input,
          test_shapes_pool_input_errors, test_shapes_pool_padding_strings,
          test_shapes_global_avgpool, test_shapes_batchnorm, test_shapes_batchnorm_errors,
          test_shapes_layernorm, test_shapes_layernorm_errors, test_shapes_flatten_axis,
          test_shapes_flatten_symbolic, test_shapes_flatten_errors,
          test_shapes_reshape_minus_one_symbolic, test_shapes_reshape_fixed,
          test_shapes_reshape_errors, test_shapes_transpose_default_reverses,
          test_shapes_transpose_perm, test_shapes_transpose_errors, test_shapes_dropout,
          test_shapes_activations_keep_shape, test_shapes_gelu_approximate, test_shapes_clip_bounds,
          test_shapes_binary_broadcast, test_shapes_binary_number_operand,
          test_shapes_binary_errors, test_shapes_matmul_vectors, test_shapes_matmul_batched,
          test_shapes_matmul_errors, test_shapes_concat, test_shapes_concat_errors,
          test_shapes_softmax_axis)
