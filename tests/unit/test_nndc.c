/* test_nndc.c: the nndc command line as users call it (SPEC section 4): every command's
 * output and exit status (0 success, 1 user errors, LLVM's fatal errors among them, 2 usage,
 * 3 internal), `run` against PyTorch through .npy files, every emit stage, and Graphviz
 * accepting `emit dot`. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "npy.h"
#include "unit_harness.h"
#include "unit_shell.h"

#define NNDC NND_BINARY_DIR "/nndc"
#define DIGITS NND_SOURCE_DIR "/examples/digits"


static char tmpdir[64];

static void make_tmpdir(void) {
    if (!tmpdir[0])
        snprintf(tmpdir, sizeof tmpdir, "%s", sh_tmpdir());
    CU_ASSERT_FATAL(tmpdir[0] != 0);
}

static void test_nndc_usage_errors_exit_2(void) {
    CU_ASSERT_EQUAL(sh(NNDC), 2);
    CU_ASSERT_EQUAL(sh(NNDC " frobnicate x.nnd"), 2);
    CU_ASSERT(strstr(sh_out, "unknown command 'frobnicate'") != NULL);
    CU_ASSERT_EQUAL(sh(NNDC " run examples/digits/digits.nnd --bogus"), 2);
    CU_ASSERT(strstr(sh_out, "unknown option '--bogus'") != NULL);
    CU_ASSERT_EQUAL(sh(NNDC " run examples/digits/digits.nnd --input pixels"), 2);
    CU_ASSERT_EQUAL(sh(NNDC " check"), 2);
    CU_ASSERT_EQUAL(sh(NNDC " emit"), 2);
    CU_ASSERT_EQUAL(sh(NNDC " emit bytecode examples/digits/digits.nnd"), 2);
    CU_ASSERT_EQUAL(sh(NNDC " check --init random:xyz examples/digits/digits.nnd"), 2);
    CU_ASSERT_EQUAL(sh(NNDC " check -O7 examples/digits/digits.nnd"), 2);
    CU_ASSERT_EQUAL(sh(NNDC " --help"), 0);
    CU_ASSERT(strstr(sh_out, "usage: nndc") != NULL);
    CU_ASSERT_EQUAL(sh(NNDC " --version"), 0);
    CU_ASSERT(strstr(sh_out, "LLVM 19") != NULL);
}

static void test_nndc_check_prints_the_table(void) {
    CU_ASSERT_EQUAL(sh(NNDC " check examples/digits/digits.nnd"), 0);
    CU_ASSERT(strstr(sh_out, "hidden1.dense") != NULL);
    CU_ASSERT(strstr(sh_out, "[N, 32]") != NULL);
    CU_ASSERT(strstr(sh_out, "2,080 (hidden1.weight [32, 64], hidden1.bias [32])") != NULL);
    CU_ASSERT(strstr(sh_out, "parameters: 2,778") != NULL);
    CU_ASSERT(strstr(sh_out, "outputs: probs [N, 10]") != NULL);
}

static void test_nndc_user_errors_exit_1(void) {
    CU_ASSERT_EQUAL(sh(NNDC " check tests/golden/diagnostics/three_mistakes.nnd"), 1);
    CU_ASSERT(strstr(sh_out, "three_mistakes.nnd:5:13: error: unknown operator 'desne'") != NULL);
    CU_ASSERT_EQUAL(sh(NNDC " check /nonexistent/model.nnd"), 1);
    CU_ASSERT(strstr(sh_out, "/nonexistent/model.nnd: error: cannot read model") != NULL);
    CU_ASSERT_EQUAL(sh(NNDC " run tests/golden/diagnostics/syntax.nnd --input x=a.npy"), 1);
    /* A fatal error inside LLVM: riscv64's default CPU has no floating-point unit for
     * LeNet-5's vector code (it aborted with a core dump); a CPU with one builds. */
    make_tmpdir();
    CU_ASSERT_EQUAL(sh(NNDC " build examples/lenet5/lenet5.nnd -o %s/rv.o --target "
                            "riscv64-linux-gnu", tmpdir), 1);
    CU_ASSERT(strstr(sh_out, "error: LLVM cannot generate the code for this target") != NULL);
    CU_ASSERT_EQUAL(sh(NNDC " build examples/lenet5/lenet5.nnd -o %s/rv.o --target "
                            "riscv64-linux-gnu --cpu sifive-u74", tmpdir), 0);
}

