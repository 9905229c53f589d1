/* test_split_codegen.c: a model's machine code made in parts (split_codegen.c).
 *
 * The number of parts follows the request, the functions and the size floor; a model JIT-
 * compiled in 1 to 7 parts, optimized whole or in the parts, links (kernels, weights,
 * lane-mask tables and the entry points across parts) and computes exactly what the
 * whole-module compile does, at -O0, -O2 and -O3 (whose interprocedural passes see one part
 * at a time), batch 1 and 7, through forward and forward_parallel, also when several threads
 * compile at once, and so does one whose large parameters the JIT links by address. The
 * module a part emits again for itself (compile_emit_again) is the first one, instruction for
 * instruction: unoptimized or optimized, with parameters as constants or linked; so is the
 * early copy, emitted while the first one is (CompileOptions.early_copy). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sched.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <llvm-c/Object.h>

#include "split_codegen.h"
#include "unit_compile.h"
#include "unit_harness.h"

/* Convolutions (a 5x5 one with its column masks picked from tables), pools, dense layers
 * and a softmax: a dozen kernel functions. A parameter named memcpy (6000 bytes, so shared
 * between the parts), a symbol the code generator calls, must not take the library
 * function's place when symbols are exported. */
static const char *const model_src =
    "model m {\n"
    "  input x : f32[N, 3, 20, 20]\n"
    "  c1 = conv2d(x, 8, kernel=5, padding=2) -> relu -> maxpool2d(2)\n"
    "  c2 = conv2d(c1, 16, kernel=3, padding=1) -> relu -> avgpool2d(2)\n"
    "  f = flatten(c2) -> dense(50) -> tanh\n"
    "  g = dense(f, 30) -> relu\n"
    "  memcpy = param([30, 50])\n"
    "  output y = matmul(g, memcpy) -> dense(10) -> softmax\n"
    "  output z = flatten(x)\n"
    "}\n";

static int count_functions(LLVMModuleRef mod) {
    int n = 0;
    for (LLVMValueRef f = LLVMGetFirstFunction(mod); f; f = LLVMGetNextFunction(f))
        n += LLVMCountBasicBlocks(f) > 0;
    return n;
}

/* src's module makes `alone` parts when the count is left to cg_split_count, and `asked`
 * when asked for. */
static void expect_parts(const char *src, int alone, int asked) {
    Compilation *c = unit_compile_to(src, STAGE_LLVM, 3);
    LLVMModuleRef mod = compile_take_module(c);
    CU_ASSERT_EQUAL(cg_split_count(mod, 0), alone);
    CU_ASSERT_EQUAL(cg_split_count(mod, asked), asked);
    LLVMDisposeModule(mod);
    compilation_free(c);
}

static void test_split_count_limits(void) {
    Compilation *c = unit_compile_to(model_src, STAGE_LLVM_OPT, 3);
    LLVMModuleRef mod = compile_take_module(c);
    int funcs = count_functions(mod);
    CU_ASSERT_FATAL(funcs >= 6);
    CU_ASSERT_EQUAL(cg_split_count(mod, 1), 1);
    CU_ASSERT_EQUAL(cg_split_count(mod, 3), 3);
    CU_ASSERT_EQUAL(cg_split_count(mod, funcs + 5), funcs < CG_MAX_PARTS ? funcs : CG_MAX_PARTS);
    /* Left to itself, this model (thousands of instructions, no function most of them)
     * takes two parts or more wherever the process may use two CPUs, and no more parts
     * than CPUs. */
    cpu_set_t set;
    CU_ASSERT_FATAL(sched_getaffinity(0, sizeof set, &set) == 0);
    int cpus = CPU_COUNT(&set), got = cg_split_count(mod, 0);
    CU_ASSERT(got >= (cpus < 2 ? 1 : 2) && got <= cpus);
    LLVMDisposeModule(mod);
    compilation_free(c);

    /* A few hundred instructions are not worth a second thread. */
    expect_parts("model m {\n  input x : f32[N, 4]\n  output y = dense(x, 2)\n}\n", 1, 2);
    /* One large kernel (about 5400 instructions of 5500): a second part would only wait
     * for it. */
    expect_parts("model m {\n  input x : f32[N, 8, 20, 20]\n"
                 "  output y = conv2d(x, 8, kernel=3, padding=1) -> relu\n}\n",
                 1, 3);
    /* Two kernels of about 5500 instructions, the larger just over half of the module
     * (resblock's shape): two parts wherever the process may use two CPUs, each about
     * half of the work, rather than one with all of it. */
    expect_parts("model m {\n  input x : f32[N, 8, 20, 20]\n"
                 "  a = conv2d(x, 8, kernel=3, padding=1) -> relu\n"
                 "  b = conv2d(a, 8, kernel=3, padding=1)\n"
                 "  output y = add(b, x) -> relu\n}\n",
                 cpus < 2 ? 1 : 2, 2);
}

