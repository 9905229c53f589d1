/* test_onnx.c: the ONNX importer (issue 6): PyTorch-exported models (tests/onnx/, made by
 * make_models.py) run through nndc (the runtime's compile-from-file) and through
 * `nndc import` + the .nnd, matching PyTorch; malformed files fail cleanly with status 1. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnd.h"
#include "npy.h"
#include "onnx.pb-c.h"
#include "onnx_import.h"
#include "unit_harness.h"
#include "unit_shell.h"

#define NNDC NND_BINARY_DIR "/nndc"
#define ONNX_DIR NND_SOURCE_DIR "/tests/onnx"

static double max_rel_error(const char *got_path, const char *want_path) {
    NpyArray got, want;
    char err[256];
    if (!npy_read(got_path, &got, err, sizeof err))
        return INFINITY;
    if (!npy_read(want_path, &want, err, sizeof err)) {
        npy_free(&got);
        return INFINITY;
    }
    double worst = got.numel == want.numel ? 0 : INFINITY, scale = 0;
    for (int64_t i = 0; i < want.numel; i++)
        scale = fmax(scale, fabs(want.data[i]));
    for (int64_t i = 0; i < want.numel && got.numel == want.numel; i++)
        worst = fmax(worst, fabs(got.data[i] - want.data[i]) / fmax(scale, 1e-30));
    npy_free(&got);
    npy_free(&want);
    return worst;
}

static void check_model(const char *name) {
    const char *dir = sh_tmpdir();
    CU_ASSERT_FATAL(dir[0] != 0);
    char got[256], want[256];
    snprintf(want, sizeof want, ONNX_DIR "/%s.output.npy", name);
    snprintf(got, sizeof got, "%s/%s.direct.npy", dir, name);
    CU_ASSERT_EQUAL(sh(NNDC " run " ONNX_DIR "/%s.onnx --input x=" ONNX_DIR "/%s.input.npy "
                       "--output y=%s", name, name, got), 0);
    CU_ASSERT(max_rel_error(got, want) < 1e-4);
    CU_ASSERT_EQUAL(sh(NNDC " import " ONNX_DIR "/%s.onnx -o %s/%s.nnd", name, dir, name), 0);
    snprintf(got, sizeof got, "%s/%s.imported.npy", dir, name);
    CU_ASSERT_EQUAL(sh(NNDC " run %s/%s.nnd --input x=" ONNX_DIR "/%s.input.npy --output y=%s",
                       dir, name, name, got), 0);
    CU_ASSERT(max_rel_error(got, want) < 1e-4);
    CU_ASSERT_EQUAL(sh(NNDC " check " ONNX_DIR "/%s.onnx", name), 0);
}

static void test_onnx_mlp_matches_pytorch(void) { check_model("mlp"); }
static void test_onnx_lenet5_opset13_matches_pytorch(void) { check_model("lenet5_op13"); }
static void test_onnx_lenet5_opset9_matches_pytorch(void) { check_model("lenet5_op9"); }
static void test_onnx_padconv_opset9_matches_pytorch(void) { check_model("padconv_op9"); }
static void test_onnx_padconv_opset13_matches_pytorch(void) { check_model("padconv_op13"); }

static bool write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f)
        return false;
    bool ok = fwrite(data, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

/* Every prefix of a small model, through the importer in-process: no crash, an error. */
static void test_onnx_truncated_files_fail_cleanly(void) {
    FILE *f = fopen(ONNX_DIR "/mlp.onnx", "rb");
    CU_ASSERT_FATAL(f != NULL);
    static unsigned char bytes[1 << 16];
    size_t n = fread(bytes, 1, sizeof bytes, f);
    fclose(f);
    CU_ASSERT_FATAL(n > 0 && n < sizeof bytes);
    char path[256];
    snprintf(path, sizeof path, "%s/trunc.onnx", sh_tmpdir());
    int failed = 0;
    for (size_t len = 0; len < n; len++) {
        CU_ASSERT_FATAL(write_bytes(path, bytes, len));
        Arena *a = arena_new();
        Diag *d = diag_new(a);
        OnnxImport im;
        failed += !onnx_import_file(a, d, path, NULL, &im) && diag_count(d) > 0;
        arena_free(a);
    }
    CU_ASSERT_EQUAL(failed, (int)n);
    /* and through nndc, a few lengths */
    for (size_t len = 0; len < n; len += n / 7) {
        CU_ASSERT_FATAL(write_bytes(path, bytes, len));
        CU_ASSERT_EQUAL(sh(NNDC " check %s", path), 1);
    }
}

