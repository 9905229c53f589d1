/* split_codegen.c: one model's module optimized and compiled to machine code in parts, in
 * threads; see split_codegen.h.
 *
 * In: a module, optimized or not. Out: object files that the JIT's linker joins into the
 * module's code. The optimizer and the code generator work one function at a time and are
 * most of a JIT compile (LeNet-5: instruction selection, loop strength reduction and register
 * allocation over its convolutions and dense layers), and one model's kernels are
 * independent functions, so they can be compiled side by side. An LLVMContext is not
 * thread-safe, so each part but the first has the module emitted again in a context of its
 * own, in its own thread while the first part compiles (CgEmitAgain: the front end's
 * emission, deterministic), and keeps only its functions' bodies. Emitting again costs less
 * than writing the module as bitcode and reading it back, which it replaced (LeNet-5: 10 M
 * instructions to write, before any part could start, and 16 M to read, against about 9 M
 * to emit). The first part is the module itself, less the other parts' functions, and
 * defines the shared globals: large constants and anything not constant, which the other
 * parts declare (the JIT's weights are declarations in every part, jit.c links them). Small
 * constants (biases, lane-mask tables: up to SMALL_BYTES) stay private, each part with its
 * own copy, so that the optimizer can still fold them.
 * Functions and shared globals become external symbols under reserved names; the other
 * parts reach them through the GOT or a stub (and JITDefault is the large code model on
 * x86-64 and AArch64), which the linker resolves wherever the parts land. The optimizer's
 * pipeline is function by function (-O1, -O2) and so is the code generator, so each
 * function's code is the same whichever part it is in, but for how a weight's address is
 * loaded; -O3's interprocedural passes see one part at a time. Parts are balanced by
 * instruction count, largest function first. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "split_codegen.h"
#include "cg.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A part smaller than this is not worth a thread, a context and a target machine of its own
 * (about 2 ms); LeNet-5 has about 4800 instructions before optimization. */
enum { CG_MIN_PART_INSTRUCTIONS = 1000, SMALL_BYTES = 4096 };

/* What the code generator costs, in instructions' worth: a function of its own about 90
 * (a module of fifty 10-instruction functions took 0.7 ms a function, against about 8 us
 * an instruction in the kernels); emitting the module again, about 1/16 of the
 * optimization and code generation of its instructions (LeNet-5: 1.3-1.4 ms against about
 * 23 ms, though only 9 M instructions against 326 M; with 1/32 the second part finished
 * 1-3 ms after the first). */
enum { FUNCTION_COST = 90, EMIT_SHARE = 16 };

typedef struct Part {
    int index;
    LLVMModuleRef mod;    /* the first part's module; NULL: emit again in a context of its own */
    const CgEmitAgain *again;
    const int *where;     /* the part of each function with a body, in module order */
    const char *triple, *cpu, *features;
    int opt_level;
    bool optimized;       /* the module was optimized before it was split */
    LLVMMemoryBufferRef obj;
    char *error;
} Part;

static size_t instruction_count(LLVMValueRef f) {
    size_t n = 0;
    for (LLVMBasicBlockRef b = LLVMGetFirstBasicBlock(f); b; b = LLVMGetNextBasicBlock(b))
        for (LLVMValueRef i = LLVMGetFirstInstruction(b); i; i = LLVMGetNextInstruction(i))
            n++;
    return n;
}

static bool has_body(LLVMValueRef f) { return LLVMCountBasicBlocks(f) > 0; }

/* Whether any of f's instructions is a vector (f is a kernel). */
static bool has_vectors(LLVMValueRef f) {
    for (LLVMBasicBlockRef b = LLVMGetFirstBasicBlock(f); b; b = LLVMGetNextBasicBlock(b))
        for (LLVMValueRef i = LLVMGetFirstInstruction(b); i; i = LLVMGetNextInstruction(i))
            if (LLVMGetTypeKind(LLVMTypeOf(i)) == LLVMVectorTypeKind)
                return true;
    return false;
}

