/* test_pass_gate.c: the code-generator passes nnd's contexts skip (pass_gate.cpp), and
 * loop strength reduction left out of the pipeline by cg_emit_code (emit_code.cpp).
 *
 * A loop that loop strength reduction rewrites, and a block without loops that the machine
 * scheduler reorders, each compile to different machine code in a gated context at -O2,
 * and to the same code at -O3, where the gate is not set. A product computed again in a
 * block its first computation dominates keeps both multiplications only where machine CSE
 * is skipped, and a product used in one branch stays above the branch only where machine
 * sinking is skipped (x86-64 only: the checks read x86 mnemonics). cg_emit_code compiles
 * the loop at -O2 as the gate does even in a context without the gate (LSR is not in its
 * pipeline), at -O3 as LLVM does, and LLVM's own emission still runs LSR afterwards (the
 * process-wide option is put back). On x86-64 the code is for x86-64-v3 whatever the
 * host. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llvm-c/IRReader.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>

#include "cg.h"
#include "unit_harness.h"

/* A loop over every third float: loop strength reduction turns its index arithmetic into a
 * pointer that steps. */
static const char *const strided =
    "define float @strided(ptr %a, i64 %n) {\n"
    "entry:\n"
    "  br label %loop\n"
    "loop:\n"
    "  %i = phi i64 [ 0, %entry ], [ %next, %loop ]\n"
    "  %s = phi float [ 0.0, %entry ], [ %t, %loop ]\n"
    "  %k = mul nuw nsw i64 %i, 3\n"
    "  %p = getelementptr inbounds float, ptr %a, i64 %k\n"
    "  %v = load float, ptr %p, align 4\n"
    "  %t = fadd float %s, %v\n"
    "  %next = add nuw nsw i64 %i, 1\n"
    "  %more = icmp slt i64 %next, %n\n"
    "  br i1 %more, label %loop, label %done\n"
    "done:\n"
    "  ret float %t\n"
    "}\n";

/* No loop, so nothing for LSR: a 6 x 2 register tile of <4 x float> accumulators taking one
 * step, each row's broadcast and the second weight vector loaded where they are first used
 * (the machine scheduler moves them; it did so for x86-64, x86-64-v3, skylake-avx512 and a
 * Sapphire Rapids host). */
static char *tile_block(void) {
    size_t cap = 16384, len = 0;
    char *ir = malloc(cap);
#define EMIT(...) (len += (size_t)snprintf(ir + len, cap - len, __VA_ARGS__))
    EMIT("define void @tile(ptr %%w, ptr %%x, ptr %%y) {\n");
    for (int r = 0; r < 6; r++)
        for (int h = 0; h < 2; h++)
            EMIT("  %%ap%d_%d = getelementptr inbounds float, ptr %%y, i64 %d\n"
                 "  %%acc%d_%d = load <4 x float>, ptr %%ap%d_%d, align 4\n",
                 r, h, (r * 2 + h) * 4, r, h, r, h);
    for (int r = 0; r < 6; r++) {
        if (r < 2)
            EMIT("  %%wp%d = getelementptr inbounds float, ptr %%w, i64 %d\n"
                 "  %%wv%d = load <4 x float>, ptr %%wp%d, align 4\n", r, r * 4, r, r);
        EMIT("  %%xp%d = getelementptr inbounds float, ptr %%x, i64 %d\n"
             "  %%xs%d = load float, ptr %%xp%d, align 4\n"
             "  %%xe%d = insertelement <4 x float> poison, float %%xs%d, i64 0\n"
             "  %%xb%d = shufflevector <4 x float> %%xe%d, <4 x float> poison, "
             "<4 x i32> zeroinitializer\n", r, r * 1000, r, r, r, r, r, r);
        for (int h = 0; h < 2 && h <= r; h++)
            EMIT("  %%n%d_%d = call <4 x float> @llvm.fmuladd.v4f32(<4 x float> %%xb%d, "
                 "<4 x float> %%wv%d, <4 x float> %%acc%d_%d)\n", r, h, r, h, r, h);
    }
    EMIT("  %%n0_1 = call <4 x float> @llvm.fmuladd.v4f32(<4 x float> %%xb0, <4 x float> %%wv1, "
         "<4 x float> %%acc0_1)\n");
    for (int r = 0; r < 6; r++)
        for (int h = 0; h < 2; h++)
            EMIT("  store <4 x float> %%n%d_%d, ptr %%ap%d_%d, align 4\n", r, h, r, h);
    EMIT("  ret void\n}\n"
         "declare <4 x float> @llvm.fmuladd.v4f32(<4 x float>, <4 x float>, <4 x float>)\n");
#undef EMIT
    CU_ASSERT_FATAL(len < cap);
    return ir;
}