typedef struct Run {
    float out[7 * 10];
    float copy[7 * 3 * 20 * 20]; /* z, which memcpy writes */
} Run;

/* model_src compiled at opt_level in `parts` parts, optimized before the split (as `nndc
 * emit` shows it) or in the parts (as the runtime compiles), its large parameters linked by
 * address (as the runtime does) or held as constants, with or without the second part's
 * early copy (CompileOptions.early_copy, as the runtime compiles), run at batch 1 and 7
 * through forward and forward_parallel (outputs in that order). No CUnit assertions, so
 * that threads may call it: false, after printing why, when it fails. */
static bool compile_run(int opt_level, bool optimize_whole, int parts, bool link, bool early,
                        Run runs[4]) {
    Compilation *c = compilation_new();
    if (!c)
        return false;
    compile_set_source(c, "t.nnd", model_src, strlen(model_src));
    CompileOptions o;
    compile_options_init(&o);
    o.init_random = true;
    o.seed = 3;
    o.opt_level = opt_level;
    o.link_params = link;
    o.early_copy = early;
    CgForwardFn forward;
    CgParallelFn parallel;
    CgWorkspaceFn wsize;
    char *err = NULL;
    Jit *j = NULL;
    if (compile_to(c, optimize_whole ? STAGE_LLVM_OPT : STAGE_LLVM, &o))
        j = compile_jit(c, opt_level, parts, &forward, &parallel, &wsize, &err);
    if (!j)
        fprintf(stderr, "\nJIT in %d parts: %s\n", parts, err ? err : diag_text(c->diag));
    free(err);
    enum { XN = 7 * 3 * 20 * 20 };
    float *x = malloc(XN * sizeof *x);
    bool ok = j && x;
    for (size_t i = 0; ok && i < XN; i++)
        x[i] = (float)((i * 2654435761u) % 1999) / 500.0f - 2.0f;
    const float *in[1] = {x};
    for (int k = 0; k < 4 && ok; k++) {
        int64_t syms[MAX_SYMS] = {k < 2 ? 1 : 7};
        void *ws = aligned_alloc(64, ((size_t)wsize(syms) + 63) / 64 * 64 + 64);
        float *out[2] = {runs[k].out, runs[k].copy};
        memset(&runs[k], 0, sizeof runs[k]);
        if (!(ok = ws != NULL))
            break;
        if (k % 2 == 0)
            forward(in, out, syms, ws);
        else
            parallel(in, out, syms, ws, NULL);
        ok = memcmp(runs[k].copy, x, (size_t)syms[0] * 3 * 20 * 20 * sizeof *x) == 0;
        free(ws);
    }
    free(x);
    jit_dispose(j);
    compilation_free(c);
    return ok;
}

static void run_parts(int opt_level, bool optimize_whole, int parts, bool early, Run runs[4]) {
    CU_ASSERT_FATAL(compile_run(opt_level, optimize_whole, parts, false, early, runs));
}

