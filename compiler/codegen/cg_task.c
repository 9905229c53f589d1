/* cg_task.c: parallel regions. A large kernel (dense, conv2d, the windowed pools, a matmul
 * but matrix-vector) is lowered into a task function of its own,
 *
 *   static void PREFIX_forward_parallel.NODE(const Pack *pack, int task);
 *   typedef struct Pack { inputs, outputs, symbols, workspace; int64_t ntasks, image; } Pack;
 *
 * which binds the symbols and buffers again from the pack, as the entry point does, and
 * computes part `task` of `ntasks` of the node's output; which part is the lowering's choice
 * (cg_task_part: the batch, the output channels, the weight panels). forward_parallel fills
 * one pack on its stack and, at each such node, calls the region runner (region_fn), which
 * hands the task function to the runner with
 * T = min(runner->threads, work / MIN_TASK_FLOPS, the parts the kernel can split into)
 * tasks, or calls it once with T = 1 when there is no runner or too little work. Every
 * lowering computes each output element with the same instructions whatever part it falls
 * in, so the outputs do not depend on T. Inside an image chain (chain_images.c) the region
 * runs once per image, and the pack says which (cg->image in the task function). */
#include "cg.h"
#include "flops.h"
#include "passes.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

enum {
    MIN_TASK_FLOPS = 1 << 18, /* a task's least work: about 2 us, ten times a region's cost
                               * when the runner's threads are awake; an image chain's
                               * image has the work of four (IMAGE_CHAIN_FLOPS) */
    PACK_FIELDS = 6,          /* inputs, outputs, symbols, workspace, ntasks, image */
};

_Static_assert(IMAGE_CHAIN_FLOPS >= 4 * MIN_TASK_FLOPS, "a chain's image splits in a few tasks");

/* The most tasks n's part can go to; 0: no limit but the work's. */
static int64_t max_tasks(const Cg *cg, const Node *n) {
    return n->op == OP_CONV2D ? cg_conv_max_tasks(cg, n) : 0;
}

bool cg_node_parallel(const Node *n) {
    switch (n->op) {
    case OP_DENSE:
    case OP_CONV2D:
    case OP_MAXPOOL2D:
    case OP_AVGPOOL2D: return true;
    case OP_MATMUL: return cg_matmul_parallel(n);
    default: return false;
    }
}

/* FLOPs per output element: a matmul's 2K, K known only at run time where it is symbolic. */
static LLVMValueRef per_output(Cg *cg, const Node *n) {
    if (n->op == OP_MATMUL) {
        const Shape *a = &n->in[0]->shape;
        return cg_mul(cg, cg_dim(cg, a->d[a->rank - 1]), cg_i64(cg, 2));
    }
    double per = node_flops_per_output(n);
    return cg_i64(cg, per < 1 ? 1 : per > (double)(1 << 30) ? 1 << 30 : (int64_t)per);
}

static LLVMTypeRef pack_type(Cg *cg) {
    LLVMTypeRef f[PACK_FIELDS] = {cg->ptr, cg->ptr, cg->ptr, cg->ptr, cg->i64, cg->i64};
    return LLVMStructTypeInContext(cg->ctx, f, PACK_FIELDS, 0);
}

static LLVMValueRef field(Cg *cg, LLVMTypeRef type, LLVMValueRef base, unsigned i) {
    return LLVMBuildStructGEP2(cg->b, type, base, i, "");
}

/* The pack, in forward_parallel's entry block, filled with its four pointer arguments. */
static LLVMValueRef pack_of(Cg *cg) {
    if (cg->pack)
        return cg->pack;
    LLVMBasicBlockRef at = LLVMGetInsertBlock(cg->b);
    LLVMBasicBlockRef entry = LLVMGetEntryBasicBlock(cg->fn);
    LLVMPositionBuilderBefore(cg->b, LLVMGetFirstInstruction(entry));
    LLVMTypeRef pt = pack_type(cg);
    cg->pack = LLVMBuildAlloca(cg->b, pt, "pack");
    for (unsigned i = 0; i < 4; i++)
        LLVMBuildStore(cg->b, LLVMGetParam(cg->fn, i), field(cg, pt, cg->pack, i));
    LLVMPositionBuilderAtEnd(cg->b, at);
    return cg->pack;
}

