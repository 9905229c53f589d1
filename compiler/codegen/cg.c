/* cg.c: the code generator's driver: target machine, the three entry points, buffer layout,
 * dispatch to each node's lowering, verification, optimization and machine-code emission.
 * See cg.h for the functions' contract. */
#include "cg.h"
#include "passes.h"
#include "cg_vec.h"

#include <llvm-c/Analysis.h>
#include <llvm-c/Transforms/PassBuilder.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const LowerFn lowerings[] = {
#define OP(e, name, schema, shape, lower) [OP_##e] = lower,
#include "ops.def"
#undef OP
};

bool cg_can_lower(OpKind op) { return op < OP_COUNT && lowerings[op] != NULL; }

bool lower_none(Cg *cg, Node *n) {
    (void)cg;
    (void)n;
    return true;
}

bool cg_host_cpu_known(const char *cpu) {
    LLVMInitializeNativeTarget();
    char *host = LLVMGetDefaultTargetTriple();
    char *triple = LLVMNormalizeTargetTriple(host);
    bool ok = cg_cpu_known(triple, cpu);
    LLVMDisposeMessage(triple);
    LLVMDisposeMessage(host);
    return ok;
}

bool cg_init(Cg *cg, Graph *g, Diag *d, LLVMContextRef ctx, const CgOptions *o) {
    memset(cg, 0, sizeof *cg);
    cg->g = g;
    cg->d = d;
    cg->ctx = ctx;
    cg->link_params = o && o->link_params;
    cg->again = o && o->again;
    SrcLoc at = {.file = g->file};

    LLVMInitializeNativeTarget();
    LLVMInitializeNativeAsmPrinter();
    LLVMInitializeNativeAsmParser();
    char *host_triple = LLVMGetDefaultTargetTriple();
    /* Normalized as clang and llc do: "thumbv7em-none-eabihf" must read as environment
     * eabihf (the hard-float ABI), not as an OS called eabihf. */
    const char *asked = o && o->triple ? o->triple : host_triple;
    char *triple_owned = LLVMNormalizeTargetTriple(asked);
    const char *triple = triple_owned;
    bool host = !(o && o->triple);
    char *host_cpu = LLVMGetHostCPUName(), *host_features = LLVMGetHostCPUFeatures();
    cg->cpu = arena_strdup(g->arena, o && o->cpu ? o->cpu : host ? host_cpu : "generic");
    cg->features =
        arena_strdup(g->arena, o && o->features ? o->features : host && !(o && o->cpu) ? host_features : "");
    LLVMDisposeMessage(host_cpu);
    LLVMDisposeMessage(host_features);

    LLVMTargetRef target;
    char *err = NULL;
    bool ok = true;
    if (LLVMGetTargetFromTriple(triple, &target, &err)) {
        diag_error(d, at, "unknown target '%s': %s", asked, err ? err : "");
        ok = false;
    } else if (o && o->cpu && !cg_cpu_known(triple, o->cpu)) {
        diag_error(d, at, "unknown CPU '%s' for target '%s'", o->cpu, triple);
        ok = false;
    } else {
        LLVMCodeGenOptLevel cl = cg_codegen_level(o ? o->opt_level : 2);
        cg->tm = LLVMCreateTargetMachine(target, triple, cg->cpu, cg->features, cl, LLVMRelocPIC,
                                         LLVMCodeModelDefault);
        if (!cg->tm) {
            diag_error(d, at, "cannot create a target machine for '%s' (cpu '%s')", triple, cg->cpu);
            ok = false;
        }
    }
    LLVMDisposeMessage(err);
    if (ok) {
        cg->mod = LLVMModuleCreateWithNameInContext(g->name, ctx);
        LLVMSetTarget(cg->mod, triple);
        LLVMTargetDataRef td = LLVMCreateTargetDataLayout(cg->tm);
        LLVMSetModuleDataLayout(cg->mod, td);
        LLVMDisposeTargetData(td);
        cg->b = LLVMCreateBuilderInContext(ctx);
        cg->f32 = LLVMFloatTypeInContext(ctx);
        cg->i64 = LLVMInt64TypeInContext(ctx);
        cg->i32 = LLVMInt32TypeInContext(ctx);
        cg->i1 = LLVMInt1TypeInContext(ctx);
        cg->ptr = LLVMPointerTypeInContext(ctx, 0);
        cg->void_t = LLVMVoidTypeInContext(ctx);
        const char *prefix = o && o->prefix ? o->prefix : "nnd";
        snprintf(cg->forward_name, sizeof cg->forward_name, "%s_forward", prefix);
        snprintf(cg->parallel_name, sizeof cg->parallel_name, "%s_forward_parallel", prefix);
        snprintf(cg->workspace_name, sizeof cg->workspace_name, "%s_workspace_size", prefix);
        cg->buf = arena_array(g->arena, (size_t)g->nnodes + 1, sizeof(LLVMValueRef));
        cg->param_global = arena_array(g->arena, (size_t)g->nnodes + 1, sizeof(LLVMValueRef));
    }
    LLVMDisposeMessage(host_triple);
    LLVMDisposeMessage(triple_owned);
    return ok;
}

