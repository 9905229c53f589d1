/* compile.c: runs the pipeline's stages in order; see compile.h. */
#include "compile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bind_weights.h"
#include "build_graph.h"
#include "onnx_import.h"
#include "passes.h"
#include "read_file.h"
#include "shapes.h"

enum { MAX_SOURCE = 64 << 20 };

void compile_options_init(CompileOptions *o) {
    memset(o, 0, sizeof *o);
    o->opt_level = 2;
}

Compilation *compilation_new(void) {
    Compilation *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->arena = arena_new();
    /* The first allocation of an arena cannot fail half-way: check it without a handler. */
    void *probe = c->arena ? malloc(1 << 17) : NULL;
    if (!probe) {
        arena_free(c->arena);
        free(c);
        return NULL;
    }
    free(probe);
    c->diag = diag_new(c->arena);
    return c;
}

static void early_start(Compilation *c);
static void early_dispose(EarlyCopy *e);

void compilation_free(Compilation *c) {
    if (!c)
        return;
    early_dispose(&c->early);
    if (c->has_cg)
        cg_dispose(&c->cg);
    if (c->ctx)
        LLVMContextDispose(c->ctx);
    arena_free(c->arena);
    free(c);
}

void compile_set_source(Compilation *c, const char *name, const char *text, size_t len) {
    c->file = name;
    c->text = text;
    c->len = len;
}

/* An ONNX model from the file at path, or from bytes when they are given. */
static bool import_onnx(Compilation *c, const char *path, const uint8_t *bytes, size_t len) {
    jmp_buf here;
    volatile bool ok = false;
    arena_on_oom(c->arena, &here);
    if (setjmp(here) == 0) {
        OnnxImport im;
        ok = bytes ? onnx_import_bytes(c->arena, c->diag, path, bytes, len, NULL, NULL, 0, &im)
                   : onnx_import_file(c->arena, c->diag, path, NULL, &im);
        if (ok) {
            StFile *w = arena_alloc(c->arena, sizeof *w);
            *w = im.weights;
            c->preloaded_weights = w;
            compile_set_source(c, arena_printf(c->arena, "%s.nnd", path), im.nnd_text,
                               im.nnd_len);
        }
    }
    arena_on_oom(c->arena, NULL);
    return ok;
}

bool compile_read_onnx_bytes(Compilation *c, const char *name, const uint8_t *bytes, size_t len) {
    return import_onnx(c, name, bytes ? bytes : (const uint8_t *)"", len);
}

bool compile_read_file(Compilation *c, const char *path) {
    if (onnx_is_onnx_path(path))
        return import_onnx(c, path, NULL, 0);
    size_t len;
    char *buf = (char *)read_whole_file(c->diag, (SrcLoc){.file = path}, path, "model",
                                        MAX_SOURCE, &len);
    bool ok = buf != NULL;
    if (ok) {
        jmp_buf here;
        arena_on_oom(c->arena, &here);
        if (setjmp(here) == 0) {
            char *text = arena_strndup(c->arena, buf, len);
            compile_set_source(c, arena_strdup(c->arena, path), text, len);
        } else {
            ok = false;
        }
        arena_on_oom(c->arena, NULL);
    }
    free(buf);
    return ok;
}

static const char *dir_of(Arena *a, const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? arena_strndup(a, path, (size_t)(slash - path) + (slash == path)) : ".";
}