static void test_nndc_run_matches_pytorch(void) {
    make_tmpdir();
    CU_ASSERT_EQUAL_FATAL(sh(NNDC " run examples/digits/digits.nnd --input pixels=" DIGITS
                             "/test_x.npy --output probs=%s/probs.npy", tmpdir), 0);
    char path[256], msg[256];
    snprintf(path, sizeof path, "%s/probs.npy", tmpdir);
    NpyArray got = {0}, want = {0};
    CU_ASSERT_FATAL(npy_read(path, &got, msg, sizeof msg));
    CU_ASSERT_FATAL(npy_read(DIGITS "/expected_probs.npy", &want, msg, sizeof msg));
    CU_ASSERT_EQUAL_FATAL(got.numel, want.numel);
    CU_ASSERT_EQUAL(got.rank, 2);
    CU_ASSERT_EQUAL(got.shape[1], 10);
    double worst = 0;
    for (int64_t i = 0; i < got.numel; i++) {
        double rel = fabs((double)got.data[i] - want.data[i]) / fmax(fabs(want.data[i]), 1e-3);
        worst = rel > worst ? rel : worst;
    }
    CU_ASSERT(worst < 1e-5);
    npy_free(&got);
    npy_free(&want);
    /* Without --output, the tensor is printed. */
    CU_ASSERT_EQUAL(sh(NNDC " run examples/digits/digits.nnd --input pixels=" DIGITS "/test_x.npy"), 0);
    CU_ASSERT(strncmp(sh_out, "probs [360, 10]\n", 16) == 0);
}

static void test_nndc_run_tensor_errors_exit_1(void) {
    make_tmpdir();
    const char *m = "examples/digits/digits.nnd";
    CU_ASSERT_EQUAL(sh(NNDC " run %s", m), 1);
    CU_ASSERT(strstr(sh_out, "missing input 'pixels'") != NULL);
    CU_ASSERT_EQUAL(sh(NNDC " run %s --input pixel=" DIGITS "/test_x.npy", m), 1);
    CU_ASSERT(strstr(sh_out, "no input 'pixel'") != NULL);
    /* test_y is [360]: the wrong rank for pixels. */
    CU_ASSERT_EQUAL(sh(NNDC " run %s --input pixels=" DIGITS "/test_y.npy", m), 1);
    CU_ASSERT(strstr(sh_out, "rank") != NULL);
    CU_ASSERT_EQUAL(sh(NNDC " run %s --input pixels=/nonexistent.npy", m), 1);
    /* An integer .npy: SPEC 4 accepts f32 and f64 only. */
    CU_ASSERT_EQUAL(sh(NNDC " run %s --input pixels=tests/data/npy/i64.npy", m), 1);
    CU_ASSERT(strstr(sh_out, "unsupported dtype '<i8'") != NULL);
    CU_ASSERT_EQUAL(sh(NNDC " run %s --input pixels=" DIGITS "/digits.nnd", m), 1);
    CU_ASSERT_EQUAL(sh(NNDC " run %s --input pixels=" DIGITS "/test_x.npy --output nope=%s/n.npy",
                       m, tmpdir), 1);
    CU_ASSERT(strstr(sh_out, "no output 'nope'") != NULL);
    CU_ASSERT_EQUAL(sh(NNDC " run %s --input pixels=" DIGITS "/test_x.npy --output "
                       "probs=/nonexistent/dir/p.npy", m), 1);
}

static void test_nndc_emit_every_stage(void) {
    const char *stages[] = {"ast", "graph", "opt", "llvm", "llvm-opt", "asm", "dot"};
    for (size_t i = 0; i < sizeof stages / sizeof stages[0]; i++) {
        CU_ASSERT_EQUAL(sh(NNDC " emit %s examples/digits/digits.nnd", stages[i]), 0);
        CU_ASSERT(strlen(sh_out) > 100);
    }
    CU_ASSERT_EQUAL(sh(NNDC " emit llvm examples/digits/digits.nnd"), 0);
    CU_ASSERT(strstr(sh_out, "define void @nnd_forward(ptr %inputs, ptr %outputs") != NULL);
    CU_ASSERT(strstr(sh_out, "@hidden1.weight.packed = private unnamed_addr constant [8192 x i8]") != NULL);
    make_tmpdir();
    CU_ASSERT_EQUAL(sh(NNDC " emit graph examples/digits/digits.nnd -o %s/g.txt && cat %s/g.txt",
                       tmpdir, tmpdir), 0);
    CU_ASSERT(strstr(sh_out, "hidden1 = relu(hidden1.dense) : [N, 32]") != NULL);
}

