/* cg.h: code generation from the graph IR to LLVM IR, through the LLVM C API.
 *
 * In: a shaped graph with its parameters filled. Out: an LLVM module with two functions:
 *
 *   void PREFIX_forward(const float *const *inputs, float *const *outputs,
 *                       const int64_t *symbols, void *workspace);
 *   int64_t PREFIX_workspace_size(const int64_t *symbols);   // bytes
 *
 * Shapes are compile-time constants except the symbolic dimensions, read from `symbols`;
 * weights are constant globals. Each node is lowered by its `lower_<op>` (ops.def) into loop
 * nests; intermediate tensors live at offsets in the caller's workspace (views alias their
 * input), and outputs are written straight into the caller's buffers. */
#ifndef NND_CG_H
#define NND_CG_H

#include <llvm-c/Core.h>
#include <llvm-c/TargetMachine.h>
#include <stdbool.h>

#include "graph.h"

/* The generated entry points, as C sees them. */
typedef void (*CgForwardFn)(const float *const *inputs, float *const *outputs,
                            const int64_t *symbols, void *workspace);
typedef int64_t (*CgWorkspaceFn)(const int64_t *symbols);
/* The threads a parallel region runs on: run(ctx, task, arg, ntasks) calls task(arg, i) for
 * every i in [0, ntasks) (ntasks is at most `threads`), in any order and on any threads, and
 * returns when all are done. */
typedef void (*CgTask)(void *arg, int index);
typedef struct CgRunner {
    void (*run)(void *ctx, CgTask task, void *arg, int ntasks);
    void *ctx;
    int threads;
} CgRunner;
typedef void (*CgParallelFn)(const float *const *inputs, float *const *outputs,
                             const int64_t *symbols, void *workspace, const CgRunner *runner);

typedef struct CgOptions {
    int opt_level;        /* 0..3 */
    const char *triple;   /* NULL: the host */
    const char *cpu;      /* NULL: the host's (or "generic" for another triple) */
    const char *features; /* NULL: the host's (or none for another triple) */
    const char *prefix;   /* function name prefix; NULL: "nnd" */
    bool link_params;     /* parameters over CG_LINKED_MIN_BYTES by address (cg_param) */
    bool again;           /* the module is emitted a second time, for a code generation part
                           * (split_codegen.c): linked parameters are declared without their
                           * data, and the module is not verified again */
} CgOptions;

/* A parameter the module declares rather than holds (CgOptions.link_params): the JIT
 * defines `symbol` at a copy of its `bytes` bytes of data. */
enum { CG_LINKED_MIN_BYTES = 4096 };
typedef struct CgLinkedParam {
    const char *symbol;
    const float *data;
    size_t bytes;
} CgLinkedParam;

typedef struct Cg {
    Graph *g;
    Diag *d;
    LLVMContextRef ctx;
    LLVMModuleRef mod;
    LLVMBuilderRef b;
    LLVMTargetMachineRef tm;
    const char *cpu, *features;
    LLVMTypeRef f32, i64, i32, i1, ptr, void_t;
    LLVMValueRef fn;              /* the function being built */
    LLVMValueRef sym[MAX_SYMS];   /* symbol values in fn */
    LLVMValueRef *buf;            /* per node id: its data pointer in fn */
    LLVMValueRef *param_global;   /* per param node id: its global, made once for all functions */
    bool rolled_loops;            /* the node being lowered tiles its loops by hand (CgLoop) */
    LLVMValueRef task, ntasks;    /* i64: in a task function, its index and the task count */
    LLVMValueRef image;           /* i64: the image an image chain's kernels compute, or NULL */
    LLVMValueRef runner, pack;    /* in forward_parallel: the runner, the tasks' argument */
    LLVMValueRef region;          /* the region runner (cg_task.c), once made */
    char forward_name[160], parallel_name[160], workspace_name[160];
    bool link_params;
    bool again;                   /* CgOptions.again */
    CgLinkedParam *linked;        /* the parameters declared by address, in the arena */
    int nlinked, linked_cap;
} Cg;

/* Creates the target machine and an empty module in ctx. False after reporting (unknown
 * triple or CPU). */
bool cg_init(Cg *cg, Graph *g, Diag *d, LLVMContextRef ctx, const CgOptions *o);
void cg_dispose(Cg *cg); /* the module is left alone if cg_take_module was called */
/* Generates both functions and verifies the module. False after reporting. */
bool cg_emit_model(Cg *cg);
LLVMModuleRef cg_take_module(Cg *cg);

