/* split_codegen.c: machine code for one optimized module as several object files, generated
 * in threads; see split_codegen.h.
 *
 * In: an optimized module. Out: object files that the JIT's linker joins into the module's
 * code. LLVM's code generator works one function at a time and is most of a JIT compile
 * (LeNet-5: instruction selection, loop strength reduction and register allocation over its
 * convolutions and dense layers), and one model's kernels are independent functions, so they
 * can be compiled side by side. An LLVMContext is not thread-safe, so each part but the first
 * is a copy of the module in a context of its own (written as bitcode here, read back by its
 * thread) in which the other parts' functions and every global variable are declarations;
 * the first part is the module itself, less the other parts' functions, and defines the
 * globals (the weights, which are therefore never copied). Internal symbols become external
 * ones (default visibility, so that a reference from another part goes through the GOT or a
 * stub, which the linker resolves wherever the parts land). Each function's machine code is
 * the same whichever part it is in: the code generator sees one function at a time, and only
 * a global's address is loaded differently. Parts are balanced by instruction count, largest
 * function first. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "split_codegen.h"

#include <llvm-c/BitReader.h>
#include <llvm-c/BitWriter.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A part smaller than this is not worth a thread, a context and a target machine of its own
 * (about 2 ms); LeNet-5 has about 9000 instructions. */
enum { CG_MIN_PART_INSTRUCTIONS = 1500 };

