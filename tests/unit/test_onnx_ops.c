/* test_onnx_ops.c: how single ONNX operators map onto .nnd (compiler/onnx/onnx_ops.c).
 *
 * Each test writes a small model with unit_onnx_build.h, imports it, and checks the .nnd
 * statement written or the error reported (operator, node and reason); where a mapping
 * rewrites an operator (Gemm's alpha and beta, HardSigmoid's constants, a folded Pad), the
 * compiled model is also run and compared with the ONNX formula or with an equivalent model. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnd.h"
#include "onnx_import.h"
#include "unit_harness.h"
#include "unit_onnx_build.h"
#include "unit_shell.h"

/* The import of path: its .nnd text, or NULL with the diagnostics in msg. */
static char text[1 << 14], msg[1 << 12];

static const char *import(const char *path) {
    Arena *a = arena_new();
    Diag *d = diag_new(a);
    OnnxImport im;
    bool ok = onnx_import_file(a, d, path, NULL, &im);
    snprintf(text, sizeof text, "%s", ok ? im.nnd_text : "");
    snprintf(msg, sizeof msg, "%s", diag_text(d) ? diag_text(d) : "");
    arena_free(a);
    if (!ok)
        return NULL;
    return text;
}

/* A scratch path for model name (four in turn, so a test may hold two or three). */
static const char *model_path(const char *name) {
    static char paths[4][512];
    static int next;
    char *path = paths[next++ % 4];
    snprintf(path, sizeof paths[0], "%s/%s.onnx", sh_tmpdir(), name);
    return path;
}

/* Whether the import fails with an error containing want. */
static bool rejects(const char *path, const char *want) {
    if (import(path)) {
        fprintf(stderr, "\n  %s imports:\n%s", path, text);
        return false;
    }
    if (!strstr(msg, want)) {
        fprintf(stderr, "\n  %s: want \"%s\", got:\n%s", path, want, msg);
        return false;
    }
    return true;
}

/* Whether the import succeeds with text containing want. */
static bool writes(const char *path, const char *want) {
    if (!import(path)) {
        fprintf(stderr, "\n  %s does not import:\n%s", path, msg);
        return false;
    }
    if (!strstr(text, want)) {
        fprintf(stderr, "\n  %s: want \"%s\" in:\n%s", path, want, text);
        return false;
    }
    return true;
}

/* Compiles path and runs it on one input x (numel values, shape xs) into y (ny values). */
static bool run1(const char *path, const float *x, size_t nx, int rank, const int64_t *xs,
                 float *y, size_t ny) {
    nnd_options opt;
    nnd_options_init(&opt);
    nnd_model *m = NULL;
    char *err = NULL;
    nnd_status st = nnd_model_compile_file(path, &opt, &m, &err);
    if (st != NND_OK)
        fprintf(stderr, "\n  %s: %s\n%s", path, nnd_status_name(st), err ? err : "");
    nnd_string_free(err);
    if (st != NND_OK)
        return false;
    nnd_context *ctx = NULL;
    bool ok = nnd_context_create(m, &ctx) == NND_OK;
    nnd_tensor in = {(float *)x, nx, (size_t)rank, xs, {0}}, out = {y, ny, 0, NULL, {0}};
    if (ok && (st = nnd_run(ctx, &in, 1, &out, 1)) != NND_OK) {
        fprintf(stderr, "\n  %s: nnd_run: %s: %s\n", path, nnd_status_name(st),
                nnd_context_error(ctx));
        ok = false;
    }
    nnd_context_destroy(ctx);
    nnd_model_destroy(m);
    return ok;
}

/* --- operator versions ------------------------------------------------------------------------ */

/* Opset 1's Relu (with consumed_inputs) is refused by name; opset 1's Softplus, unchanged
 * since, is accepted. */
static void test_onnx_ops_operator_version_checked(void) {
    const char *p = model_path("relu1");
    CU_ASSERT_FATAL(onnx_build(p, "opset 1", "input x 2,3", "node Relu x -> y", "output y", NULL));
    CU_ASSERT(rejects(p, "ONNX operator 'Relu' (node 'Relu'): the operator's definition in opset "
                         "1 is not supported (only from opset 6 on)"));
    CU_ASSERT_FATAL(onnx_build(p, "opset 1", "input x 2,3", "node Softplus x -> y", "output y",
                               NULL));
    CU_ASSERT(writes(p, "y = softplus(x)"));
}

/* BatchNormalization before opset 7 is a training op unless is_test=1; spatial=0 (before
 * opset 9) and the training outputs are refused. */