/* Whether LLVM knows cpu for triple (cpu_check.cpp); the triple's target must be
 * initialized. A target machine with an unknown CPU dies in code generation on x86-64. */
bool cg_cpu_known(const char *triple, const char *cpu);
bool cg_host_cpu_known(const char *cpu); /* the same for this machine's triple */
/* At -O1 and -O2, makes ctx's code generation skip the passes pass_gate.cpp lists (loop
 * strength reduction, the machine scheduler, machine CSE, ...). Every context nnd generates
 * code in gets it, when it is created. */
void cg_gate_passes(LLVMContextRef ctx, int opt_level);
/* Whether the code generator can lower op (its ops.def lowering is not NULL). */
bool cg_can_lower(OpKind op);
/* Runs the new pass manager's pipeline for opt_level with the target machine: nnd's own
 * cleanup pipeline at -O1 and -O2 (see cg.c), default<O3> at -O3, nothing at -O0. */
bool cg_optimize(Cg *cg, int opt_level);
/* The same for any module and target machine (split_codegen.c's parts); NULL, or the error
 * (release with free). */
char *cg_optimize_module(LLVMModuleRef mod, LLVMTargetMachineRef tm, int opt_level);
/* Runs a pass pipeline (LLVMRunPasses' syntax) with opt_level's vectorizer and unroller
 * settings; NULL, or the error (release with free). */
char *cg_run_passes(LLVMModuleRef mod, LLVMTargetMachineRef tm, const char *pipeline,
                    int opt_level);
/* The code generator's level for opt_level, shared by cg_init's target machine (AOT, emit
 * asm) and the JIT's, so both produce the same code. */
LLVMCodeGenOptLevel cg_codegen_level(int opt_level);
/* Assembly (LLVMAssemblyFile) or an object (LLVMObjectFile) of the module, in memory. */
LLVMMemoryBufferRef cg_emit_machine_code(Cg *cg, LLVMCodeGenFileType kind, char **error);
/* The same for any module and target machine, as LLVMTargetMachineEmitToMemoryBuffer but
 * with loop strength reduction left out of the code generator at LLVMCodeGenLevelLess (-O1,
 * -O2; emit_code.cpp). NULL on failure, with *error set (release with free). */
LLVMMemoryBufferRef cg_emit_code(LLVMTargetMachineRef tm, LLVMModuleRef mod,
                                 LLVMCodeGenFileType kind, char **error);

