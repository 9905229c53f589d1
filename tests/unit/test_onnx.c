/* test_onnx.c: the ONNX importer (issue 6): PyTorch-exported models (tests/onnx/, made by
 * make_models.py) run through nndc (the runtime's compile-from-file) and through
 * `nndc import` + the .nnd, matching PyTorch; malformed files fail cleanly with status 1. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npy.h"
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

NND_SUITE("onnx", test_onnx_mlp_matches_pytorch, test_onnx_lenet5_opset13_matches_pytorch,
          test_onnx_lenet5_opset9_matches_pytorch, test_onnx_truncated_files_fail_cleanly,
          test_onnx_garbage_and_empty_exit_1, test_onnx_unsupported_operator_named)