/* The same product in the entry block and again in a successor: machine CSE (SelectionDAG
 * selects block by block) leaves one multiplication. */
static const char *const repeated =
    "define i64 @repeated(i64 %a, i64 %b, i1 %c) {\n"
    "entry:\n"
    "  %m = mul i64 %a, %b\n"
    "  br i1 %c, label %then, label %done\n"
    "then:\n"
    "  %m2 = mul i64 %a, %b\n"
    "  %s = add i64 %m2, 7\n"
    "  ret i64 %s\n"
    "done:\n"
    "  ret i64 %m\n"
    "}\n";

/* A product only one branch uses: machine sinking moves it below the branch. */
static const char *const branch_only =
    "define i64 @branch_only(i64 %a, i64 %b, i1 %c) {\n"
    "entry:\n"
    "  %m = mul i64 %a, %b\n"
    "  br i1 %c, label %then, label %done\n"
    "then:\n"
    "  ret i64 %m\n"
    "done:\n"
    "  ret i64 0\n"
    "}\n";

/* The assembly of ir compiled for this machine's target (x86-64-v3 on x86-64, else the
 * host's CPU) at opt_level, in a context gated by cg_gate_passes or not, by cg_emit_code or
 * by LLVM's C API (the caller frees it). */
static char *emitted(const char *ir, int opt_level, bool gated, bool by_nnd) {
    LLVMInitializeNativeTarget();
    LLVMInitializeNativeAsmPrinter();
    LLVMInitializeNativeAsmParser();
    LLVMContextRef ctx = LLVMContextCreate();
    if (gated)
        cg_gate_passes(ctx, opt_level);
    LLVMMemoryBufferRef buf = LLVMCreateMemoryBufferWithMemoryRangeCopy(ir, strlen(ir), "ir");
    LLVMModuleRef mod = NULL;
    char *err = NULL, *text = NULL;
    CU_ASSERT_FATAL(LLVMParseIRInContext(ctx, buf, &mod, &err) == 0);
    char *triple = LLVMGetDefaultTargetTriple();
    LLVMSetTarget(mod, triple);
    LLVMTargetRef target;
    CU_ASSERT_FATAL(LLVMGetTargetFromTriple(triple, &target, &err) == 0);
    /* On x86-64 a fixed CPU: the machine scheduler leaves the tile block as it is for
     * znver4 (an AMD EPYC host), so the host's would make the test depend on the machine. */
#if defined(__x86_64__)
    char *cpu = strdup("x86-64-v3"), *features = strdup("");
#else
    char *cpu = LLVMGetHostCPUName(), *features = LLVMGetHostCPUFeatures();
#endif
    LLVMTargetMachineRef tm =
        LLVMCreateTargetMachine(target, triple, cpu, features, cg_codegen_level(opt_level),
                                LLVMRelocPIC, LLVMCodeModelDefault);
    LLVMMemoryBufferRef out = NULL;
    if (by_nnd)
        out = cg_emit_code(tm, mod, LLVMAssemblyFile, &err);
    else if (LLVMTargetMachineEmitToMemoryBuffer(tm, mod, LLVMAssemblyFile, &err, &out))
        out = NULL;
    CU_ASSERT_FATAL(out != NULL);
    size_t n = LLVMGetBufferSize(out);
    text = malloc(n + 1);
    memcpy(text, LLVMGetBufferStart(out), n);
    text[n] = '\0';
    LLVMDisposeMemoryBuffer(out);
    LLVMDisposeTargetMachine(tm);
    free(cpu);
    free(features);
    LLVMDisposeMessage(triple);
    LLVMDisposeModule(mod);
    LLVMContextDispose(ctx);
    return text;
}