static void test_onnx_ops_batchnorm_legacy_attributes(void) {
    const char *p = model_path("bn6");
    const char *common[] = {"input x 1,2,3,3", "init s 2 1,2", "init b 2 0,1", "init m 2 0.5,0",
                            "init v 2 1,4"};
#define BN(opset, node)                                                                        \
    onnx_build(p, opset, common[0], common[1], common[2], common[3], common[4], node, "output y", \
               NULL)
    CU_ASSERT_FATAL(BN("opset 6", "node BatchNormalization x,s,b,m,v -> y"));
    CU_ASSERT(rejects(p, "is_test=0 (training mode, the default before opset 7) is not supported"));
    CU_ASSERT_FATAL(BN("opset 6", "node BatchNormalization x,s,b,m,v -> y is_test=1"));
    CU_ASSERT(writes(p, "y = batchnorm(x, eps=1e-05)"));
    CU_ASSERT_FATAL(BN("opset 7", "node BatchNormalization x,s,b,m,v -> y spatial=0"));
    CU_ASSERT(rejects(p, "spatial=0 (statistics per activation, not per channel) is not "
                         "supported"));
    CU_ASSERT_FATAL(BN("opset 7", "node BatchNormalization x,s,b,m,v -> y,rm,rv"));
    CU_ASSERT(rejects(p, "the training outputs (running and saved mean and variance) are not "
                         "supported"));
#undef BN
}

/* Dropout before opset 7 trains unless is_test=1; from 12, training_mode must be false. */
static void test_onnx_ops_dropout_modes(void) {
    const char *p = model_path("dropout");
    CU_ASSERT_FATAL(onnx_build(p, "opset 6", "input x 2,3", "node Dropout x -> y", "output y",
                               NULL));
    CU_ASSERT(rejects(p, "'Dropout' (node 'Dropout'): is_test=0 (training mode"));
    CU_ASSERT_FATAL(onnx_build(p, "opset 6", "input x 2,3", "node Dropout x -> y is_test=1",
                               "output y", NULL));
    CU_ASSERT(writes(p, "y = dropout(x)"));
    CU_ASSERT_FATAL(onnx_build(p, "opset 13", "input x 2,3", "init r - 0.5", "int64 t - 1",
                               "node Dropout x,r,t -> y", "output y", NULL));
    CU_ASSERT(rejects(p, "training_mode=true is not supported"));
    CU_ASSERT_FATAL(onnx_build(p, "opset 13", "input x 2,3", "node Dropout x -> y,mask",
                               "output y", NULL));
    CU_ASSERT(rejects(p, "the mask output is not supported: its dtype is BOOL"));
}

/* Add before opset 7: broadcast=1 with B aligned at A's last dimensions is NumPy's rule;
 * another axis is refused. */
static void test_onnx_ops_legacy_broadcast(void) {
    const char *p = model_path("add6");
    CU_ASSERT_FATAL(onnx_build(p, "opset 6", "input a 2,3", "input b 3",
                               "node Add a,b -> y broadcast=1 axis=1", "output y", NULL));
    CU_ASSERT(writes(p, "y = add(a, b)"));
    CU_ASSERT_FATAL(onnx_build(p, "opset 6", "input a 2,3", "input b 2",
                               "node Add a,b -> y broadcast=1 axis=0", "output y", NULL));
    CU_ASSERT(rejects(p, "legacy broadcasting of B from an axis other than A's last dimensions "
                         "is not supported"));
}

/* --- rewritten operators ---------------------------------------------------------------------- */

/* Gemm's alpha and beta fold into dense's parameters, transA transposes the input, and a
 * single-value C is broadcast; the result is alpha A' B + beta C. */