void cg_dispose(Cg *cg) {
    if (cg->b)
        LLVMDisposeBuilder(cg->b);
    if (cg->mod)
        LLVMDisposeModule(cg->mod);
    if (cg->tm)
        LLVMDisposeTargetMachine(cg->tm);
    cg->b = NULL;
    cg->mod = NULL;
    cg->tm = NULL;
}

LLVMModuleRef cg_take_module(Cg *cg) {
    LLVMModuleRef m = cg->mod;
    cg->mod = NULL;
    return m;
}

enum { WS_ALIGN = 64 };

/* The workspace layout in the current function: the byte offset of every workspace value
 * (written to offsets[id]) and the total bytes. With a memory plan (pass_plan_memory),
 * buffers are reused across values whose lifetimes do not overlap: each group of buffers
 * sharing a symbolic unit is laid out after the previous group. Without one (-O0), every
 * value gets its own buffer. */
static LLVMValueRef layout(Cg *cg, LLVMValueRef *offsets) {
    const Plan *plan = &cg->g->plan;
    LLVMValueRef total = cg_i64(cg, 0);
    if (plan->done) {
        LLVMValueRef base[MAX_SYMS + 1];
        for (int k = 0; k < plan->ngroups; k++) {
            base[k] = total;
            LLVMValueRef floats = cg_mul(cg, cg_i64(cg, plan->group_floats[k]),
                                         cg_dim(cg, plan->group_unit[k]));
            total = cg_add(cg, total, cg_mul(cg, floats, cg_i64(cg, 4)));
        }
        for (int i = 0; offsets && i < cg->g->nnodes; i++) {
            Node *n = cg->g->nodes[i];
            if (!value_in_workspace(cg->g, n) || n->buf < 0)
                continue;
            const Buffer *b = &plan->bufs[n->buf];
            LLVMValueRef off = cg_mul(cg, cg_i64(cg, b->offset * 4), cg_dim(cg, b->unit));
            offsets[i] = cg_add(cg, base[b->group], off);
        }
        return total;
    }
    for (int i = 0; i < cg->g->nnodes; i++) {
        Node *n = cg->g->nodes[i];
        if (!value_in_workspace(cg->g, n))
            continue;
        if (offsets)
            offsets[i] = total;
        LLVMValueRef bytes = cg_mul(cg, cg_numel(cg, &n->shape), cg_i64(cg, 4));
        bytes = LLVMBuildAnd(cg->b, cg_add(cg, bytes, cg_i64(cg, WS_ALIGN - 1)),
                             cg_i64(cg, ~(int64_t)(WS_ALIGN - 1)), "");
        total = cg_add(cg, total, bytes);
    }
    return total;
}

void cg_set_fn_attrs(Cg *cg, LLVMValueRef fn) {
    const char *kv[][2] = {{"target-cpu", cg->cpu}, {"target-features", cg->features}};
    for (int i = 0; i < 2; i++) {
        if (!kv[i][1] || !*kv[i][1])
            continue;
        LLVMAttributeRef a = LLVMCreateStringAttribute(cg->ctx, kv[i][0], (unsigned)strlen(kv[i][0]),
                                                       kv[i][1], (unsigned)strlen(kv[i][1]));
        LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, a);
    }
    /* With AVX-512 the loop vectorizer otherwise keeps to 256-bit vectors (LLVM's default for
     * these CPUs, against the clock drop of 512-bit code, which the hand-tiled kernels run
     * anyway): gelu over [8, 4096] took 52-85 us with ymm and 32 us with zmm. */
    if (cg_vec_native(cg) == 16) {
        const char *k = "prefer-vector-width", *v = "512";
        LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
                                LLVMCreateStringAttribute(cg->ctx, k, (unsigned)strlen(k), v,
                                                          (unsigned)strlen(v)));
    }
    const char *nounwind = "nounwind";
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
                            LLVMCreateEnumAttribute(cg->ctx, LLVMGetEnumAttributeKindForName(
                                                                 nounwind, strlen(nounwind)), 0));
}

