/* test_kernel_code.c: how much code LeNet-5's kernels are (the vector FMAs of each
 * layer's function), for an AVX-512 target, so that a change that multiplies a kernel's
 * code, and with it the compile time, shows here; one that shrinks it updates the counts.
 *
 * The model is the bundled example (examples/lenet5, the SPEC's LeNet-5). The counts are
 * the register tiles' (compile_to up to STAGE_LLVM, before LLVM optimizes): c1 (28 x 28,
 * 5 x 5, padding 2) runs flat with its border periods merged (merge_runs), in one block
 * body of 3 filters x 7 vectors (plan_tile's flat tile), c2 (10 x 10 rows
 * of 5 x 5) in one block body of 2 rows (fewest_rows) with its kernel rows a loop too
 * (roll_kh), the dense layers compact (lower_dense.c: f3 for its weights in cache and its
 * one-row kernel's chains, rows_at_pace; f4 and logits for their small share of the work,
 * small_layer). The pooling tail
 * inside c2 multiplies nothing. */
#include "unit_compile.h"
#include "unit_harness.h"

/* The fmul instructions (each an FMA with its fadd) of function `name` in c's module. */
static int fmuls(Compilation *c, const char *name) {
    LLVMValueRef f = LLVMGetNamedFunction(c->cg.mod, name);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    int n = 0;
    for (LLVMBasicBlockRef b = LLVMGetFirstBasicBlock(f); b; b = LLVMGetNextBasicBlock(b))
        for (LLVMValueRef i = LLVMGetFirstInstruction(b); i; i = LLVMGetNextInstruction(i))
            n += LLVMGetInstructionOpcode(i) == LLVMFMul;
    return n;
}

static void test_kernel_code_lenet5(void) {
    Compilation *c = compilation_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_FATAL(compile_read_file(c, NND_SOURCE_DIR "/examples/lenet5/lenet5.nnd"));
    CompileOptions o;
    compile_options_init(&o);
    o.triple = "x86_64-pc-linux-gnu";
    o.cpu = "skylake-avx512";
    unit_compile_with(c, STAGE_LLVM, &o);
    CU_ASSERT_EQUAL(fmuls(c, "nnd_forward_parallel.c1.conv2d"), 105);  /* 3 x 7 x 5 rows */
    CU_ASSERT_EQUAL(fmuls(c, "nnd_forward_parallel.c2.conv2d"), 16);   /* 2 x 8 filters */
    CU_ASSERT_EQUAL(fmuls(c, "nnd_forward_parallel.f3.dense"), 32);    /* compact: 6, 1 rows */
    CU_ASSERT_EQUAL(fmuls(c, "nnd_forward_parallel.f4.dense"), 42);    /* compact */
    CU_ASSERT_EQUAL(fmuls(c, "nnd_forward_parallel.logits"), 9);       /* compact: 8, 1 rows */
    compilation_free(c);
}

NND_SUITE("kernel_code", test_kernel_code_lenet5)