static void test_split_same_code(void) {
    static const int levels[] = {0, 2, 3};
    for (size_t l = 0; l < sizeof levels / sizeof *levels; l++) {
        Run whole[4];
        run_parts(levels[l], true, 1, false, whole);
        /* The softmax's rows sum to 1: the model ran. */
        float sum = 0;
        for (int i = 0; i < 10; i++)
            sum += whole[0].out[i];
        CU_ASSERT_DOUBLE_EQUAL(sum, 1.0, 1e-5);
        for (int parts = 1; parts <= CG_MAX_PARTS; parts += 3)
            for (int v = 0; v < 4; v++) { /* optimized whole, with an early copy */
                Run split[4];
                run_parts(levels[l], v & 1, parts, v & 2, split);
                for (int k = 0; k < 4; k++)
                    if (memcmp(&whole[k], &split[k], sizeof whole[k]) != 0) {
                        fprintf(stderr,
                                "\n-O%d in %d parts (optimized %s, %s): run %d differs\n",
                                levels[l], parts, v & 1 ? "whole" : "in parts",
                                v & 2 ? "early copy" : "no early copy", k);
                        CU_FAIL("a split compile computes something else");
                    }
            }
    }
}

/* Large parameters linked by address (CompileOptions.link_params, as the runtime compiles):
 * the module declares each parameter over CG_LINKED_MIN_BYTES (the dense and convolution
 * weights, and memcpy's 6000 bytes, which must not become the C library's memcpy) and
 * defines no constant that large, and the code computes bit for bit what it does with them
 * as constants, whole and in 3 parts, at -O0 and -O2; the JIT's copy of them holds their
 * values and faults on a store. */
static void test_split_linked_params(void) {
    CompileOptions o;
    compile_options_init(&o);
    o.init_random = true;
    o.link_params = true;
    Compilation *c = unit_compile_with(unit_source(model_src), STAGE_LLVM, &o);
    LLVMValueRef g = LLVMGetNamedGlobal(c->cg.mod, "nnd.w.memcpy");
    CU_ASSERT_FATAL(g != NULL);
    CU_ASSERT(LLVMIsDeclaration(g));
    /* c2, f and g's weights and memcpy; c1's (2400 bytes) and the last layer's stay constants */
    CU_ASSERT_EQUAL(c->cg.nlinked, 4);
    for (int i = 0; i < c->cg.nlinked; i++)
        CU_ASSERT(c->cg.linked[i].bytes > CG_LINKED_MIN_BYTES);
    LLVMTargetDataRef td = LLVMGetModuleDataLayout(c->cg.mod);
    for (g = LLVMGetFirstGlobal(c->cg.mod); g; g = LLVMGetNextGlobal(g))
        if (!LLVMIsDeclaration(g))
            CU_ASSERT(LLVMABISizeOfType(td, LLVMGlobalGetValueType(g)) <= CG_LINKED_MIN_BYTES);

    /* The JIT's copy of memcpy's values holds them, and is read-only: a store faults. */
    const CgLinkedParam *mp = NULL;
    for (int i = 0; i < c->cg.nlinked; i++)
        if (strcmp(c->cg.linked[i].symbol, "nnd.w.memcpy") == 0)
            mp = &c->cg.linked[i];
    CU_ASSERT_FATAL(mp != NULL);
    CgForwardFn forward;
    CgWorkspaceFn wsize;
    char *err = NULL;
    Jit *j = compile_jit(c, 2, 1, &forward, NULL, &wsize, &err);
    CU_ASSERT_FATAL(j != NULL);
    float *copy = (float *)(uintptr_t)jit_lookup(j, "nnd.w.memcpy", &err);
    CU_ASSERT_FATAL(copy != NULL);
    CU_ASSERT(memcmp(copy, mp->data, mp->bytes) == 0);
    fflush(NULL);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        signal(SIGSEGV, SIG_DFL); /* not a sanitizer's report */
        volatile float *v = copy;
        v[0] = v[0] + 1.0f;
        _exit(0);
    }
    int st;
    CU_ASSERT_EQUAL(waitpid(pid, &st, 0), pid);
    CU_ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
    free(err);
    jit_dispose(j);
    compilation_free(c);

    static const int levels[] = {0, 2};
    for (size_t l = 0; l < sizeof levels / sizeof *levels; l++) {
        Run held[4], linked[4];
        run_parts(levels[l], false, 1, false, held);
        for (int parts = 1; parts <= 3; parts += 2) {
            CU_ASSERT_FATAL(compile_run(levels[l], false, parts, true, true, linked));
            for (int k = 0; k < 4; k++)
                CU_ASSERT(memcmp(&held[k], &linked[k], sizeof held[k]) == 0);
        }
    }
}