static char *assembly(const char *ir, int opt_level, bool gated) {
    return emitted(ir, opt_level, gated, false);
}

/* ir compiles differently in a gated context at -O2, the same at -O3. */
static void expect_gated(const char *ir) {
    char *plain = assembly(ir, 2, false), *gated = assembly(ir, 2, true);
    CU_ASSERT_STRING_NOT_EQUAL(plain, gated);
    free(plain);
    free(gated);
    plain = assembly(ir, 3, false);
    gated = assembly(ir, 3, true);
    CU_ASSERT_STRING_EQUAL(plain, gated);
    free(plain);
    free(gated);
}

/* The line after p's, or the text's end. */
static const char *next_line(const char *p) {
    const char *nl = strchr(p, '\n');
    return nl ? nl + 1 : p + strlen(p);
}

/* How many instruction lines of the assembly text start with `mnemonic`, and the line of
 * the first (0: none); lines are counted from the start of the text, directives, labels
 * and comments included. */
static int count_insn(const char *text, const char *mnemonic, int *first) {
    int n = 0, line = 0;
    size_t len = strlen(mnemonic);
    *first = 0;
    for (const char *p = text; *p; p = next_line(p)) {
        line++;
        if (p[0] == '\t' && strncmp(p + 1, mnemonic, len) == 0) {
            if (!n)
                *first = line;
            n++;
        }
    }
    return n;
}

/* The line of the first conditional jump on x86 ("jX" but jmp), 0 when there is none. */
static int first_branch(const char *text) {
    int line = 0;
    for (const char *p = text; *p; p = next_line(p)) {
        line++;
        if (p[0] == '\t' && p[1] == 'j' && strncmp(p + 1, "jmp", 3) != 0)
            return line;
    }
    return 0;
}

static void test_gate_skips_lsr(void) { expect_gated(strided); }

static void test_emit_code_leaves_out_lsr(void) {
    char *plain = assembly(strided, 2, false), *gated = assembly(strided, 2, true);
    char *nnd = emitted(strided, 2, false, true);
    CU_ASSERT_STRING_EQUAL(nnd, gated);
    CU_ASSERT_STRING_NOT_EQUAL(nnd, plain);
    free(nnd);
    nnd = emitted(strided, 3, false, true);
    char *llvm = assembly(strided, 3, false);
    CU_ASSERT_STRING_EQUAL(nnd, llvm);
    free(nnd);
    free(llvm);
    /* LLVM's pipeline for other users keeps LSR. */
    llvm = assembly(strided, 2, false);
    CU_ASSERT_STRING_EQUAL(llvm, plain);
    free(llvm);
    free(plain);
    free(gated);
}

static void test_gate_skips_machine_cse(void) {
#if defined(__x86_64__)
    char *plain = assembly(repeated, 2, false), *gated = assembly(repeated, 2, true);
    int at;
    CU_ASSERT_EQUAL(count_insn(plain, "imul", &at), 1);
    CU_ASSERT_EQUAL(count_insn(gated, "imul", &at), 2);
    free(plain);
    free(gated);
#endif
}

static void test_gate_skips_machine_sinking(void) {
#if defined(__x86_64__)
    char *plain = assembly(branch_only, 2, false), *gated = assembly(branch_only, 2, true);
    int plain_mul, gated_mul;
    CU_ASSERT_EQUAL(count_insn(plain, "imul", &plain_mul), 1);
    CU_ASSERT_EQUAL(count_insn(gated, "imul", &gated_mul), 1);
    CU_ASSERT(first_branch(plain) > 0 && plain_mul > first_branch(plain));
    CU_ASSERT(first_branch(gated) > 0 && gated_mul < first_branch(gated));
    free(plain);
    free(gated);
#endif
}

static void test_gate_skips_scheduler(void) {
    char *ir = tile_block();
    expect_gated(ir);
    free(ir);
}

NND_SUITE("pass_gate", test_gate_skips_lsr, test_emit_code_leaves_out_lsr,
          test_gate_skips_scheduler, test_gate_skips_machine_cse, test_gate_skips_machine_sinking)