static void test_onnx_ops_gemm_alpha_beta_trans_a(void) {
    const char *p = model_path("gemm");
    CU_ASSERT_FATAL(onnx_build(p, "input a 3,2", "init B 3,4 ramp", "init C - 0.25",
                               "node Gemm a,B,C -> y alpha=0.5 beta=2.0 transA=1", "output y",
                               NULL));
    CU_ASSERT(writes(p, "y = transpose(a) -> dense(4)"));
    float a[6] = {1, -2, 0.5f, 3, -1, 2}, y[8];
    int64_t as[2] = {3, 2};
    CU_ASSERT_FATAL(run1(p, a, 6, 2, as, y, 8));
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 4; j++) {
            double acc = 0;
            for (int k = 0; k < 3; k++) /* A' [2, 3]: A'[i][k] = a[k][i]; B ramp over 12 */
                acc += a[k * 2 + i] * (2.0 * (((k * 4 + j) * 7) % 12) / 12 - 1);
            double want = 0.5 * acc + 2.0 * 0.25;
            CU_ASSERT(fabs(y[i * 4 + j] - want) < 1e-5);
        }
    CU_ASSERT_FATAL(onnx_build(p, "opset 6", "input a 2,3", "init B 3,4 ramp", "init C 4 ramp",
                               "node Gemm a,B,C -> y", "output y", NULL));
    CU_ASSERT(rejects(p, "broadcast=0 before opset 7 (C of the output's full shape) is not "
                         "supported"));
    CU_ASSERT_FATAL(onnx_build(p, "input a 2,3", "init B 3,4 ramp", "init C 2,4 ramp",
                               "node Gemm a,B,C -> y", "output y", NULL));
    /* a C per row is a param added after the dense */
    CU_ASSERT(writes(p, "C = param([2, 4])"));
    CU_ASSERT(writes(p, "-> add(C)"));
    /* a computed C (torch.addmm) is added after the dense, times beta */
    CU_ASSERT_FATAL(onnx_build(p, "input a 2,3", "input c0 2,4", "init B 3,4 ramp",
                               "node Relu c0 -> c", "node Gemm a,B,c -> y beta=0.5", "output y",
                               NULL));
    CU_ASSERT(writes(p, "y = dense(a, 4, bias=false) -> add(mul(c, 0.5))"));
}

/* HardSigmoid and Selu with other constants than PyTorch's are written out in SPEC ops. */
static void test_onnx_ops_hard_sigmoid_and_selu_constants(void) {
    const char *p = model_path("hs");
    CU_ASSERT_FATAL(onnx_build(p, "input x 5", "node HardSigmoid x -> y alpha=0.5 beta=0.6",
                               "output y", NULL));
    CU_ASSERT(writes(p, "y = mul(x, 0.5) -> add(0.600000024) -> clip(min=0, max=1)"));
    float x[5] = {-3, -1, 0, 0.5f, 2}, y[5];
    int64_t xs[1] = {5};
    CU_ASSERT_FATAL(run1(p, x, 5, 1, xs, y, 5));
    for (int i = 0; i < 5; i++)
        CU_ASSERT(fabs(y[i] - fmax(0, fmin(1, 0.5 * x[i] + 0.6))) < 1e-6);
    CU_ASSERT_FATAL(onnx_build(p, "input x 5", "node Selu x -> y alpha=2.0 gamma=3.0",
                               "output y", NULL));
    CU_ASSERT(writes(p, "y = elu(x, alpha=2) -> mul(3)"));
    CU_ASSERT_FATAL(run1(p, x, 5, 1, xs, y, 5));
    for (int i = 0; i < 5; i++) {
        double want = 3 * (x[i] > 0 ? x[i] : 2 * (exp(x[i]) - 1));
        CU_ASSERT(fabs(y[i] - want) < 1e-5 * fmax(1, fabs(want)));
    }
}

/* Clip's bounds given as constant inputs (opset 11 on) fold into the clip. */
static void test_onnx_ops_clip_bounds_as_inputs(void) {
    const char *p = model_path("clip");
    CU_ASSERT_FATAL(onnx_build(p, "input x 5", "init lo - -1", "init hi - 0.5",
                               "node Clip x,lo,hi -> y", "output y", NULL));
    CU_ASSERT(writes(p, "y = clip(x, min=-1, max=0.5)"));
    CU_ASSERT_FATAL(onnx_build(p, "input x 5", "init hi - 0.5", "node Clip x,,hi -> y",
                               "output y", NULL));
    CU_ASSERT(writes(p, "y = clip(x, max=0.5)"));
    CU_ASSERT_FATAL(onnx_build(p, "input x 5", "input lo 1", "node Clip x,lo -> y", "output y",
                               NULL));
    CU_ASSERT(rejects(p, "min ('lo') must be an initializer or a constant"));
}

/* A transposed constant (PyTorch's Linear without bias at opset 6: MatMul(x, Transpose(W)))
 * is folded into the weight. */
static void test_onnx_ops_transpose_of_constant_folds(void) {
    const char *p = model_path("tw");
    CU_ASSERT_FATAL(onnx_build(p, "input x 1,3", "init W 2,3 1,2,3,4,5,6",
                               "node Transpose W -> Wt perm=[1,0]", "node MatMul x,Wt -> y",
                               "output y", NULL));
    CU_ASSERT(writes(p, "y = dense(x, 2, bias=false)"));
    float x[3] = {1, -1, 2}, y[2];
    int64_t xs[2] = {1, 3};
    CU_ASSERT_FATAL(run1(p, x, 3, 2, xs, y, 2));
    CU_ASSERT(fabs(y[0] - (1 - 2 + 6)) < 1e-6 && fabs(y[1] - (4 - 5 + 12)) < 1e-6);
}