typedef struct Compiler {
    pthread_t thread;
    bool started, ok;
    Run runs[4];
} Compiler;

static void *compile_in_thread(void *arg) {
    Compiler *c = arg;
    c->ok = compile_run(2, false, 3, true, true, c->runs);
    return NULL;
}

/* Models compiled from several threads at once, each in 3 parts of its own threads, as the
 * runtime compiles them (parameters linked, the second part's copy emitted early). */
static void test_split_concurrent_compiles(void) {
    static Run whole[4];
    run_parts(2, true, 1, false, whole);
    static Compiler comp[3];
    for (int i = 0; i < 3; i++)
        comp[i].started = pthread_create(&comp[i].thread, NULL, compile_in_thread, &comp[i]) == 0;
    for (int i = 0; i < 3; i++) {
        CU_ASSERT_FATAL(comp[i].started);
        pthread_join(comp[i].thread, NULL);
        CU_ASSERT(comp[i].ok);
        for (int k = 0; k < 4; k++)
            CU_ASSERT(memcmp(&whole[k], &comp[i].runs[k], sizeof whole[k]) == 0);
    }
}

/* The model's functions an object defines (symbols with a size, named nnd...). */
static int defined_functions(LLVMMemoryBufferRef obj) {
    LLVMContextRef ctx = LLVMContextCreate();
    char *err = NULL;
    LLVMBinaryRef bin = LLVMCreateBinary(obj, ctx, &err);
    int n = 0;
    if (bin) {
        LLVMSymbolIteratorRef it = LLVMObjectFileCopySymbolIterator(bin);
        for (; it && !LLVMObjectFileIsSymbolIteratorAtEnd(bin, it); LLVMMoveToNextSymbol(it))
            n += strncmp(LLVMGetSymbolName(it), "nnd", 3) == 0 && LLVMGetSymbolSize(it) > 0;
        LLVMDisposeSymbolIterator(it);
        LLVMDisposeBinary(bin);
    }
    LLVMDisposeMessage(err);
    LLVMContextDispose(ctx);
    return n;
}

static void test_split_objects(void) {
    Compilation *c = unit_compile_to(model_src, STAGE_LLVM_OPT, 3);
    LLVMModuleRef mod = compile_take_module(c);
    int want = cg_split_count(mod, 4);
    CgObjects objs;
    char *err = NULL;
    CgEmitAgain again = compile_emit_again(c);
    CU_ASSERT_FATAL(cg_split_codegen(mod, &again, c->cg.cpu, c->cg.features, 2, true, 4, &objs,
                                     &err));
    CU_ASSERT_PTR_NULL(err);
    CU_ASSERT_EQUAL(objs.n, want);
    for (int i = 0; i < objs.n; i++) {
        CU_ASSERT_PTR_NOT_NULL(objs.obj[i]);
        CU_ASSERT_EQUAL(defined_functions(objs.obj[i]) > 0, 1); /* no part is empty */
        LLVMDisposeMemoryBuffer(objs.obj[i]);
    }
    compilation_free(c);
}