/* The task function: the pack's values bound again, then n's part. */
static LLVMValueRef emit_task(Cg *cg, Node *n, LowerFn lower, bool *ok) {
    char name[320];
    snprintf(name, sizeof name, "%s.%s", cg->parallel_name, n->name);
    LLVMTypeRef args[2] = {cg->ptr, cg->i32};
    LLVMValueRef fn = LLVMAddFunction(cg->mod, name, LLVMFunctionType(cg->void_t, args, 2, 0));
    LLVMSetLinkage(fn, LLVMInternalLinkage);
    cg_set_fn_attrs(cg, fn);

    LLVMValueRef saved_fn = cg->fn, *saved_buf = cg->buf, saved_sym[MAX_SYMS];
    LLVMBasicBlockRef saved_at = LLVMGetInsertBlock(cg->b);
    memcpy(saved_sym, cg->sym, sizeof saved_sym);
    cg->fn = fn;
    cg->buf = arena_array(cg->g->arena, (size_t)cg->g->nnodes + 1, sizeof(LLVMValueRef));
    LLVMPositionBuilderAtEnd(cg->b, LLVMAppendBasicBlockInContext(cg->ctx, fn, "entry"));
    LLVMTypeRef pt = pack_type(cg);
    LLVMValueRef pack = LLVMGetParam(fn, 0), v[PACK_FIELDS];
    for (unsigned i = 0; i < PACK_FIELDS - 1; i++)
        v[i] = LLVMBuildLoad2(cg->b, i < 4 ? cg->ptr : cg->i64, field(cg, pt, pack, i), "");
    cg->task = LLVMBuildZExt(cg->b, LLVMGetParam(fn, 1), cg->i64, "task");
    cg->ntasks = v[4];
    LLVMValueRef saved_image = cg->image; /* the entry point's, while it emits a chain */
    cg->image = n->chain ? LLVMBuildLoad2(cg->b, cg->i64, field(cg, pt, pack, 5), "image") : NULL;
    cg_bind_values(cg, v[0], v[1], v[2], v[3]);
    *ok = lower(cg, n);
    LLVMBuildRetVoid(cg->b);

    cg->task = cg->ntasks = NULL;
    cg->image = saved_image;
    cg->fn = saved_fn;
    cg->buf = saved_buf;
    memcpy(cg->sym, saved_sym, sizeof saved_sym);
    LLVMPositionBuilderAtEnd(cg->b, saved_at);
    return fn;
}

/* The region runner, emitted once per module (cg->region):
 *
 *   static void PREFIX_forward_parallel$region(Pack *pack, const Runner *runner,
 *                                                void (*task)(Pack *, int), int64_t work,
 *                                                int64_t most);
 *
 * T = min(runner->threads, work / MIN_TASK_FLOPS, most); with a runner and T > 1, the runner
 * runs T tasks, else task(pack, 0) with T = 1. One call per region rather than this code at
 * each: LeNet-5's forward_parallel was 195 instructions in 25 blocks, and its code generation
 * about as costly per instruction as a kernel's. */
static LLVMValueRef region_fn(Cg *cg) {
    if (cg->region)
        return cg->region;
    char name[200];
    snprintf(name, sizeof name, "%s$region", cg->parallel_name);
    LLVMTypeRef args[5] = {cg->ptr, cg->ptr, cg->ptr, cg->i64, cg->i64};
    LLVMValueRef fn = LLVMAddFunction(cg->mod, name, LLVMFunctionType(cg->void_t, args, 5, 0));
    LLVMSetLinkage(fn, LLVMInternalLinkage);
    cg_set_fn_attrs(cg, fn);
    LLVMBasicBlockRef at = LLVMGetInsertBlock(cg->b);
    LLVMValueRef pack = LLVMGetParam(fn, 0), runner = LLVMGetParam(fn, 1);
    LLVMValueRef task = LLVMGetParam(fn, 2), work = LLVMGetParam(fn, 3);
    LLVMValueRef most = LLVMGetParam(fn, 4);
    LLVMBasicBlockRef entry = LLVMAppendBasicBlockInContext(cg->ctx, fn, "entry");
    LLVMBasicBlockRef check = LLVMAppendBasicBlockInContext(cg->ctx, fn, "check");
    LLVMBasicBlockRef par = LLVMAppendBasicBlockInContext(cg->ctx, fn, "threads");
    LLVMBasicBlockRef one = LLVMAppendBasicBlockInContext(cg->ctx, fn, "one");
    LLVMPositionBuilderAtEnd(cg->b, entry);
    LLVMValueRef none = LLVMBuildICmp(cg->b, LLVMIntEQ, runner, LLVMConstPointerNull(cg->ptr), "");
    LLVMBuildCondBr(cg->b, none, one, check);

    LLVMPositionBuilderAtEnd(cg->b, check);
    LLVMTypeRef rf[3] = {cg->ptr, cg->ptr, cg->i32}, pt = pack_type(cg);
    LLVMTypeRef rt = LLVMStructTypeInContext(cg->ctx, rf, 3, 0);
    LLVMValueRef threads = LLVMBuildSExt(
        cg->b, LLVMBuildLoad2(cg->b, cg->i32, field(cg, rt, runner, 2), "threads"), cg->i64, "");
    LLVMValueRef parts = LLVMBuildUDiv(cg->b, work, cg_i64(cg, MIN_TASK_FLOPS), "");
    parts = LLVMBuildSelect(cg->b, LLVMBuildICmp(cg->b, LLVMIntSLT, parts, most, ""), parts,
                            most, "");
    LLVMValueRef T = LLVMBuildSelect(cg->b, LLVMBuildICmp(cg->b, LLVMIntSLT, parts, threads, ""),
                                     parts, threads, "ntasks");
    LLVMBuildCondBr(cg->b, LLVMBuildICmp(cg->b, LLVMIntSGT, T, cg_i64(cg, 1), ""), par, one);

    LLVMPositionBuilderAtEnd(cg->b, par);
    LLVMBuildStore(cg->b, T, field(cg, pt, pack, 4));
    LLVMValueRef run = LLVMBuildLoad2(cg->b, cg->ptr, field(cg, rt, runner, 0), "run");
    LLVMValueRef ctx = LLVMBuildLoad2(cg->b, cg->ptr, field(cg, rt, runner, 1), "ctx");
    LLVMTypeRef run_args[4] = {cg->ptr, cg->ptr, cg->ptr, cg->i32};
    LLVMValueRef call[4] = {ctx, task, pack, LLVMBuildTrunc(cg->b, T, cg->i32, "")};
    LLVMBuildCall2(cg->b, LLVMFunctionType(cg->void_t, run_args, 4, 0), run, call, 4, "");
    LLVMBuildRetVoid(cg->b);

    LLVMPositionBuilderAtEnd(cg->b, one);
    LLVMBuildStore(cg->b, cg_i64(cg, 1), field(cg, pt, pack, 4));
    LLVMTypeRef task_args[2] = {cg->ptr, cg->i32};
    LLVMValueRef targs[2] = {pack, LLVMConstInt(cg->i32, 0, 0)};
    LLVMBuildCall2(cg->b, LLVMFunctionType(cg->void_t, task_args, 2, 0), task, targs, 2, "");
    LLVMBuildRetVoid(cg->b);
    LLVMPositionBuilderAtEnd(cg->b, at);
    return cg->region = fn;
}