/* A layer is named after its weight's module ("probs" for probs.weight) only when no
 * statement takes that name: .nnd layer names and statement names share one namespace,
 * and PyTorch names the graph output after the module here. */
static void test_onnx_ops_layer_name_never_clashes(void) {
    const char *p = model_path("names");
    CU_ASSERT_FATAL(onnx_build(p, "input x 2,3", "init probs.weight 4,3 ramp",
                               "init probs.bias 4 ramp", "init h.weight 3,3 ramp",
                               "node Gemm x,h.weight -> t transB=1",
                               "node Gemm t,probs.weight,probs.bias -> z transB=1",
                               "node Softmax z -> probs", "output probs", NULL));
    CU_ASSERT(writes(p, "t = dense(x, 3, bias=false, name=\"h\")"));
    CU_ASSERT(writes(p, "z = dense(t, 4)\n"));
    float x[6] = {1, 2, 3, 4, 5, 6}, y[8];
    int64_t xs[2] = {2, 3};
    CU_ASSERT(run1(p, x, 6, 2, xs, y, 8));
}

/* --- static sizes ----------------------------------------------------------------------------- */

/* ONNX's implicit sizes become literals where the input's sizes are known: Flatten at any
 * axis, Reshape's 0 and -1, Unsqueeze and Squeeze, Shape's slices; one symbolic size is -1,
 * two are a dynamic shape. */
static void test_onnx_ops_static_sizes_resolve_views(void) {
    const char *p = model_path("views");
    CU_ASSERT_FATAL(onnx_build(p, "input x 2,3,4,5", "node Flatten x -> y axis=2", "output y",
                               NULL));
    CU_ASSERT(writes(p, "y = reshape(x, [6, 20])"));
    CU_ASSERT_FATAL(onnx_build(p, "input x N,3,4,5", "int64 s 3 0,-1,5", "node Reshape x,s -> y",
                               "output y", NULL));
    CU_ASSERT(writes(p, "y = reshape(x, [-1, 12, 5])"));
    CU_ASSERT_FATAL(onnx_build(p, "input x N,M,4", "int64 s 4 0,0,2,2", "node Reshape x,s -> y",
                               "output y", NULL));
    CU_ASSERT(rejects(p, "the target shape has several sizes that are not known statically (a "
                         "dynamic shape), which is not supported"));
    CU_ASSERT_FATAL(onnx_build(p, "opset 11", "input x N,3", "node Unsqueeze x -> y axes=[1,-1]",
                               "output y", NULL));
    CU_ASSERT(writes(p, "y = reshape(x, [-1, 1, 3, 1])"));
    CU_ASSERT_FATAL(onnx_build(p, "opset 13", "input x 2,1,3", "int64 a 1 -2",
                               "node Squeeze x,a -> y", "output y", NULL));
    CU_ASSERT(writes(p, "y = reshape(x, [2, 3])"));
    CU_ASSERT_FATAL(onnx_build(p, "opset 15", "input x N,3,4", "int64 m 1 -1",
                               "node Shape x -> s start=2", "node Concat m,s -> t axis=0",
                               "node Reshape x,t -> y", "output y", NULL));
    CU_ASSERT(writes(p, "y = reshape(x, [-1, 4])"));
    CU_ASSERT_FATAL(onnx_build(p, "input x 2,3", "node Shape x -> y", "output y", NULL));
    CU_ASSERT(rejects(p, "graph output 'y' is an integer constant (a shape): its dtype is not "
                         "supported"));
}

/* auto_pad SAME_UPPER / SAME_LOWER with a stride: explicit pads from the known height and
 * width; with symbolic ones, refused. */
static void test_onnx_ops_same_padding_with_stride(void) {
    const char *p = model_path("same");
    CU_ASSERT_FATAL(onnx_build(p, "input x N,1,5,5",
                               "node MaxPool x -> y kernel_shape=[3,2] strides=[2,2] "
                               "auto_pad=\"SAME_LOWER\"",
                               "output y", NULL));
    CU_ASSERT(writes(p, "y = maxpool2d(x, [3, 2], stride=2, padding=[1, 1, 1, 0])"));
    CU_ASSERT_FATAL(onnx_build(p, "input x 1,1,H,W",
                               "node MaxPool x -> y kernel_shape=[3,3] strides=[2,2] "
                               "auto_pad=\"SAME_UPPER\"",
                               "output y", NULL));
    CU_ASSERT(rejects(p, "auto_pad=SAME_UPPER is not supported here (the input's height and "
                         "width are symbolic"));
}