static void test_onnx_garbage_and_empty_exit_1(void) {
    char path[256];
    snprintf(path, sizeof path, "%s/empty.onnx", sh_tmpdir());
    CU_ASSERT_FATAL(write_bytes(path, "", 0));
    CU_ASSERT_EQUAL(sh(NNDC " import %s -o %s/e.nnd", path, sh_tmpdir()), 1);
    CU_ASSERT(strstr(sh_out, "not a valid ONNX model") != NULL);
    unsigned char junk[4096];
    unsigned s = 12345;
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (unsigned char)((s = s * 1103515245u + 12345u) >> 16);
    snprintf(path, sizeof path, "%s/junk.onnx", sh_tmpdir());
    CU_ASSERT_FATAL(write_bytes(path, junk, sizeof junk));
    CU_ASSERT_EQUAL(sh(NNDC " run %s --input x=" ONNX_DIR "/mlp.input.npy", path), 1);
    CU_ASSERT_EQUAL(sh(NNDC " check " ONNX_DIR "/does-not-exist.onnx"), 1);
}

/* A model with an operator outside SPEC 1.4 names it and its node. */
static void test_onnx_unsupported_operator_named(void) {
    const char *cases = "/usr/share/libonnx-testdata/data/node/test_erf/model.onnx";
    FILE *f = fopen(cases, "rb");
    if (!f)
        return; /* libonnx-testdata absent */
    fclose(f);
    char path[256];
    snprintf(path, sizeof path, "%s/erf.onnx", sh_tmpdir());
    CU_ASSERT_EQUAL(sh("cp %s %s", cases, path), 0);
    CU_ASSERT_EQUAL(sh(NNDC " check %s", path), 1);
    CU_ASSERT(strstr(sh_out, "unsupported ONNX operator 'Erf' (node 'y") != NULL);
}

/* A LayerNormalization model, X [2, 4] -> Y, over the last axis with epsilon 1e-3; Scale
 * (and B, unless no_bias) are initializers, or graph inputs when scale_as_input. */