static bool run_stage(Compilation *c, Stage s, const CompileOptions *o) {
    switch (s) {
    case STAGE_PARSE:
        diag_add_source(c->diag, c->file, c->text, c->len);
        c->ast = parse_model(c->arena, c->diag, c->file, c->text, c->len);
        return true;
    case STAGE_GRAPH:
        /* Shapes are checked even after name errors: the graph holds only the calls that
         * bound, so every independent mistake is reported in one run. */
        c->graph = build_graph(c->arena, c->diag, c->ast, c->file);
        shape_infer(c->graph, c->diag);
        return true;
    case STAGE_WEIGHTS: {
        WeightsOptions w = {.base_dir = o->base_dir ? o->base_dir : dir_of(c->arena, c->file),
                            .init_random = o->init_random,
                            .seed = o->seed,
                        .preloaded = c->preloaded_weights};
        weights_bind(c->graph, c->diag, &w);
        return true;
    }
    case STAGE_OPT:
        passes_run(c->graph, c->diag, o->opt_level, o->stop_after);
        return true;
    case STAGE_LLVM: {
        c->ctx = LLVMContextCreate();
        cg_gate_passes(c->ctx, o->opt_level);
        CgOptions co = {.opt_level = o->opt_level, .triple = o->triple, .cpu = o->cpu,
                        .prefix = o->prefix, .link_params = o->link_params};
        if (!cg_init(&c->cg, c->graph, c->diag, c->ctx, &co))
            return true;
        /* For emitting again (compile_jit): the target cg_init settled on, its triple and
         * the prefix in the arena, as the caller's strings need not outlive compile_to. */
        co.triple = arena_strdup(c->arena, LLVMGetTarget(c->cg.mod));
        co.cpu = c->cg.cpu;
        co.features = c->cg.features;
        co.prefix = o->prefix ? arena_strdup(c->arena, o->prefix) : NULL;
        c->cg_options = co;
        c->has_cg = true;
        if (o->early_copy && cg_split_cpus() > 1)
            early_start(c);
        cg_emit_model(&c->cg);
        return true;
    }
    case STAGE_LLVM_OPT:
        cg_optimize(&c->cg, o->opt_level);
        return true;
    }
    return false;
}

static bool run_stages(Compilation *c, Stage stage, const CompileOptions *o) {
    Stage next = c->started ? c->done + 1 : STAGE_PARSE;
    for (Stage s = next; s <= stage; s++) {
        run_stage(c, s, o);
        c->started = true;
        c->done = s;
        /* Syntax errors still go through graph building (the parser recovered statement by
         * statement), so that name and shape mistakes elsewhere are reported too. */
        if (diag_count(c->diag) > 0 && s != STAGE_PARSE)
            break;
    }
    return diag_count(c->diag) == 0 && c->started && c->done >= stage;
}

bool compile_to(Compilation *c, Stage stage, const CompileOptions *o) {
    CompileOptions defaults;
    compile_options_init(&defaults);
    Compilation *volatile vc = c;
    arena_on_oom(c->arena, &c->oom);
    if (setjmp(c->oom)) {
        /* Nothing more can be allocated in the arena: the caller reports NND_ERR_NO_MEMORY. */
        arena_on_oom(vc->arena, NULL);
        vc->out_of_memory = true;
        return false;
    }
    bool ok = run_stages(c, stage, o ? o : &defaults);
    arena_on_oom(c->arena, NULL);
    return ok;
}

LLVMModuleRef compile_take_module(Compilation *c) { return cg_take_module(&c->cg); }

/* c's module emitted again in ctx, for a code generation part's thread: from c's graph,
 * which nothing changes from STAGE_LLVM on, with the target STAGE_LLVM settled on, in an
 * arena and diagnostics of the thread's own, and optimized where `optimize`. */
static LLVMModuleRef emit_copy(const Compilation *c, LLVMContextRef ctx, bool optimize,
                               char **error) {
    Arena *a = arena_new();
    Cg *cg = calloc(1, sizeof *cg);
    LLVMModuleRef mod = NULL;
    jmp_buf oom;
    bool failed = !a || !cg;
    if (!failed && setjmp(oom) != 0)
        failed = true; /* the arena ran out of memory (cg_dispose takes a partly made Cg) */
    if (failed) {
        if (cg)
            cg_dispose(cg);
        free(cg);
        arena_free(a);
        *error = strdup("out of memory");
        return NULL;
    }
    arena_on_oom(a, &oom);
    Graph g = *c->graph;
    g.arena = a;
    CgOptions o = c->cg_options;
    o.again = true;
    if (cg_init(cg, &g, diag_new(a), ctx, &o) && cg_emit_model(cg) &&
        (!optimize || cg_optimize(cg, o.opt_level)))
        mod = cg_take_module(cg);
    else
        *error = strdup("emitting the module again failed");
    cg_dispose(cg);
    free(cg);
    arena_free(a);
    return mod;
}