/* Arithmetic on constants folds: Slice with a negative step, Cast, ConstantOfShape, Concat
 * and Reshape of constants (PyTorch's F.pad at opset 11 computes its pads so); on computed
 * tensors those operators are unsupported. */
static void test_onnx_ops_constant_subgraphs_fold(void) {
    const char *p = model_path("fold");
    CU_ASSERT_FATAL(onnx_build(p, "input x 2,3,2", "init s 3 3.7,-1,2", "int64 b 1 -1",
                               "int64 e 1 -9223372036854775807", "int64 st 1 -1",
                               "node Slice s,b,e,b,st -> r", "node Cast r -> c to=7",
                               "node Reshape x,c -> y", "output y", NULL));
    CU_ASSERT(writes(p, "y = reshape(x, [2, 2, 3])"));
    /* torch 1.13's F.pad(x, (1, 2, 0, 1)) at opset 13, then a conv */
    CU_ASSERT_FATAL(onnx_build(p, "input x 1,2,3,4", "init W 2,2,3,3 ramp", "int64 four 1 4",
                               "int64 lrtb 4 1,2,0,1", "int64 shp 2 -1,2", "int64 flat 1 -1",
                               "int64 b 1 -1", "int64 e 1 -9223372036854775807", "int64 a 1 0",
                               "node ConstantOfShape four -> z", "node Concat lrtb,z -> c axis=0",
                               "node Reshape c,shp -> r", "node Slice r,b,e,a,b -> s",
                               "node Transpose s -> t perm=[1,0]", "node Reshape t,flat -> f",
                               "node Cast f -> pads to=7", "node Pad x,pads -> xp",
                               "node Conv xp,W -> y", "output y", NULL));
    CU_ASSERT(writes(p, "y = conv2d(x, 2, kernel=3, padding=[0, 1, 1, 2], bias=false)"));
    CU_ASSERT_FATAL(onnx_build(p, "input x 2,3", "int64 big 2 65536,65536",
                               "node ConstantOfShape big -> z", "node Reshape x,z -> y",
                               "output y", NULL));
    CU_ASSERT(rejects(p, "the shape holds a negative or too large size"));
    CU_ASSERT_FATAL(onnx_build(p, "input x 2,3", "node Cast x -> y to=1", "output y", NULL));
    CU_ASSERT(rejects(p, "unsupported ONNX operator 'Cast' (node 'Cast'; only folded when its "
                         "inputs are constants)"));
}

/* A graph input of another dtype than FLOAT is an error where it is used as a tensor or
 * not used at all; where a constant is needed (a Reshape's shape) it may be given a value. */
static void test_onnx_ops_integer_inputs_bound_as_constants(void) {
    const char *p = model_path("intin");
    CU_ASSERT_FATAL(onnx_build(p, "input x 2,3", "input s 2 int64", "node Reshape x,s -> y",
                               "output y", NULL));
    CU_ASSERT(rejects(p, "the shape ('s') must be an initializer or a constant"));
    Arena *a = arena_new();
    Diag *d = diag_new(a);
    OnnxImport im;
    float shape[2] = {3, -1};
    OnnxTensor s = {.name = "s", .rank = 1, .shape = {2}, .numel = 2, .data = shape,
                    .is_integer = true};
    CU_ASSERT(onnx_import_file_bound(a, d, p, NULL, &s, 1, &im) &&
              strstr(im.nnd_text, "y = reshape(x, [3, 2])") != NULL);
    arena_free(a);
    CU_ASSERT_FATAL(onnx_build(p, "input x 2,3 int64", "node Relu x -> y", "output y", NULL));
    CU_ASSERT(rejects(p, "ONNX operator 'Relu' (node 'Relu'): input 'x' has dtype INT64; only "
                         "FLOAT tensors are supported"));
    CU_ASSERT_FATAL(onnx_build(p, "input x 2,3", "input k 1 bool", "node Relu x -> y",
                               "output y", NULL));
    CU_ASSERT(rejects(p, "input 'k' has dtype BOOL; only FLOAT inputs are supported"));
}

static bool same_values(const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (fabs(a[i] - b[i]) > 1e-5 * fmax(1, fabs(b[i])))
            return false;
    return true;
}

/* A 1-D convolution or pool over [N, C, L] is the 2-D one over the [N, C, 1, L] view,
 * between two reshapes, and computes what the 2-D model on that view computes. */