static bool write_layernorm_model(const char *path, bool scale_as_input, bool no_bias,
                                  int64_t axis) {
    static float scale[4] = {1, 2, 0.5f, -1}, bias[4] = {0.1f, -0.2f, 0.3f, 0};
    int64_t xdims[2] = {2, 4}, pdims[1] = {4};
    Onnx__TensorShapeProto__Dimension d[2], *dp[2];
    for (int i = 0; i < 2; i++) {
        onnx__tensor_shape_proto__dimension__init(&d[i]);
        d[i].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
        d[i].dim_value = xdims[i];
        dp[i] = &d[i];
    }
    Onnx__TensorShapeProto xs = ONNX__TENSOR_SHAPE_PROTO__INIT, ps = ONNX__TENSOR_SHAPE_PROTO__INIT;
    xs.n_dim = 2, xs.dim = dp;
    ps.n_dim = 1, ps.dim = dp + 1;
    Onnx__TypeProto__Tensor xt = ONNX__TYPE_PROTO__TENSOR__INIT, pt = ONNX__TYPE_PROTO__TENSOR__INIT;
    xt.has_elem_type = pt.has_elem_type = true;
    xt.elem_type = pt.elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    xt.shape = &xs, pt.shape = &ps;
    Onnx__TypeProto xty = ONNX__TYPE_PROTO__INIT, pty = ONNX__TYPE_PROTO__INIT;
    xty.value_case = pty.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    xty.tensor_type = &xt, pty.tensor_type = &pt;
    Onnx__ValueInfoProto xin = ONNX__VALUE_INFO_PROTO__INIT, sin = ONNX__VALUE_INFO_PROTO__INIT,
                         yout = ONNX__VALUE_INFO_PROTO__INIT;
    xin.name = "X", xin.type = &xty;
    sin.name = "S", sin.type = &pty;
    yout.name = "Y", yout.type = &xty;
    Onnx__TensorProto st = ONNX__TENSOR_PROTO__INIT, bt = ONNX__TENSOR_PROTO__INIT;
    st.name = "S", bt.name = "B";
    st.has_data_type = bt.has_data_type = true;
    st.data_type = bt.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    st.n_dims = bt.n_dims = 1;
    st.dims = bt.dims = pdims;
    st.n_float_data = bt.n_float_data = 4;
    st.float_data = scale, bt.float_data = bias;
    Onnx__AttributeProto ax = ONNX__ATTRIBUTE_PROTO__INIT, ep = ONNX__ATTRIBUTE_PROTO__INIT;
    ax.name = "axis", ax.has_type = true, ax.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    ax.has_i = true, ax.i = axis;
    ep.name = "epsilon", ep.has_type = true, ep.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
    ep.has_f = true, ep.f = 1e-3f;
    Onnx__AttributeProto *attrs[2] = {&ax, &ep};
    char *ins[3] = {"X", "S", "B"}, *outs[1] = {"Y"};
    Onnx__NodeProto node = ONNX__NODE_PROTO__INIT;
    node.name = "ln", node.op_type = "LayerNormalization";
    node.n_input = no_bias ? 2 : 3, node.input = ins;
    node.n_output = 1, node.output = outs;
    node.n_attribute = 2, node.attribute = attrs;
    Onnx__NodeProto *nodes[1] = {&node};
    Onnx__TensorProto *inits[2];
    size_t ninit = 0;
    if (!scale_as_input)
        inits[ninit++] = &st;
    if (!no_bias)
        inits[ninit++] = &bt;
    Onnx__ValueInfoProto *gin[2] = {&xin, &sin}, *gout[1] = {&yout};
    Onnx__GraphProto g = ONNX__GRAPH_PROTO__INIT;
    g.name = "ln", g.n_node = 1, g.node = nodes;
    g.n_initializer = ninit, g.initializer = inits;
    g.n_input = scale_as_input ? 2 : 1, g.input = gin;
    g.n_output = 1, g.output = gout;
    Onnx__OperatorSetIdProto op = ONNX__OPERATOR_SET_ID_PROTO__INIT, *ops[1] = {&op};
    op.domain = "", op.has_version = true, op.version = 17;
    Onnx__ModelProto m = ONNX__MODEL_PROTO__INIT;
    m.has_ir_version = true, m.ir_version = 8;
    m.n_opset_import = 1, m.opset_import = ops;
    m.graph = &g;
    size_t n = onnx__model_proto__get_packed_size(&m);
    uint8_t *buf = malloc(n);
    if (!buf)
        return false;
    onnx__model_proto__pack(&m, buf);
    bool ok = write_bytes(path, buf, n);
    free(buf);
    return ok;
}