/* Symbol values in the current function: bound ones read from the array, derived ones
 * computed from those (so callers only ever pass the bound ones). */
static void load_symbols(Cg *cg, LLVMValueRef syms) {
    for (int s = 0; s < cg->g->nsyms; s++) {
        const SymDef *def = &cg->g->sym_def[s];
        if (def->derived) {
            cg->sym[s] = cg_add(cg, cg_dim(cg, def->a), cg_dim(cg, def->b));
            continue;
        }
        LLVMValueRef idx = cg_i64(cg, s);
        LLVMValueRef p = LLVMBuildInBoundsGEP2(cg->b, cg->i64, syms, &idx, 1, "");
        cg->sym[s] = LLVMBuildLoad2(cg->b, cg->i64, p, cg->g->syms[s]);
    }
}

static void emit_workspace_size(Cg *cg) {
    LLVMTypeRef args[1] = {cg->ptr};
    LLVMValueRef fn = LLVMAddFunction(cg->mod, cg->workspace_name,
                                      LLVMFunctionType(cg->i64, args, 1, 0));
    cg_set_fn_attrs(cg, fn);
    cg->fn = fn;
    LLVMPositionBuilderAtEnd(cg->b, LLVMAppendBasicBlockInContext(cg->ctx, fn, "entry"));
    load_symbols(cg, LLVMGetParam(fn, 0));
    LLVMBuildRet(cg->b, layout(cg, NULL));
}

static LLVMValueRef load_ptr(Cg *cg, LLVMValueRef array, int index, const char *name) {
    LLVMValueRef idx = cg_i64(cg, index);
    LLVMValueRef p = LLVMBuildInBoundsGEP2(cg->b, cg->ptr, array, &idx, 1, "");
    return LLVMBuildLoad2(cg->b, cg->ptr, p, name);
}

/* Gives every stored value its data pointer: inputs and outputs from the caller's arrays,
 * views their source's, the rest an offset in the workspace. A kernel (a node with an
 * epilogue) writes its final value, so its pointer is that value's. */
static void assign_buffers(Cg *cg, LLVMValueRef ins, LLVMValueRef outs, LLVMValueRef ws) {
    Graph *g = cg->g;
    LLVMValueRef *offsets = arena_array(g->arena, (size_t)g->nnodes + 1, sizeof(LLVMValueRef));
    layout(cg, offsets);
    for (int i = 0; i < g->nnodes; i++) {
        Node *n = g->nodes[i];
        int slot = value_output_slot(g, n);
        if (!value_is_stored(n))
            cg->buf[i] = NULL;
        else if (n->op == OP_INPUT)
            cg->buf[i] = load_ptr(cg, ins, n->input_index, n->name);
        else if (slot >= 0)
            cg->buf[i] = load_ptr(cg, outs, slot, n->name);
        else if (value_is_view(n->op))
            cg->buf[i] = cg->buf[n->in[0]->id];
        else if (n->op == OP_PARAM)
            cg->buf[i] = cg->param_global[i] ? cg->param_global[i]
                                              : (cg->param_global[i] = cg_param(cg, &n->params[0]));
        else
            cg->buf[i] = LLVMBuildInBoundsGEP2(cg->b, LLVMInt8TypeInContext(cg->ctx), ws,
                                               &offsets[i], 1, n->name);
    }
    for (int i = 0; i < g->nnodes; i++)
        if (g->nodes[i]->nepi)
            cg->buf[i] = cg->buf[kernel_result(g->nodes[i])->id];
}

void cg_bind_values(Cg *cg, LLVMValueRef inputs, LLVMValueRef outputs, LLVMValueRef symbols,
                    LLVMValueRef workspace) {
    load_symbols(cg, symbols);
    assign_buffers(cg, inputs, outputs, workspace);
}

/* forward_parallel: every node in order, the parallel ones through their task functions, an
 * image chain's inside one loop over the images. */