static void test_onnx_ops_one_dimensional_windows(void) {
    const char *p = model_path("conv1d"), *q = model_path("conv2d");
    CU_ASSERT_FATAL(onnx_build(p, "input x N,2,7", "init W 3,2,3 ramp", "init B 3 1,2,3",
                               "node Conv x,W,B -> y strides=[2] pads=[1,0] dilations=[2]",
                               "output y", NULL));
    CU_ASSERT(writes(p, "y = reshape(x, [-1, 2, 1, 7]) -> conv2d(3, kernel=[1, 3], "
                        "stride=[1, 2], padding=[0, 1, 0, 0], dilation=[1, 2]) -> "
                        "reshape([-1, 3, 2])"));
    CU_ASSERT_FATAL(onnx_build(q, "input x N,2,1,7", "init W 3,2,1,3 ramp", "init B 3 1,2,3",
                               "node Conv x,W,B -> y strides=[1,2] pads=[0,1,0,0] "
                               "dilations=[1,2]",
                               "output y", NULL));
    float x[14], y[6], want[6];
    for (int i = 0; i < 14; i++)
        x[i] = (float)(i % 5) - 1.5f;
    int64_t s1[3] = {1, 2, 7}, s2[4] = {1, 2, 1, 7};
    CU_ASSERT_FATAL(run1(p, x, 14, 3, s1, y, 6) && run1(q, x, 14, 4, s2, want, 6));
    CU_ASSERT(same_values(y, want, 6));
    CU_ASSERT_FATAL(onnx_build(p, "input x 2,3,8", "node MaxPool x -> y kernel_shape=[3] "
                               "strides=[2] pads=[1,1]",
                               "output y", NULL));
    CU_ASSERT(writes(p, "y = reshape(x, [2, 3, 1, 8]) -> maxpool2d([1, 3], stride=[1, 2], "
                        "padding=[0, 1]) -> reshape([2, 3, 4])"));
    CU_ASSERT_FATAL(onnx_build(p, "input x 2,3,L", "node MaxPool x -> y kernel_shape=[3]",
                               "output y", NULL));
    CU_ASSERT(rejects(p, "a 1-D window needs an input [N, C, L] whose channels and length are "
                         "known statically"));
}

/* --- Pad ------------------------------------------------------------------------------------- */

/* Runs the model at path on x [1, 2, 5, 6] (a fixed ramp) into y (ny values). */
static bool run_image(const char *path, float *y, size_t ny) {
    static float x[60];
    for (int i = 0; i < 60; i++)
        x[i] = (float)((i * 11) % 13) / 4 - 1.5f;
    int64_t xs[4] = {1, 2, 5, 6};
    return run1(path, x, 60, 4, xs, y, ny);
}


/* A zero Pad before a Conv or an AveragePool, or a -inf Pad before a MaxPool, folds into
 * the window's padding and gives what the window with those pads gives. */
static void test_onnx_ops_pad_folds_into_window(void) {
    const char *p = model_path("pad"), *q = model_path("nopad");
    float y[2 * 6 * 7], want[2 * 6 * 7];
    CU_ASSERT_FATAL(onnx_build(p, "opset 11", "input x 1,2,5,6", "init W 2,2,3,3 ramp",
                               "int64 pads 8 0,0,1,2,0,0,2,1", "node Pad x,pads -> t",
                               "node Conv t,W -> y", "output y", NULL));
    CU_ASSERT(writes(p, "y = conv2d(x, 2, kernel=3, padding=[1, 2, 2, 1], bias=false)"));
    CU_ASSERT_FATAL(onnx_build(q, "input x 1,2,5,6", "init W 2,2,3,3 ramp",
                               "node Conv x,W -> y pads=[1,2,2,1]", "output y", NULL));
    CU_ASSERT_FATAL(run_image(p, y, 2 * 6 * 7) && run_image(q, want, 2 * 6 * 7));
    CU_ASSERT(same_values(y, want, 2 * 6 * 7));
    /* opset 2's attributes; zeros counted by the average as the explicit pad counts them */
    CU_ASSERT_FATAL(onnx_build(p, "opset 7", "input x 1,2,5,6",
                               "node Pad x -> t pads=[0,0,1,1,0,0,1,1]",
                               "node AveragePool t -> y kernel_shape=[3,3]", "output y", NULL));
    CU_ASSERT(writes(p, "y = avgpool2d(x, 3, stride=1, padding=1, count_include_pad=true)"));
    CU_ASSERT_FATAL(onnx_build(q, "opset 7", "input x 1,2,5,6",
                               "node AveragePool x -> y kernel_shape=[3,3] pads=[1,1,1,1] "
                               "count_include_pad=1",
                               "output y", NULL));
    CU_ASSERT_FATAL(run_image(p, y, 2 * 5 * 6) && run_image(q, want, 2 * 5 * 6));
    CU_ASSERT(same_values(y, want, 2 * 5 * 6));
    CU_ASSERT_FATAL(onnx_build(p, "opset 7", "input x 1,2,5,6",
                               "node Pad x -> t pads=[0,0,1,0,0,0,0,1] value=-1e40",
                               "node MaxPool t -> y kernel_shape=[2,2]", "output y", NULL));
    CU_ASSERT(writes(p, "y = maxpool2d(x, 2, stride=1, padding=[1, 0, 0, 1])"));
}