/* CgEmitAgain's emit: optimized as c's module was (STAGE_LLVM_OPT). */
static LLVMModuleRef emit_again(void *arg, LLVMContextRef ctx, char **error) {
    const Compilation *c = arg;
    return emit_copy(c, ctx, c->done >= STAGE_LLVM_OPT, error);
}

/* The early copy's thread: STAGE_LLVM's module emitted again while STAGE_LLVM emits it,
 * which for a JIT compile takes that emission off the critical path (LeNet-5: about 14 M
 * of the 190 M instructions between the start and the later part's end). */
static void *early_emit(void *arg) {
    Compilation *c = arg;
    EarlyCopy *e = &c->early;
    e->ctx = LLVMContextCreate();
    cg_gate_passes(e->ctx, c->cg_options.opt_level);
    e->mod = emit_copy(c, e->ctx, false, &e->error);
    return NULL;
}

static void early_start(Compilation *c) {
    c->early = (EarlyCopy){0};
    c->early.started = pthread_create(&c->early.thread, NULL, early_emit, c) == 0;
}

static void early_dispose(EarlyCopy *e) {
    if (!e->started || e->taken)
        return;
    pthread_join(e->thread, NULL);
    if (e->mod)
        LLVMDisposeModule(e->mod);
    if (e->ctx)
        LLVMContextDispose(e->ctx);
    free(e->error);
    e->taken = true;
}

/* Whether c has an early copy to offer: started, not taken yet, and c's module not
 * optimized before the split (the copy is not). */
static bool early_offered(const Compilation *c) {
    return c->early.started && !c->early.taken && c->done < STAGE_LLVM_OPT;
}

/* CgEmitAgain's take_early (compile_emit_again offers it only when early_offered). */
static LLVMModuleRef take_early(void *arg, LLVMContextRef *ctx, char **error) {
    Compilation *c = arg;
    EarlyCopy *e = &c->early;
    *ctx = NULL;
    if (!early_offered(c))
        return NULL;
    pthread_join(e->thread, NULL);
    e->taken = true;
    *ctx = e->ctx;
    *error = e->error;
    return e->mod;
}

CgEmitAgain compile_emit_again(Compilation *c) {
    return (CgEmitAgain){
        .emit = emit_again, .take_early = early_offered(c) ? take_early : NULL, .arg = c};
}

Jit *compile_jit(Compilation *c, int opt_level, int parts, CgForwardFn *forward,
                 CgParallelFn *parallel, CgWorkspaceFn *workspace_size, char **error) {
    *error = NULL;
    CgObjects objs;
    Jit *j = NULL;
    bool optimized = c->done >= STAGE_LLVM_OPT;
    CgEmitAgain again = compile_emit_again(c);
    if (cg_split_codegen(compile_take_module(c), &again, c->cg.cpu, c->cg.features, opt_level,
                         optimized, parts, &objs, error))
        j = jit_create(&objs, c->cg.linked, c->cg.nlinked, error);
    uint64_t f = j ? jit_lookup(j, c->cg.forward_name, error) : 0;
    uint64_t w = f ? jit_lookup(j, c->cg.workspace_name, error) : 0;
    uint64_t p = w ? jit_lookup(j, c->cg.parallel_name, error) : 0;
    if (!f || !w || !p) {
        jit_dispose(j);
        return NULL;
    }
    /* The generated functions are ordinary C-ABI functions at these addresses. */
    memcpy(forward, &f, sizeof *forward);
    memcpy(workspace_size, &w, sizeof *workspace_size);
    if (parallel)
        memcpy(parallel, &p, sizeof *parallel);
    return j;
}