static bool emit_forward_parallel(Cg *cg) {
    Graph *g = cg->g;
    LLVMTypeRef args[5] = {cg->ptr, cg->ptr, cg->ptr, cg->ptr, cg->ptr};
    LLVMValueRef fn = LLVMAddFunction(cg->mod, cg->parallel_name,
                                      LLVMFunctionType(cg->void_t, args, 5, 0));
    cg_set_fn_attrs(cg, fn);
    const char *names[5] = {"inputs", "outputs", "symbols", "workspace", "runner"};
    for (int i = 0; i < 5; i++)
        LLVMSetValueName2(LLVMGetParam(fn, (unsigned)i), names[i], strlen(names[i]));
    cg->fn = fn;
    cg->runner = LLVMGetParam(fn, 4);
    LLVMPositionBuilderAtEnd(cg->b, LLVMAppendBasicBlockInContext(cg->ctx, fn, "entry"));
    cg_bind_values(cg, LLVMGetParam(fn, 0), LLVMGetParam(fn, 1), LLVMGetParam(fn, 2),
                   LLVMGetParam(fn, 3));

    bool ok = true;
    CgLoop images; /* the loop of the image chain being emitted */
    for (int i = 0; i < g->nnodes; i++) {
        Node *n = g->nodes[i];
        if (n->host || n->tail_of)
            continue; /* emitted inside its kernel's loops */
        if (n->chain == n) /* an image chain: its kernels inside one loop over the images */
            cg->image = cg_loop_begin(cg, &images, cg_dim(cg, n->shape.d[0]),
                                      arena_printf(g->arena, "%s.image", n->name));
        LowerFn lower = lowerings[n->op];
        if (!lower) {
            diag_error(cg->d, n->loc, "%s '%s': this operator is not yet supported by the code "
                       "generator", op_name(n->op), n->name);
            ok = false;
            continue;
        }
        if (ok && !(cg_node_parallel(n) ? cg_emit_parallel(cg, n, lower) : lower(cg, n)))
            ok = false;
        cg->rolled_loops = false;
        if (n->chain && n->chain->chain_end == i) {
            cg_loop_end(cg, &images, NULL); /* opened at the chain's first kernel */
            cg->image = NULL;
        }
    }
    /* An output whose value lives elsewhere (an input, or a node already written to an
     * earlier output) is copied into its buffer last. */
    for (int k = 0; ok && k < g->noutputs; k++) {
        Node *n = g->outputs[k];
        if (n->op != OP_INPUT && value_output_slot(g, n) == k)
            continue;
        cg_memcpy(cg, load_ptr(cg, LLVMGetParam(fn, 1), k, g->output_names[k]), cg->buf[n->id],
                  cg_numel(cg, &n->shape));
    }
    LLVMBuildRetVoid(cg->b);
    return ok;
}

/* forward: forward_parallel without a runner. */
static void emit_forward(Cg *cg) {
    LLVMTypeRef args[5] = {cg->ptr, cg->ptr, cg->ptr, cg->ptr, cg->ptr};
    LLVMTypeRef ptype = LLVMFunctionType(cg->void_t, args, 5, 0);
    LLVMValueRef fn = LLVMAddFunction(cg->mod, cg->forward_name,
                                      LLVMFunctionType(cg->void_t, args, 4, 0));
    cg_set_fn_attrs(cg, fn);
    const char *names[4] = {"inputs", "outputs", "symbols", "workspace"};
    LLVMValueRef call[5];
    for (int i = 0; i < 4; i++) {
        call[i] = LLVMGetParam(fn, (unsigned)i);
        LLVMSetValueName2(call[i], names[i], strlen(names[i]));
    }
    call[4] = LLVMConstPointerNull(cg->ptr);
    LLVMPositionBuilderAtEnd(cg->b, LLVMAppendBasicBlockInContext(cg->ctx, fn, "entry"));
    LLVMBuildCall2(cg->b, ptype, LLVMGetNamedFunction(cg->mod, cg->parallel_name), call, 5, "");
    LLVMBuildRetVoid(cg->b);
}

bool cg_emit_model(Cg *cg) {
    emit_workspace_size(cg);
    if (!emit_forward_parallel(cg))
        return false;
    emit_forward(cg);
    if (cg->again)
        return true; /* the same module passed verification when it was first emitted */
    char *msg = NULL;
    if (LLVMVerifyModule(cg->mod, LLVMReturnStatusAction, &msg)) {
        diag_error(cg->d, (SrcLoc){.file = cg->g->file},
                   "internal error: generated code failed verification: %s", msg ? msg : "");
        LLVMDisposeMessage(msg);
        return false;
    }
    LLVMDisposeMessage(msg);
    return true;
}