/* Every other Pad is refused with its reason. */
static void test_onnx_ops_pad_refused_by_reason(void) {
    const char *p = model_path("pad_bad");
    CU_ASSERT_FATAL(onnx_build(p, "opset 7", "input x 1,2,5,6",
                               "node Pad x -> t pads=[0,0,1,1,0,0,1,1]", "node Relu t -> y",
                               "output y", NULL));
    CU_ASSERT(rejects(p, "ONNX operator 'Pad' (node 'Pad'): not supported: its output is read "
                         "by 'Relu' (node 'Relu'), not as the input of a Conv or pool (a Pad "
                         "maps only when folded into the Conv or pool that reads it)"));
    CU_ASSERT_FATAL(onnx_build(p, "opset 7", "input x 1,2,5,6",
                               "node Pad x -> y pads=[0,0,1,1,0,0,1,1]", "output y", NULL));
    CU_ASSERT(rejects(p, "not supported: its output is a graph output"));
    CU_ASSERT_FATAL(onnx_build(p, "opset 7", "input x 1,2,5,6",
                               "node Pad x -> t pads=[0,0,1,1,0,0,1,1] mode=\"reflect\"",
                               "node Conv t,t -> y", "output y", NULL));
    CU_ASSERT(rejects(p, "not supported: mode=reflect has no .nnd form"));
    CU_ASSERT_FATAL(onnx_build(p, "opset 7", "input x 1,2,5,6",
                               "node Pad x -> t pads=[0,1,1,1,0,0,1,1]",
                               "node MaxPool t -> y kernel_shape=[2,2]", "output y", NULL));
    CU_ASSERT(rejects(p, "not supported: only the height and width can be padded"));
    CU_ASSERT_FATAL(onnx_build(p, "opset 7", "input x 1,2,5,6",
                               "node Pad x -> t pads=[0,0,1,1,0,0,1,1]",
                               "node MaxPool t -> y kernel_shape=[2,2]", "output y", NULL));
    CU_ASSERT(rejects(p, "not supported: a MaxPool absorbs only -inf padding"));
}

/* --- normalizations --------------------------------------------------------------------------- */

/* LayerNormalization over the axes from 1 on normalizes a [-1, 12] view and reshapes back;
 * Mean and InvStdDev come from the same view; the results match the formula. */
static void test_onnx_ops_layernorm_axes_and_statistics(void) {
    const char *p = model_path("ln");
    CU_ASSERT_FATAL(onnx_build(p, "opset 17", "input x N,3,4", "init s 3,4 ramp",
                               "init b 3,4 ramp", "node LayerNormalization x,s,b -> y,m,inv "
                               "axis=1 epsilon=0.01",
                               "output y", "output m", "output inv", NULL));
    CU_ASSERT(writes(p, "y = reshape(x, [-1, 12]) -> layernorm(eps=0.00999999978) -> "
                        "reshape([-1, 3, 4])"));
    CU_ASSERT(writes(p, "m = reshape(LayerNormalization_mean, [-1, 1, 1])"));
    CU_ASSERT(writes(p, "inv = div(sqrt(LayerNormalization_var), LayerNormalization_var) -> "
                        "reshape([-1, 1, 1])"));
    nnd_options opt;
    nnd_options_init(&opt);
    nnd_model *m = NULL;
    char *err = NULL;
    CU_ASSERT_EQUAL_FATAL(nnd_model_compile_file(p, &opt, &m, &err), NND_OK);
    nnd_string_free(err);
    nnd_context *ctx = NULL;
    CU_ASSERT_EQUAL_FATAL(nnd_context_create(m, &ctx), NND_OK);
    float x[24], y[24], mean[2], inv[2];
    for (int i = 0; i < 24; i++)
        x[i] = (float)((i * 5) % 7) - 2.5f;
    int64_t xs[3] = {2, 3, 4};
    nnd_tensor in = {x, 24, 3, xs, {0}};
    nnd_tensor out[3] = {{y, 24, 0, NULL, {0}}, {mean, 2, 0, NULL, {0}}, {inv, 2, 0, NULL, {0}}};
    CU_ASSERT_EQUAL(nnd_run(ctx, &in, 1, out, 3), NND_OK);
    for (int r = 0; r < 2; r++) {
        double mu = 0, var = 0;
        for (int i = 0; i < 12; i++)
            mu += x[r * 12 + i] / 12.0;
        for (int i = 0; i < 12; i++)
            var += (x[r * 12 + i] - mu) * (x[r * 12 + i] - mu) / 12.0;
        double is = 1 / sqrt(var + 0.01);
        CU_ASSERT(fabs(mean[r] - mu) < 1e-5 && fabs(inv[r] - is) < 1e-5 * is);
        for (int i = 0; i < 12; i++) {
            double ramp = 2.0 * ((i * 7) % 12) / 12 - 1; /* s and b */
            double want = (x[r * 12 + i] - mu) * is * ramp + ramp;
            CU_ASSERT(fabs(y[r * 12 + i] - want) < 1e-5 + 1e-5 * fabs(want));
        }
    }
    nnd_context_destroy(ctx);
    nnd_model_destroy(m);
}