/* --- helpers for the lowerings (cg_ir.c) ---------------------------------------------- */
LLVMValueRef cg_i64(Cg *cg, int64_t v);
LLVMValueRef cg_f32(Cg *cg, double v);
/* The float v with x's type: an f32, or v in every lane when x is a vector of f32. */
LLVMValueRef cg_const_like(Cg *cg, LLVMValueRef x, double v);
LLVMValueRef cg_dim(Cg *cg, Dim d);                  /* its value in the current function */
LLVMValueRef cg_numel(Cg *cg, const Shape *s);
LLVMValueRef cg_mul(Cg *cg, LLVMValueRef a, LLVMValueRef b); /* i64, nsw nuw */
LLVMValueRef cg_add(Cg *cg, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef cg_load(Cg *cg, LLVMValueRef base, LLVMValueRef index); /* f32 base[index] */
LLVMValueRef cg_elem_ptr(Cg *cg, LLVMValueRef base, LLVMValueRef index); /* &base[index] */
void cg_store(Cg *cg, LLVMValueRef value, LLVMValueRef base, LLVMValueRef index);
/* Float arithmetic with the flags the kernels are built for: reassociation and contraction
 * (FMA), so reductions vectorize; infinities and NaNs still behave. */
LLVMValueRef cg_fadd(Cg *cg, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef cg_fsub(Cg *cg, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef cg_fmul(Cg *cg, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef cg_fdiv(Cg *cg, LLVMValueRef a, LLVMValueRef b);
/* llvm.NAME for x's type: llvm.NAME.f32, or .vNf32 when x is a vector. */
LLVMValueRef cg_intrinsic1(Cg *cg, const char *name, LLVMValueRef x);
LLVMValueRef cg_intrinsic2(Cg *cg, const char *name, LLVMValueRef x, LLVMValueRef y);
LLVMValueRef cg_select_lt(Cg *cg, LLVMValueRef a, LLVMValueRef b, LLVMValueRef t, LLVMValueRef f);
/* The data pointer of a parameter: a private constant global in the module, or with
 * link_params, for one over CG_LINKED_MIN_BYTES, a constant the module declares as
 * "nnd.w.NAME" (no C symbol has a dot) and cg->linked records for the JIT to define. */
LLVMValueRef cg_param(Cg *cg, const Param *p);
/* Whether cg_param needs the data of a parameter of nfloats floats: not for a linked one in a
 * module emitted again (the lowerings then skip packing it). */
bool cg_param_data_needed(const Cg *cg, int64_t nfloats);
void cg_memcpy(Cg *cg, LLVMValueRef dst, LLVMValueRef src, LLVMValueRef nfloats);
/* A hint to bring the cache line of base[i] into L2 (llvm.prefetch, read, locality 2); it
 * never faults, so i may lie past the buffer. */
void cg_prefetch_l2(Cg *cg, LLVMValueRef base, LLVMValueRef i);

/* A counted loop `for (i = 0; i < n; i++)` with optional accumulators (phis). Between begin
 * and end the builder is inside the body; after end it is past the loop and acc_out holds
 * the accumulators' final values. n may be zero. A loop whose body is already vectorized and
 * tiled by hand (`rolled`, taken from cg->rolled_loops, which such a lowering sets and
 * emit_forward clears after each node) gets llvm.loop.unroll.disable: unrolling it would
 * gain nothing, and LLVM's full-unroll analysis, which simulates every iteration of a loop
 * with a small constant trip count, costs compile time on large bodies. */
enum { CG_MAX_ACC = 32 };
typedef struct CgLoop {
    LLVMValueRef i, n;
    LLVMBasicBlockRef pre, body, exit;
    bool rolled;
    int nacc;
    LLVMValueRef acc[CG_MAX_ACC], acc_init[CG_MAX_ACC], acc_out[CG_MAX_ACC];
} CgLoop;
LLVMValueRef cg_loop_begin(Cg *cg, CgLoop *l, LLVMValueRef n, const char *name);
LLVMValueRef cg_loop_acc(Cg *cg, CgLoop *l, LLVMValueRef init, const char *name);
void cg_loop_end(Cg *cg, CgLoop *l, const LLVMValueRef *acc_next);

/* `if (cond) { ... }`: between begin and end the builder is inside the branch. */
typedef struct CgIf {
    LLVMBasicBlockRef done;
} CgIf;
void cg_if_begin(Cg *cg, CgIf *f, LLVMValueRef cond, const char *name);
void cg_if_end(Cg *cg, CgIf *f);

/* --- parallel regions (cg_task.c) ------------------------------------------------------ */
typedef bool (*LowerFn)(Cg *cg, Node *n);
/* Whether n runs as a parallel region: its lowering computes the part cg_task_part gives. */
bool cg_node_parallel(const Node *n);
/* n lowered by `lower` into a task function, and the code in forward_parallel that runs its
 * tasks; false after reporting. */
bool cg_emit_parallel(Cg *cg, Node *n, LowerFn lower);
/* This task's part [*first, *first + *count) of [0, total): the t-th of T nearly equal
 * parts; all of it outside a task function. */
void cg_task_part(Cg *cg, LLVMValueRef total, LLVMValueRef *first, LLVMValueRef *count);
/* Two ranges, one of them split: this task's part of [0, a) and all of [0, b) when a has at
 * least as many items as there are tasks (or outside a task function), else all of a and
 * this task's part of b. Returns whether a was split (an i1). */
LLVMValueRef cg_task_part2(Cg *cg, LLVMValueRef a, LLVMValueRef b, LLVMValueRef *a_first,
                           LLVMValueRef *a_count, LLVMValueRef *b_first, LLVMValueRef *b_count);
/* Whether this task is the last (true outside a task function). */
LLVMValueRef cg_task_last(Cg *cg);
/* The function-level set-up both the entry points and the task functions share (cg.c):
 * target attributes, then the symbols and every value's data pointer in the current
 * function. */
void cg_set_fn_attrs(Cg *cg, LLVMValueRef fn);
void cg_bind_values(Cg *cg, LLVMValueRef inputs, LLVMValueRef outputs, LLVMValueRef symbols,
                    LLVMValueRef workspace);

/* --- scalar math in plain IR, so loops that use it vectorize (cg_math.c) --------------- */
LLVMValueRef cg_exp(Cg *cg, LLVMValueRef x);
LLVMValueRef cg_expm1(Cg *cg, LLVMValueRef x);
LLVMValueRef cg_log(Cg *cg, LLVMValueRef x);
LLVMValueRef cg_log1p(Cg *cg, LLVMValueRef x);
LLVMValueRef cg_tanh(Cg *cg, LLVMValueRef x);
LLVMValueRef cg_sigmoid(Cg *cg, LLVMValueRef x);
LLVMValueRef cg_erfc(Cg *cg, LLVMValueRef x);

/* --- the lowerings, one per operator family (named in ops.def) ------------------------- */
bool lower_none(Cg *cg, Node *n);
bool lower_dense(Cg *cg, Node *n);
bool lower_unary(Cg *cg, Node *n);
bool lower_binary(Cg *cg, Node *n);
bool lower_softmax(Cg *cg, Node *n);
bool lower_view(Cg *cg, Node *n);
bool lower_conv2d(Cg *cg, Node *n);         /* lower_conv2d.c */
bool lower_pool2d(Cg *cg, Node *n);         /* lower_pool2d.c: maxpool2d, avgpool2d */
bool lower_global_avgpool(Cg *cg, Node *n); /* lower_pool2d.c */
/* Pools planes x_plane + [0, count) of n's input into planes y_plane + [0, count) of its
 * output (lower_pool2d.c): a pooling tail, inside its convolution's loops. */
void cg_pool_planes(Cg *cg, const Node *n, LLVMValueRef x_plane, LLVMValueRef y_plane,
                    LLVMValueRef count);
bool lower_batchnorm(Cg *cg, Node *n);      /* lower_norm.c */
bool lower_layernorm(Cg *cg, Node *n);      /* lower_norm.c */
bool lower_transpose(Cg *cg, Node *n);      /* lower_transpose.c */
bool lower_matmul(Cg *cg, Node *n);         /* lower_matmul.c */
bool lower_concat(Cg *cg, Node *n);         /* lower_concat.c */
bool lower_param(Cg *cg, Node *n);          /* lower_param.c */
/* y = a · b for one matrix of a matmul, by lower_dense.c's register-tiled kernel (unpacked
 * b: the cut panel's lines are masked loads): a [M, K] at element aoff of A, b [K, N]
 * row-major at boff of B, y [M, N] at yoff of Y, with n's epilogue. K and N are compile-time
 * constants; M may be symbolic. */
typedef struct CgGemm {
    LLVMValueRef M;
    int64_t K, N;
    LLVMValueRef A, aoff, B, boff, Y, yoff;
} CgGemm;
void cg_gemm(Cg *cg, const Node *n, const CgGemm *m);
/* Whether lower_matmul runs n through cg_gemm (constant K and P). */
bool cg_matmul_tiled(const Node *n);
/* Whether lower_matmul splits n's rows or panels between tasks (a parallel region): every
 * matmul but matrix-vector (P = 1). */
bool cg_matmul_parallel(const Node *n);
/* The most tasks a conv2d's part can go to (lower_conv2d.c): with a pooling tail or in an
 * image chain, its filter blocks per group, which alone split; else 0, no limit but the
 * work's. */
int64_t cg_conv_max_tasks(const Cg *cg, const Node *n);
/* The scalar function of an elementwise op (lower_unary's table), for fusion too. */
LLVMValueRef cg_unary_op(Cg *cg, const Node *n, LLVMValueRef x);
/* a OP b for add, sub, mul, div (lower_binary.c), on floats or vectors of them. */
LLVMValueRef cg_binary_op(Cg *cg, OpKind op, LLVMValueRef a, LLVMValueRef b);

/* --- epilogues: the elementwise ops fused into a kernel (cg_epilogue.c) ----------------- */
/* The value of kernel's epilogue (pass_fuse: kernel->epi) applied to `value`, the kernel's
 * own value at flat C-order index `flat_index` of its output; `value` unchanged, and no IR,
 * when it has none. A vector value holds the elements at flat_index, flat_index + 1, ... */
LLVMValueRef cg_epilogue(Cg *cg, const Node *kernel, LLVMValueRef value, LLVMValueRef flat_index);
/* The same for a vector whose lanes outside `lanes` (bit l: lane l) are never stored: the
 * tensor operands are not read there either (they may lie past the end of the buffer). */
LLVMValueRef cg_epilogue_lanes(Cg *cg, const Node *kernel, LLVMValueRef value,
                               LLVMValueRef flat_index, uint32_t lanes);
/* The same with the lanes a run-time <width x i1> mask (cg_vec_lanes_below's). */
LLVMValueRef cg_epilogue_picked(Cg *cg, const Node *kernel, LLVMValueRef value,
                                LLVMValueRef flat_index, LLVMValueRef mask);

#endif