/* LayerNormalization on the last axis becomes layernorm and matches the formula. */
static void test_onnx_layernorm_last_axis(void) {
    static const float scale[4] = {1, 2, 0.5f, -1}, bias[4] = {0.1f, -0.2f, 0.3f, 0};
    for (int variant = 0; variant < 3; variant++) { /* bias; no bias; axis=1 (the last) */
        bool no_bias = variant == 1;
        char path[256];
        snprintf(path, sizeof path, "%s/ln%d.onnx", sh_tmpdir(), variant);
        CU_ASSERT_FATAL(write_layernorm_model(path, false, no_bias, variant == 2 ? 1 : -1));
        Arena *a = arena_new();
        Diag *d = diag_new(a);
        OnnxImport im;
        CU_ASSERT_TRUE(onnx_import_file(a, d, path, NULL, &im));
        CU_ASSERT(im.nnd_text && strstr(im.nnd_text, "layernorm(X, eps=0.001") != NULL);
        CU_ASSERT_EQUAL(im.weights.ntensors, 2);
        arena_free(a);
        nnd_options opt;
        nnd_options_init(&opt);
        nnd_model *m = NULL;
        char *err = NULL;
        CU_ASSERT_EQUAL_FATAL(nnd_model_compile_file(path, &opt, &m, &err), NND_OK);
        nnd_string_free(err);
        nnd_context *ctx = NULL;
        CU_ASSERT_EQUAL_FATAL(nnd_context_create(m, &ctx), NND_OK);
        float x[8] = {1, 2, 3, 4, -1, 0.5f, 7, 2}, y[8] = {0};
        int64_t shape[2] = {2, 4};
        nnd_tensor in = {x, 8, 2, shape, {0}}, out = {y, 8, 0, NULL, {0}};
        CU_ASSERT_EQUAL(nnd_run(ctx, &in, 1, &out, 1), NND_OK);
        for (int r = 0; r < 2; r++) {
            double mean = 0, var = 0;
            for (int i = 0; i < 4; i++)
                mean += x[r * 4 + i] / 4.0;
            for (int i = 0; i < 4; i++)
                var += (x[r * 4 + i] - mean) * (x[r * 4 + i] - mean) / 4.0;
            for (int i = 0; i < 4; i++) {
                double want = (x[r * 4 + i] - mean) / sqrt(var + 1e-3) * scale[i] +
                              (no_bias ? 0 : bias[i]);
                CU_ASSERT(fabs(y[r * 4 + i] - want) <= 1e-5 + 1e-4 * fabs(want));
            }
        }
        nnd_context_destroy(ctx);
        nnd_model_destroy(m);
    }
    /* axis 0 normalizes all 8 values: the 4-value Scale does not fit */
    char path[256];
    snprintf(path, sizeof path, "%s/ln_axis0.onnx", sh_tmpdir());
    CU_ASSERT_FATAL(write_layernorm_model(path, false, false, 0));
    Arena *a = arena_new();
    Diag *d = diag_new(a);
    OnnxImport im;
    CU_ASSERT_FALSE(onnx_import_file(a, d, path, NULL, &im));
    CU_ASSERT(strstr(diag_text(d), "'LayerNormalization' (node 'ln'): Scale must be a float "
                                   "constant with one value per normalized element") != NULL);
    arena_free(a);
}

/* A weight given as a graph input is named; bound to a value, it becomes a constant. */
static void test_onnx_bound_graph_input(void) {
    char path[256];
    snprintf(path, sizeof path, "%s/ln_bound.onnx", sh_tmpdir());
    CU_ASSERT_FATAL(write_layernorm_model(path, true, false, -1));
    Arena *a = arena_new();
    Diag *d = diag_new(a);
    OnnxImport im;
    CU_ASSERT_FALSE(onnx_import_file(a, d, path, NULL, &im));
    CU_ASSERT(strstr(diag_text(d), "the scale Scale ('S') must be an initializer or a constant") !=
              NULL);
    float s[4] = {1, 1, 1, 1};
    OnnxTensor b = {.name = "S", .rank = 1, .shape = {4}, .numel = 4, .data = s};
    d = diag_new(a);
    CU_ASSERT_TRUE(onnx_import_file_bound(a, d, path, NULL, &b, 1, &im));
    CU_ASSERT(im.nnd_text && strstr(im.nnd_text, "input S") == NULL &&
              strstr(im.nnd_text, "layernorm(X") != NULL);
    b.name = "nope";
    d = diag_new(a);
    CU_ASSERT_FALSE(onnx_import_file_bound(a, d, path, NULL, &b, 1, &im));
    CU_ASSERT(strstr(diag_text(d), "not a graph input") != NULL);
    arena_free(a);
}