/* Constant tensors used as operands (a learned scale, a bias added by hand) and as a graph
 * output become param statements whose tensors hold their values; the JIT then computes
 * y = x * s + c and returns k as it is. */
static void test_onnx_ops_constant_tensors_become_params(void) {
    const char *p = model_path("consts");
    CU_ASSERT_FATAL(onnx_build(p, "input x 2,3", "init s 3 1,2,3", "init c 2,3 ramp",
                               "init k 2 0.5,-1", "node Mul x,s -> m", "node Add c,m -> y",
                               "output y", "output k", NULL));
    CU_ASSERT(writes(p, "s = param([3])"));
    CU_ASSERT(writes(p, "c = param([2, 3])"));
    CU_ASSERT(writes(p, "output k\n"));
    nnd_options o;
    nnd_options_init(&o);
    nnd_model *m = NULL;
    char *err = NULL;
    CU_ASSERT_EQUAL_FATAL(nnd_model_compile_file(p, &o, &m, &err), NND_OK);
    float x[6] = {1, -1, 2, 0.5f, 4, -2}, y[6], k[2];
    int64_t shape[2] = {2, 3};
    nnd_tensor in = {.data = x, .count = 6, .rank = 2, .shape = shape};
    nnd_tensor out[2] = {{.data = y, .count = 6}, {.data = k, .count = 2}};
    nnd_context *ctx = NULL;
    CU_ASSERT_EQUAL_FATAL(nnd_context_create(m, &ctx), NND_OK);
    CU_ASSERT_EQUAL_FATAL(nnd_run(ctx, &in, 1, out, 2), NND_OK);
    for (int i = 0; i < 6; i++) {
        float ramp = -1.0f + 2.0f * (float)i / 6.0f; /* unit_onnx_build's "ramp" */
        CU_ASSERT(fabsf(y[i] - (x[i] * (float)(i % 3 + 1) + ramp)) < 1e-6f);
    }
    CU_ASSERT(k[0] == 0.5f && k[1] == -1.0f);
    nnd_context_destroy(ctx);
    nnd_model_destroy(m);
    /* an integer constant tensor stays refused, by name */
    CU_ASSERT_FATAL(onnx_build(p, "input x 2,3", "int64 s 3 1,2,3", "node Mul x,s -> y",
                               "output y", NULL));
    CU_ASSERT(rejects(p, "an integer constant tensor is not supported"));
}

NND_SUITE("onnx_ops", test_onnx_ops_constant_tensors_become_params, test_onnx_ops_operator_version_checked,
          test_onnx_ops_batchnorm_legacy_attributes, test_onnx_ops_dropout_modes,
          test_onnx_ops_legacy_broadcast, test_onnx_ops_gemm_alpha_beta_trans_a,
          test_onnx_ops_hard_sigmoid_and_selu_constants, test_onnx_ops_clip_bounds_as_inputs,
          test_onnx_ops_transpose_of_constant_folds, test_onnx_ops_layer_name_never_clashes,
          test_onnx_ops_static_sizes_resolve_views,
          test_onnx_ops_same_padding_with_stride, test_onnx_ops_constant_subgraphs_fold,
          test_onnx_ops_integer_inputs_bound_as_constants, test_onnx_ops_one_dimensional_windows,
          test_onnx_ops_pad_folds_into_window,
          test_onnx_ops_pad_refused_by_reason, test_onnx_ops_layernorm_axes_and_statistics)