/* The assembly uses the widest vectors this CPU has: the target machine is the host's. */
/* The widest vectors the host has appear in the kernels (the dense kernel uses the native
 * width): zmm with AVX-512, ymm with AVX2. */
static void test_nndc_asm_uses_host_vectors(void) {
    bool avx512 = sh("grep -q -w avx512f /proc/cpuinfo") == 0;
    bool avx2 = sh("grep -q -w avx2 /proc/cpuinfo") == 0;
    CU_ASSERT_EQUAL(sh(NNDC " emit asm examples/digits/digits.nnd"), 0);
    if (avx512) {
        CU_ASSERT(strstr(sh_out, "%zmm") != NULL);
    } else if (avx2) {
        CU_ASSERT(strstr(sh_out, "%ymm") != NULL);
    }
    CU_ASSERT(strstr(sh_out, "vfmadd") != NULL || strstr(sh_out, "vmulps") != NULL);
}

/* The hints the dense and conv tiles carry: their loops stay rolled (LLVM would only spend
 * compile time unrolling them) and a block prefetches the next weight panel. */
static void test_nndc_llvm_keeps_tiles_rolled_and_prefetches(void) {
    CU_ASSERT_EQUAL(sh(NNDC " emit llvm-opt examples/digits/digits.nnd"), 0);
    CU_ASSERT(strstr(sh_out, "llvm.loop.unroll.disable") != NULL);
    CU_ASSERT(strstr(sh_out, "@llvm.prefetch") != NULL);
}

static void test_nndc_dot_renders(void) {
    if (sh("command -v dot") != 0) {
        CU_FAIL("graphviz 'dot' is not installed (scripts/deps.sh installs it)");
        return;
    }
    CU_ASSERT_EQUAL(sh(NNDC " emit dot tests/golden/dot/dag.nnd | dot -Tsvg"), 0);
    CU_ASSERT(strstr(sh_out, "<svg") != NULL);
    CU_ASSERT_EQUAL(sh(NNDC " emit dot tests/golden/dot/lenet5.nnd | dot -Tsvg"), 0);
    CU_ASSERT(strstr(sh_out, "<svg") != NULL);
}

static void test_nndc_bench_reports(void) {
    CU_ASSERT_EQUAL(sh(NNDC " bench examples/digits/digits.nnd --batch 7 --iterations 20"), 0);
    CU_ASSERT(strstr(sh_out, "median") != NULL);
    CU_ASSERT(strstr(sh_out, "best ") != NULL);
    CU_ASSERT(strstr(sh_out, "spread ") != NULL);
    CU_ASSERT(strstr(sh_out, "GFLOP/s") != NULL);
    CU_ASSERT(strstr(sh_out, "compile") != NULL);
    /* a symbolic K counts at its value: [3, 8, 3] @ [3, 3, 40] with N = S = 3 */
    CU_ASSERT_EQUAL(sh(NNDC " bench tests/ref/cases/matmul_sym_k_b1/model.nnd --batch 3 "
                           "--iterations 5"), 0);
    CU_ASSERT(strstr(sh_out, "(5760 FLOP per pass)") != NULL);
    CU_ASSERT_EQUAL(sh(NNDC " bench tests/golden/graph/dag.nnd --iterations 5"), 1);
    CU_ASSERT_EQUAL(sh(NNDC " bench tests/golden/graph/dag.nnd --iterations 5 --init random:3"), 0);
}

NND_SUITE("nndc", test_nndc_usage_errors_exit_2, test_nndc_check_prints_the_table,
          test_nndc_user_errors_exit_1, test_nndc_run_matches_pytorch,
          test_nndc_run_tensor_errors_exit_1, test_nndc_emit_every_stage,
          test_nndc_asm_uses_host_vectors, test_nndc_llvm_keeps_tiles_rolled_and_prefetches,
          test_nndc_dot_renders, test_nndc_bench_reports)