/* Found by fuzz_onnx: a nan attribute reached a float-to-integer conversion (undefined). */
static void test_onnx_nonfinite_attribute_reported(void) {
    Arena *a = arena_new();
    Diag *d = diag_new(a);
    OnnxImport im;
    CU_ASSERT_FALSE(onnx_import_file(
        a, d, NND_SOURCE_DIR "/tests/fuzz_regressions/onnx/leaky_relu_nan_alpha.onnx", NULL, &im));
    CU_ASSERT(strstr(diag_text(d), "'LeakyRelu' (node 'y'): alpha is -nan; only finite numbers "
                                   "are supported") != NULL);
    arena_free(a);
}

/* Found by fuzz_onnx: a Constant whose value holds fewer numbers than its shape was
 * reported, but stayed defined with a shape and no values; a later Add read its value
 * through a NULL pointer. */
static void test_onnx_bad_constant_not_used_later(void) {
    Arena *a = arena_new();
    Diag *d = diag_new(a);
    OnnxImport im;
    CU_ASSERT_FALSE(onnx_import_file(
        a, d, NND_SOURCE_DIR "/tests/fuzz_regressions/onnx/constant_without_values.onnx", NULL,
        &im));
    CU_ASSERT(strstr(diag_text(d), "constant '/Constant' holds 0 values, but its shape needs 1") !=
              NULL);
    arena_free(a);
}

/* Found by reading the importer after the fuzzer's finds (tests/fuzz_regressions/onnx/audit_*,
 * replayed under UBSan by ctest): constants converted to int64_t without a range check
 * (undefined for nan and 1e30), 2 * pad overflowing, and an opset of 2^32 + 13 read as 13. */
static void test_onnx_out_of_range_numbers_reported(void) {
    static const char *const cases[][2] = {
        {"reshape_float_shape", "'Reshape' (node 'y'): the shape holds a value that is not a size"},
        {"concat_float_shape", "'Concat' (node 'sh'): a shape vector holds a value that is not a "
                               "size"},
        {"gather_nan_index", "'Gather' (node 'g'): the index is not an integer in range"},
        {"maxpool_huge_pads", "'MaxPool' (node 'y'): padding larger than half the kernel"},
        {"opset_wraps", "unsupported ONNX opset 4294967309 (supported: 1 to 17)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[512];
        snprintf(path, sizeof path, NND_SOURCE_DIR "/tests/fuzz_regressions/onnx/audit_%s.onnx",
                 cases[i][0]);
        Arena *a = arena_new();
        Diag *d = diag_new(a);
        OnnxImport im;
        CU_ASSERT_FALSE(onnx_import_file(a, d, path, NULL, &im));
        if (!strstr(diag_text(d), cases[i][1]))
            fprintf(stderr, "\n%s: %s", cases[i][0], diag_text(d));
        CU_ASSERT(strstr(diag_text(d), cases[i][1]) != NULL);
        arena_free(a);
    }
}

NND_SUITE("onnx", test_onnx_mlp_matches_pytorch, test_onnx_lenet5_opset13_matches_pytorch,
          test_onnx_lenet5_opset9_matches_pytorch, test_onnx_padconv_opset9_matches_pytorch,
          test_onnx_padconv_opset13_matches_pytorch, test_onnx_truncated_files_fail_cleanly,
          test_onnx_garbage_and_empty_exit_1, test_onnx_unsupported_operator_named,
          test_onnx_layernorm_last_axis, test_onnx_bound_graph_input,
          test_onnx_nonfinite_attribute_reported, test_onnx_bad_constant_not_used_later,
          test_onnx_out_of_range_numbers_reported)