static void test_emit_again_same_module(void) {
    for (int k = 0; k < 4; k++) {
        CompileOptions o;
        compile_options_init(&o);
        o.init_random = true;
        o.seed = 3;
        o.link_params = k & 1;
        Compilation *c = unit_compile_with(unit_source(model_src),
                                           k & 2 ? STAGE_LLVM_OPT : STAGE_LLVM, &o);
        char *first = LLVMPrintModuleToString(c->cg.mod);
        LLVMContextRef ctx = LLVMContextCreate();
        char *err = NULL;
        CgEmitAgain again = compile_emit_again(c);
        LLVMModuleRef mod = again.emit(again.arg, ctx, &err);
        CU_ASSERT_PTR_NULL(err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(mod);
        char *second = LLVMPrintModuleToString(mod);
        CU_ASSERT_STRING_EQUAL(first, second);
        CU_ASSERT((strstr(first, "nnd.w.") != NULL) == (k & 1)); /* linked parameters */
        LLVMDisposeMessage(first);
        LLVMDisposeMessage(second);
        LLVMDisposeModule(mod);
        LLVMContextDispose(ctx);
        compilation_free(c);
    }
}

/* The early copy (CompileOptions.early_copy, where the process may use two CPUs) is the
 * module STAGE_LLVM emitted, instruction for instruction, though both were emitted at once;
 * compile_jit's second part takes it, and a module optimized before the split, which the
 * copy is not, has none to offer. */
static void test_early_copy(void) {
    bool two = cg_split_cpus() > 1;
    for (int k = 0; k < 2; k++) {
        CompileOptions o;
        compile_options_init(&o);
        o.init_random = true;
        o.link_params = k;
        o.early_copy = true;
        Compilation *c = unit_compile_with(unit_source(model_src), STAGE_LLVM, &o);
        CU_ASSERT_EQUAL(c->early.started, two);
        CgEmitAgain again = compile_emit_again(c);
        CU_ASSERT_EQUAL_FATAL(again.take_early != NULL, two);
        if (two) {
            LLVMContextRef ctx = NULL;
            char *err = NULL;
            LLVMModuleRef mod = again.take_early(again.arg, &ctx, &err);
            CU_ASSERT_PTR_NULL(err);
            CU_ASSERT_PTR_NOT_NULL_FATAL(mod);
            char *first = LLVMPrintModuleToString(c->cg.mod);
            char *second = LLVMPrintModuleToString(mod);
            CU_ASSERT_STRING_EQUAL(first, second);
            LLVMDisposeMessage(first);
            LLVMDisposeMessage(second);
            LLVMDisposeModule(mod);
            LLVMContextDispose(ctx);
            CU_ASSERT(compile_emit_again(c).take_early == NULL); /* taken */
        }
        compilation_free(c);
    }
    CompileOptions o;
    compile_options_init(&o);
    o.init_random = true;
    o.early_copy = true;
    Compilation *c = unit_compile_with(unit_source(model_src), STAGE_LLVM, &o);
    CgForwardFn forward;
    CgWorkspaceFn wsize;
    char *err = NULL;
    Jit *j = compile_jit(c, 2, 2, &forward, NULL, &wsize, &err);
    CU_ASSERT_PTR_NOT_NULL(j);
    CU_ASSERT_EQUAL(c->early.taken, two); /* by the second part */
    jit_dispose(j);
    free(err);
    compilation_free(c);
    c = unit_compile_with(unit_source(model_src), STAGE_LLVM_OPT, &o);
    CU_ASSERT(compile_emit_again(c).take_early == NULL);
    compilation_free(c); /* joins the untaken copy */
}

NND_SUITE("split_codegen", test_split_count_limits, test_split_same_code, test_split_objects,
          test_split_linked_params, test_split_concurrent_compiles, test_emit_again_same_module,
          test_early_copy)
