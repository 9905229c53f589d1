/* compile.h: the compilation pipeline, stage by stage.
 *
 *   parse      source text        -> AST                 (grammar/)
 *   graph      AST                -> graph IR            (build_graph.c)
 *   shapes     graph IR           -> shaped graph IR     (shapes/)
 *   weights    shaped graph       -> parameters filled   (weights/)
 *   opt        graph              -> optimized graph     (passes/: fused, folded, planned)
 *   llvm       graph              -> LLVM IR module      (codegen/)
 *   llvm-opt   LLVM IR            -> optimized LLVM IR   (codegen/cg.c, new pass manager)
 *
 * compile_to runs the stages up to the one asked for and stops after any stage that
 * reported errors, with every error of that stage collected in c->diag. One Compilation
 * owns one arena (every AST node, graph node, shape and string) and is freed once. */
#ifndef NND_COMPILE_H
#define NND_COMPILE_H

#include <llvm-c/Core.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>

#include "ast.h"
#include "cg.h"
#include "graph.h"
#include "jit.h"
#include "safetensors.h"
#include "split_codegen.h"

typedef enum Stage {
    STAGE_PARSE,
    STAGE_GRAPH,   /* built and shape-checked */
    STAGE_WEIGHTS,
    STAGE_OPT,
    STAGE_LLVM,
    STAGE_LLVM_OPT,
} Stage;

typedef struct CompileOptions {
    int opt_level;        /* 0..3 */
    bool init_random;
    uint64_t seed;
    const char *triple;   /* NULL: the host */
    const char *cpu;      /* NULL: the host's */
    const char *prefix;   /* entry point prefix; NULL: "nnd" */
    const char *base_dir; /* for relative weights paths; NULL: the model file's directory */
    const char *stop_after; /* the last optimizer pass to run (NULL: all) */
    bool link_params;     /* for compile_jit: large parameters by address (CgOptions) */
    /* For compile_jit: STAGE_LLVM also starts emitting the module again in a thread, for
     * the second code generation part, while it emits the module (with two CPUs or more) */
    bool early_copy;
} CompileOptions;

/* The early copy of CompileOptions.early_copy: its thread, and what it made. */
typedef struct EarlyCopy {
    pthread_t thread;
    bool started, taken;
    LLVMContextRef ctx;
    LLVMModuleRef mod;
    char *error;
} EarlyCopy;

typedef struct Compilation {
    Arena *arena;
    Diag *diag;
    const char *file;     /* as given */
    const char *text;
    size_t len;
    const StFile *preloaded_weights; /* an imported ONNX model's parameters (NULL: none) */
    AstModel *ast;
    Graph *graph;
    LLVMContextRef ctx;   /* the module's, from STAGE_LLVM on */
    Cg cg;                /* valid from STAGE_LLVM on */
    CgOptions cg_options; /* what STAGE_LLVM emitted with (compile_jit emits it again) */
    EarlyCopy early;      /* CompileOptions.early_copy's, joined by compile_jit's second part
                           * or by compilation_free */
    bool has_cg;
    Stage done;           /* the last stage completed */
    bool started;
    bool out_of_memory;   /* compile_to failed because memory ran out */
    jmp_buf oom;
} Compilation;

void compile_options_init(CompileOptions *o);
Compilation *compilation_new(void);  /* NULL when out of memory */
void compilation_free(Compilation *c);
/* Reads a model file (at most 64 MiB); an .onnx file is imported (onnx_import.h), its
 * parameters kept for the weights stage. False after reporting. */
bool compile_read_file(Compilation *c, const char *path);
/* An ONNX model already in memory, imported as compile_read_file imports an .onnx file
 * (name stands for the file). False after reporting. */
bool compile_read_onnx_bytes(Compilation *c, const char *name, const uint8_t *bytes, size_t len);
void compile_set_source(Compilation *c, const char *name, const char *text, size_t len);
bool compile_to(Compilation *c, Stage stage, const CompileOptions *o);
/* Moves the module out; it stays in the Compilation's context, so it must be disposed before
 * the Compilation is freed. */
LLVMModuleRef compile_take_module(Compilation *c);

/* c's module (STAGE_LLVM, or STAGE_LLVM_OPT) emitted again, for the parts of
 * cg_split_codegen: the same functions and globals under the same names, in another
 * context, in another thread. */
CgEmitAgain compile_emit_again(Compilation *c);

/* JIT-compiles the module taken out of c at opt_level: optimized already (c at
 * STAGE_LLVM_OPT) or here (c at STAGE_LLVM), in `parts` threads (0: as many as pay,
 * split_codegen.h), and finds its entry points (parallel may be NULL). NULL on failure, with
 * *error set (release it with free). */
Jit *compile_jit(Compilation *c, int opt_level, int parts, CgForwardFn *forward,
                 CgParallelFn *parallel, CgWorkspaceFn *workspace_size, char **error);

#endif