bool cg_emit_parallel(Cg *cg, Node *n, LowerFn lower) {
    bool ok;
    LLVMValueRef task = emit_task(cg, n, lower, &ok);
    LLVMValueRef pack = pack_of(cg);
    if (cg->image)
        LLVMBuildStore(cg->b, cg->image, field(cg, pack_type(cg), pack, 5));
    Shape out = n->shape;
    if (n->chain)
        out.d[0] = dim_const(1); /* one image per region */
    int64_t most = max_tasks(cg, n);
    LLVMValueRef region = region_fn(cg);
    LLVMValueRef work = cg_mul(cg, cg_numel(cg, &out), per_output(cg, n));
    LLVMValueRef call[5] = {pack, cg->runner, task, work, cg_i64(cg, most > 0 ? most : INT64_MAX)};
    LLVMBuildCall2(cg->b, LLVMGlobalGetValueType(region), region, call, 5, "");
    return ok;
}

void cg_task_part(Cg *cg, LLVMValueRef total, LLVMValueRef *first, LLVMValueRef *count) {
    if (!cg->task) {
        *first = cg_i64(cg, 0);
        *count = total;
        return;
    }
    LLVMValueRef a = LLVMBuildUDiv(cg->b, cg_mul(cg, total, cg->task), cg->ntasks, "part.first");
    LLVMValueRef b = LLVMBuildUDiv(
        cg->b, cg_mul(cg, total, cg_add(cg, cg->task, cg_i64(cg, 1))), cg->ntasks, "part.end");
    *first = a;
    *count = LLVMBuildSub(cg->b, b, a, "part.count");
}

LLVMValueRef cg_task_part2(Cg *cg, LLVMValueRef a, LLVMValueRef b, LLVMValueRef *a_first,
                           LLVMValueRef *a_count, LLVMValueRef *b_first, LLVMValueRef *b_count) {
    LLVMValueRef a0, an, b0, bn;
    cg_task_part(cg, a, &a0, &an);
    cg_task_part(cg, b, &b0, &bn);
    LLVMValueRef by_a = cg->task ? LLVMBuildICmp(cg->b, LLVMIntSGE, a, cg->ntasks, "part.first.axis")
                                 : LLVMConstInt(cg->i1, 1, 0);
    *a_first = LLVMBuildSelect(cg->b, by_a, a0, cg_i64(cg, 0), "");
    *a_count = LLVMBuildSelect(cg->b, by_a, an, a, "");
    *b_first = LLVMBuildSelect(cg->b, by_a, cg_i64(cg, 0), b0, "");
    *b_count = LLVMBuildSelect(cg->b, by_a, b, bn, "");
    return by_a;
}

LLVMValueRef cg_task_last(Cg *cg) {
    if (!cg->task)
        return LLVMConstInt(cg->i1, 1, 0);
    return LLVMBuildICmp(cg->b, LLVMIntEQ, cg->task,
                         LLVMBuildSub(cg->b, cg->ntasks, cg_i64(cg, 1), ""), "task.last");
}