/* The optimizer's pipeline per level. The conv2d and dense kernels arrive hand-vectorized
 * (explicit vector FMAs in register tiles, loops already rotated and guarded by
 * cg_loop_begin, no allocas, no calls but intrinsics), so they only need what the lowerings
 * leave cleaned up: constant branches, index arithmetic (x * 1, + 0, repeated products) and,
 * at -O2, repeated loads of the same weight, which early-cse merges. The other lowerings
 * (matmul, elementwise, norms, softmax, transpose) write unit-stride scalar loops for the
 * loop vectorizer, so -O2 keeps loop-vectorize, which gives up at once on the kernels'
 * vector loops, and loop-unroll, which unrolls the short vector loops it makes (a 64-column
 * matmul row runs 26% more instructions without it) and, as default<O2> did, the kernels'
 * short constant loops. default<O2> spent about half of a JIT compile in its inliner, other
 * loop passes, SLP vectorizer and GVN (mlp_s 216 M of 421 M instructions, LeNet-5 1.9 G of
 * 3.9 G) for no speed: the dense kernels' inner loops come out the same, and interleaved A/B
 * runs of the bench models showed no consistent difference.
 * Adding LICM and GVN raised register pressure (more spills); indvars and full unrolling as
 * loop passes cost more than the rest of the pipeline. -O1 does no vectorization, as
 * default<O1> did not; -O3 keeps LLVM's whole default<O3>. Both end with loop
 * simplification, which the code generator ran for loop strength reduction before
 * emit_code.cpp left LSR out: the code stays the same. */
static const char *const pipelines[] = {
    "default<O0>",
    "function(simplifycfg,instcombine<no-verify-fixpoint>,loop-simplify)",
    ("function(simplifycfg,early-cse<memssa>,instcombine<no-verify-fixpoint>,loop-vectorize,"
     "loop-unroll<O2>,simplifycfg,loop-simplify)"),
    "default<O3>",
};

LLVMCodeGenOptLevel cg_codegen_level(int opt_level) {
    /* -O2 gets the "Less" code generator too: llc -O1 and -O2 emit byte-identical code for
     * the optimized IR of 437 models (examples, tests/ref, golden, bench), and the JIT
     * spends ~9% fewer instructions. */
    return opt_level <= 0 ? LLVMCodeGenLevelNone
           : opt_level <= 2 ? LLVMCodeGenLevelLess
                            : LLVMCodeGenLevelAggressive;
}

char *cg_run_passes(LLVMModuleRef mod, LLVMTargetMachineRef tm, const char *pipeline,
                    int opt_level) {
    LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
    /* Only default<O3> reads these (loop-vectorize named in a pipeline string vectorizes
     * and interleaves by default). The C API leaves SLP vectorization off, unlike clang. */
    LLVMPassBuilderOptionsSetSLPVectorization(po, opt_level >= 2);
    LLVMPassBuilderOptionsSetLoopVectorization(po, opt_level >= 2);
    LLVMPassBuilderOptionsSetLoopUnrolling(po, opt_level >= 2);
    LLVMErrorRef err = LLVMRunPasses(mod, pipeline, tm, po);
    LLVMDisposePassBuilderOptions(po);
    if (!err)
        return NULL;
    char *msg = LLVMGetErrorMessage(err);
    char *copy = strdup(msg ? msg : "?");
    LLVMDisposeErrorMessage(msg);
    return copy;
}

char *cg_optimize_module(LLVMModuleRef mod, LLVMTargetMachineRef tm, int opt_level) {
    return cg_run_passes(mod, tm, pipelines[opt_level < 0 ? 0 : opt_level > 3 ? 3 : opt_level],
                         opt_level);
}

bool cg_optimize(Cg *cg, int opt_level) {
    char *msg = cg_optimize_module(cg->mod, cg->tm, opt_level);
    if (msg)
        diag_error(cg->d, (SrcLoc){.file = cg->g->file}, "internal error: optimizer: %s",
                   msg);
    free(msg);
    return !msg;
}

LLVMMemoryBufferRef cg_emit_machine_code(Cg *cg, LLVMCodeGenFileType kind, char **error) {
    /* Emitting runs codegen passes that change the IR: work on a clone. */
    LLVMModuleRef clone = LLVMCloneModule(cg->mod);
    LLVMMemoryBufferRef out = cg_emit_code(cg->tm, clone, kind, error);
    LLVMDisposeModule(clone);
    return out;
}