int cg_split_cpus(void) {
#ifdef __linux__
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        return CPU_COUNT(&set);
#endif
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int cg_split_count(LLVMModuleRef mod, int parts) {
    size_t funcs = 0, total = 0, largest = 0;
    for (LLVMValueRef f = LLVMGetFirstFunction(mod); f; f = LLVMGetNextFunction(f))
        if (has_body(f)) {
            size_t n = instruction_count(f);
            funcs++;
            total += n;
            largest = n > largest ? n : largest;
        }
    size_t n = parts > 0 ? (size_t)parts : (size_t)cg_split_cpus();
    if (parts <= 0 && n > total / CG_MIN_PART_INSTRUCTIONS)
        n = total / CG_MIN_PART_INSTRUCTIONS;
    /* No part can take less than the largest function, so parts beyond total / largest
     * (rounded up) would only add threads that wait for it; and the parts besides the
     * largest function's need the floor's instructions each (a model of one large kernel
     * stays one part). Rounded down, resblock (two kernels, the larger 52% of the
     * instructions) was one part: its first compile in a process took a median of 147 ms,
     * in two 108 (ten alternated runs). */
    if (parts <= 0 && largest) {
        size_t cover = (total + largest - 1) / largest;
        size_t rest = 1 + (total - largest) / CG_MIN_PART_INSTRUCTIONS;
        n = n < cover ? n : cover;
        n = n < rest ? n : rest;
    }
    if (n > funcs)
        n = funcs;
    if (n > CG_MAX_PARTS)
        n = CG_MAX_PARTS;
    return n < 1 ? 1 : (int)n;
}

/* Whether global g is shared by reference (defined by the first part only, declared by the
 * others): it is not a constant, or a large one. */
static bool shared_global(LLVMTargetDataRef td, LLVMValueRef g) {
    return !LLVMIsGlobalConstant(g) ||
           LLVMABISizeOfType(td, LLVMGlobalGetValueType(g)) > SMALL_BYTES;
}

/* Every internal function and shared global defined in mod becomes external, so that the
 * parts can refer to each other's, under a name no C symbol can have ("nnd.s." and the old
 * name): a parameter called memcpy must not stand in for the library's memcpy. */
static void export_symbols(LLVMModuleRef mod) {
    LLVMTargetDataRef td = LLVMGetModuleDataLayout(mod);
    int unnamed = 0;
    LLVMValueRef first[2] = {LLVMGetFirstFunction(mod), LLVMGetFirstGlobal(mod)};
    for (int kind = 0; kind < 2; kind++)
        for (LLVMValueRef v = first[kind]; v;
             v = kind ? LLVMGetNextGlobal(v) : LLVMGetNextFunction(v)) {
            LLVMLinkage l = LLVMGetLinkage(v);
            if (LLVMIsDeclaration(v) || (l != LLVMInternalLinkage && l != LLVMPrivateLinkage) ||
                (kind == 1 && !shared_global(td, v)))
                continue;
            size_t len;
            const char *old = LLVMGetValueName2(v, &len);
            char name[200];
            if (len == 0 || len > sizeof name - 8)
                snprintf(name, sizeof name, "nnd.s.%d", unnamed++);
            else
                snprintf(name, sizeof name, "nnd.s.%.*s", (int)len, old);
            LLVMSetValueName2(v, name, strlen(name));
            LLVMSetLinkage(v, LLVMExternalLinkage);
            LLVMSetVisibility(v, LLVMDefaultVisibility);
        }
}

/* Replaces v (a function or a global variable of mod) by a declaration of the same name,
 * type and calling convention or constness. The declaration is not dso_local, so other
 * parts reach it through the GOT or a stub. */
static void declare_only(LLVMModuleRef mod, LLVMValueRef v) {
    size_t len;
    const char *name = LLVMGetValueName2(v, &len);
    char *saved = strndup(name, len);
    LLVMValueRef d;
    if (LLVMIsAFunction(v)) {
        d = LLVMAddFunction(mod, "", LLVMGlobalGetValueType(v));
        LLVMSetFunctionCallConv(d, LLVMGetFunctionCallConv(v));
    } else {
        d = LLVMAddGlobal(mod, LLVMGlobalGetValueType(v), "");
        LLVMSetGlobalConstant(d, LLVMIsGlobalConstant(v));
        LLVMSetAlignment(d, LLVMGetAlignment(v));
    }
    LLVMReplaceAllUsesWith(v, d);
    if (LLVMIsAFunction(v))
        LLVMDeleteFunction(v);
    else
        LLVMDeleteGlobal(v);
    LLVMSetValueName2(d, saved ? saved : "", saved ? len : 0);
    free(saved);
}

/* Keeps in mod only the bodies of the functions in part p (where[i]: the part of the i-th
 * function with a body); the other parts declare the shared globals and keep their own
 * private copies of the small constants. */
static void keep_part(LLVMModuleRef mod, const int *where, int p) {
    int i = 0;
    for (LLVMValueRef f = LLVMGetFirstFunction(mod), next; f; f = next) {
        next = LLVMGetNextFunction(f);
        if (has_body(f) && where[i++] != p)
            declare_only(mod, f);
    }
    LLVMTargetDataRef td = LLVMGetModuleDataLayout(mod);
    for (LLVMValueRef g = LLVMGetFirstGlobal(mod), next; p > 0 && g; g = next) {
        next = LLVMGetNextGlobal(g);
        if (!LLVMIsDeclaration(g) && shared_global(td, g))
            declare_only(mod, g);
    }
}

/* Assigns each function with a body to a part, largest first to the lightest part. A
 * function weighs its instructions, plus FUNCTION_COST for a kernel (vector code): measured
 * alone, LeNet-5's kernels cost 56-70 K instructions of optimization and code generation per
 * unit of that weight, but its scalar entry point and region runner 19-23 K with
 * FUNCTION_COST and 57-88 K without. (Its parts measured 123.2 and 104.1 M before, 120.8 and
 * 106.3 after; LLVM's one-time initialization, about 5 M, lands in either part as the
 * threads' timing has it.) Every part but the first starts with an EMIT_SHARE of the whole:
 * it emits the whole module again before its own work (but the second where it has an early
 * copy, emitted while the first part's was). By instructions alone, LeNet-5's parts were its
 * two convolutions and the entry points (25 ms of code generation) against its three dense
 * layers and both pools (32 ms, and reading the module back from bitcode, as the parts did
 * then). */
static int *assign_parts(LLVMModuleRef mod, int nparts, bool early) {
    int n = 0;
    for (LLVMValueRef f = LLVMGetFirstFunction(mod); f; f = LLVMGetNextFunction(f))
        n += has_body(f);
    int *part = calloc((size_t)n + 1, sizeof *part);
    size_t *size = calloc((size_t)n + 1, sizeof *size);
    if (!part || !size) {
        free(part);
        free(size);
        return NULL;
    }
    int i = 0;
    size_t total = 0;
    for (LLVMValueRef f = LLVMGetFirstFunction(mod); f; f = LLVMGetNextFunction(f))
        if (has_body(f))
            total += size[i++] = instruction_count(f) + (has_vectors(f) ? FUNCTION_COST : 0);
    size_t load[CG_MAX_PARTS] = {0};
    for (int q = early ? 2 : 1; q < nparts; q++)
        load[q] = total / EMIT_SHARE;
    for (int k = 0; k < n; k++) {
        int big = -1;
        for (int j = 0; j < n; j++)
            if (size[j] != (size_t)-1 && (big < 0 || size[j] > size[big]))
                big = j;
        int light = 0;
        for (int q = 1; q < nparts; q++)
            if (load[q] < load[light])
                light = q;
        load[light] += size[big];
        size[big] = (size_t)-1; /* placed */
        part[big] = light;
    }
    free(size);
    return part;
}

/* "what: msg" in memory of its own (NULL when out of memory). */
static char *error_text(const char *what, const char *msg) {
    size_t len = strlen(what) + (msg ? strlen(msg) : 1) + 3;
    char *s = malloc(len);
    if (s)
        snprintf(s, len, "%s: %s", what, msg ? msg : "?");
    return s;
}

/* Part p's copy of the module (every part's but the first): the early copy for the second
 * part where there is one, else emitted again in a context of its own (*ctx, gated as the
 * first part's); its symbols exported as the first part's were. NULL on failure, with
 * p->error set. */
static LLVMModuleRef own_copy(Part *p, LLVMContextRef *ctx) {
    char *msg = NULL;
    LLVMModuleRef mod = NULL;
    *ctx = NULL;
    if (p->index == 1 && p->again->take_early)
        mod = p->again->take_early(p->again->arg, ctx, &msg);
    if (!*ctx) {
        *ctx = LLVMContextCreate();
        cg_gate_passes(*ctx, p->opt_level);
        mod = p->again->emit(p->again->arg, *ctx, &msg);
    }
    if (!mod) {
        p->error = error_text("split code generation", msg);
        free(msg);
        return NULL;
    }
    export_symbols(mod);
    return mod;
}

/* Optimizes (unless p->optimized) and compiles part p, in its own context unless it is the
 * first. */
static void *emit_part(void *arg) {
    Part *p = arg;
    LLVMContextRef ctx = NULL;
    LLVMModuleRef mod = p->mod;
    LLVMTargetRef target;
    LLVMTargetMachineRef tm = NULL;
    char *msg = NULL;
    if (LLVMGetTargetFromTriple(p->triple, &target, &msg)) {
        p->error = error_text("no target", msg);
        LLVMDisposeMessage(msg);
    } else if (!(tm = LLVMCreateTargetMachine(target, p->triple, p->cpu, p->features,
                                              cg_codegen_level(p->opt_level), LLVMRelocPIC,
                                              LLVMCodeModelJITDefault))) {
        p->error = error_text("split code generation", "cannot create a target machine");
    } else if (mod || (mod = own_copy(p, &ctx))) {
        if (p->where)
            keep_part(mod, p->where, p->index);
        /* Global DCE drops what no function of a split part uses any more (other parts'
         * small constants and declarations), seeing through dead constant expressions. */
        if (p->where && (msg = cg_run_passes(mod, tm, "globaldce", 0))) {
            p->error = error_text("split code generation", msg);
            free(msg);
        } else if (!p->optimized && (msg = cg_optimize_module(mod, tm, p->opt_level))) {
            p->error = error_text("optimizer", msg);
            free(msg);
        } else if (!(p->obj = cg_emit_code(tm, mod, LLVMObjectFile, &msg))) {
            p->error = error_text("code generation", msg);
            free(msg);
        }
    }
    if (tm)
        LLVMDisposeTargetMachine(tm);
    if (mod)
        LLVMDisposeModule(mod);
    if (ctx)
        LLVMContextDispose(ctx);
    return NULL;
}

bool cg_split_codegen(LLVMModuleRef mod, const CgEmitAgain *again, const char *cpu,
                      const char *features, int opt_level, bool optimized, int parts,
                      CgObjects *out, char **error) {
    *error = NULL;
    memset(out, 0, sizeof *out);
    int n = cg_split_count(mod, parts);
    char *triple = strdup(LLVMGetTarget(mod));
    int *where = n > 1 ? assign_parts(mod, n, again->take_early != NULL) : NULL;
    if (where)
        export_symbols(mod);
    if (!triple || (n > 1 && !where)) {
        free(triple);
        free(where);
        LLVMDisposeModule(mod);
        *error = strdup("out of memory");
        return false;
    }
    Part part[CG_MAX_PARTS];
    for (int p = 0; p < n; p++)
        part[p] = (Part){.index = p, .mod = p ? NULL : mod, .again = again, .where = where,
                         .triple = triple, .cpu = cpu, .features = features,
                         .opt_level = opt_level, .optimized = optimized};
    pthread_t thread[CG_MAX_PARTS];
    bool started[CG_MAX_PARTS] = {false};
    for (int p = 1; p < n; p++)
        started[p] = pthread_create(&thread[p], NULL, emit_part, &part[p]) == 0;
    for (int p = 0; p < n; p++)
        if (!started[p])
            emit_part(&part[p]);
    for (int p = 1; p < n; p++)
        if (started[p])
            pthread_join(thread[p], NULL);
    bool ok = true;
    for (int p = 0; p < n; p++) {
        ok = ok && part[p].obj && !part[p].error;
        if (!*error && part[p].error)
            *error = part[p].error;
        else
            free(part[p].error);
        out->obj[out->n++] = part[p].obj;
    }
    free(where);
    free(triple);
    if (!ok) {
        for (int p = 0; p < out->n; p++)
            if (out->obj[p])
                LLVMDisposeMemoryBuffer(out->obj[p]);
        memset(out, 0, sizeof *out);
        if (!*error)
            *error = strdup("out of memory");
    }
    return ok;
}