typedef struct Part {
    LLVMModuleRef mod;    /* the first part's module; NULL: read bc in a context of its own */
    LLVMMemoryBufferRef bc;
    const char *triple, *cpu, *features;
    LLVMCodeGenOptLevel level;
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

static int available_cpus(void) {
#ifdef __linux__
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        return CPU_COUNT(&set);
#endif
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int cg_split_count(LLVMModuleRef mod, int parts) {
    size_t funcs = 0, total = 0;
    for (LLVMValueRef f = LLVMGetFirstFunction(mod); f; f = LLVMGetNextFunction(f))
        if (has_body(f)) {
            funcs++;
            total += instruction_count(f);
        }
    size_t n = parts > 0 ? (size_t)parts : (size_t)available_cpus();
    if (parts <= 0 && n > total / CG_MIN_PART_INSTRUCTIONS)
        n = total / CG_MIN_PART_INSTRUCTIONS;
    if (n > funcs)
        n = funcs;
    if (n > CG_MAX_PARTS)
        n = CG_MAX_PARTS;
    return n < 1 ? 1 : (int)n;
}

/* Every internal symbol defined in mod becomes external, named if it had no name, so that
 * the parts can refer to each other's. */
static void export_symbols(LLVMModuleRef mod) {
    int unnamed = 0;
    LLVMValueRef first[2] = {LLVMGetFirstFunction(mod), LLVMGetFirstGlobal(mod)};
    for (int kind = 0; kind < 2; kind++)
        for (LLVMValueRef v = first[kind]; v;
             v = kind ? LLVMGetNextGlobal(v) : LLVMGetNextFunction(v)) {
            if (LLVMIsDeclaration(v))
                continue;
            LLVMLinkage l = LLVMGetLinkage(v);
            if (l != LLVMInternalLinkage && l != LLVMPrivateLinkage)
                continue;
            size_t len;
            LLVMGetValueName2(v, &len);
            if (len == 0) {
                char name[32];
                snprintf(name, sizeof name, "nnd.split.%d", unnamed++);
                LLVMSetValueName2(v, name, strlen(name));
            }
            LLVMSetLinkage(v, LLVMExternalLinkage);
            LLVMSetVisibility(v, LLVMDefaultVisibility);
        }
}

/* Replaces function f of mod by a declaration of the same name, type and calling
 * convention. */
static void declare_only(LLVMModuleRef mod, LLVMValueRef f) {
    size_t len;
    const char *name = LLVMGetValueName2(f, &len);
    char *saved = strndup(name, len);
    LLVMValueRef d = LLVMAddFunction(mod, "", LLVMGlobalGetValueType(f));
    LLVMSetFunctionCallConv(d, LLVMGetFunctionCallConv(f));
    LLVMReplaceAllUsesWith(f, d);
    LLVMDeleteFunction(f);
    LLVMSetValueName2(d, saved ? saved : "", saved ? len : 0);
    free(saved);
}

/* Keeps in mod only the bodies of the functions in part p (part[i] of the i-th function with
 * a body); with globals false, every global variable becomes a declaration too. */
static void keep_part(LLVMModuleRef mod, const int *part, int p, bool globals) {
    int i = 0;
    for (LLVMValueRef f = LLVMGetFirstFunction(mod), next; f; f = next) {
        next = LLVMGetNextFunction(f);
        if (has_body(f) && part[i++] != p)
            declare_only(mod, f);
    }
    if (!globals)
        for (LLVMValueRef g = LLVMGetFirstGlobal(mod); g; g = LLVMGetNextGlobal(g))
            if (!LLVMIsDeclaration(g))
                LLVMSetInitializer(g, NULL);
}

/* Assigns each function with a body to a part, largest first to the lightest part. */
static int *assign_parts(LLVMModuleRef mod, int nparts) {
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
    for (LLVMValueRef f = LLVMGetFirstFunction(mod); f; f = LLVMGetNextFunction(f))
        if (has_body(f))
            size[i++] = instruction_count(f);
    size_t load[CG_MAX_PARTS] = {0};
    for (int k = 0; k < n; k++) {
        int big = -1;
        for (int j = 0; j < n; j++)
            if (part[j] == 0 && size[j] != (size_t)-1 && (big < 0 || size[j] > size[big]))
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

static char *message_copy(const char *what, char *msg) {
    size_t len = strlen(what) + (msg ? strlen(msg) : 0) + 3;
    char *s = malloc(len);
    if (s)
        snprintf(s, len, "%s: %s", what, msg ? msg : "?");
    LLVMDisposeMessage(msg);
    return s;
}

static void *emit_part(void *arg) {
    Part *p = arg;
    LLVMContextRef ctx = NULL;
    LLVMModuleRef mod = p->mod;
    if (!mod) {
        if (!p->bc) {
            p->error = strdup("cannot write a part's bitcode");
            return NULL;
        }
        ctx = LLVMContextCreate();
        if (LLVMParseBitcodeInContext2(ctx, p->bc, &mod)) {
            p->error = strdup("cannot read back a part's bitcode");
            LLVMContextDispose(ctx);
            return NULL;
        }
    }
    LLVMTargetRef target;
    char *msg = NULL;
    if (LLVMGetTargetFromTriple(p->triple, &target, &msg)) {
        p->error = message_copy("no target", msg);
    } else {
        LLVMTargetMachineRef tm =
            LLVMCreateTargetMachine(target, p->triple, p->cpu, p->features, p->level,
                                    LLVMRelocPIC, LLVMCodeModelJITDefault);
        if (LLVMTargetMachineEmitToMemoryBuffer(tm, mod, LLVMObjectFile, &msg, &p->obj)) {
            p->obj = NULL;
            p->error = message_copy("code generation", msg);
        }
        LLVMDisposeTargetMachine(tm);
    }
    LLVMDisposeModule(mod);
    if (ctx)
        LLVMContextDispose(ctx);
    return NULL;
}

bool cg_split_codegen(LLVMModuleRef mod, const char *cpu, const char *features,
                      LLVMCodeGenOptLevel level, int parts, CgObjects *out, char **error) {
    *error = NULL;
    memset(out, 0, sizeof *out);
    int n = cg_split_count(mod, parts);
    char *triple = strdup(LLVMGetTarget(mod));
    Part part[CG_MAX_PARTS] = {{0}};
    for (int p = 0; p < n; p++)
        part[p] = (Part){.triple = triple, .cpu = cpu, .features = features, .level = level};
    int *where = n > 1 ? assign_parts(mod, n) : NULL;
    if (!triple || (n > 1 && !where)) {
        free(triple);
        LLVMDisposeModule(mod);
        *error = strdup("out of memory");
        return false;
    }
    if (n > 1) {
        export_symbols(mod);
        for (int p = 1; p < n; p++) {
            LLVMModuleRef copy = LLVMCloneModule(mod);
            keep_part(copy, where, p, false);
            part[p].bc = LLVMWriteBitcodeToMemoryBuffer(copy);
            LLVMDisposeModule(copy);
        }
        keep_part(mod, where, 0, true);
    }
    free(where);
    part[0].mod = mod;
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
        if (part[p].bc)
            LLVMDisposeMemoryBuffer(part[p].bc);
        if (part[p].error && ok)
            *error = part[p].error;
        else
            free(part[p].error);
        ok = ok && !part[p].error;
        out->obj[out->n++] = part[p].obj;
    }
    free(triple);
    if (!ok) {
        for (int p = 0; p < out->n; p++)
            if (out->obj[p])
                LLVMDisposeMemoryBuffer(out->obj[p]);
        memset(out, 0, sizeof *out);
    }
    return ok;
}
