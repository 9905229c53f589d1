/* passes.h: the graph optimizer, as a list of passes run in order (compiler/passes/).
 *
 * In: a shaped graph with its parameters filled. Out: the same graph, rewritten: values
 * computed from constants alone folded into constants, dead nodes gone, batchnorm folded
 * into the layer before it, elementwise tails fused into the kernel that produces their
 * input, a pooling layer computed inside the convolution before it, convolutions that feed
 * one another run image by image, and every remaining intermediate value given a place in
 * one planned workspace.
 * Each pass is a file with one entry point that returns whether it changed anything; after
 * each, graph_verify checks the invariants in debug and test builds.
 *
 * Invariants every pass keeps (graph_verify):
 *   - g->nodes is in topological order and nodes[i]->id == i;
 *   - a node's inputs are earlier nodes, none of them fused unless it is the last of its
 *     kernel's epilogue (fused intermediate values are never materialized);
 *   - a fused node's host lists it in its epilogue, in order, and the epilogue of a kernel
 *     is a chain: each epilogue node's first input is the previous value of the chain;
 *   - a pooling tail (K->tail = P, P->tail_of = K) reads K's result, which nothing else
 *     reads and which is no output;
 *   - an image chain's convolutions are consecutive kernels, each reading the one before's
 *     last value (one_image), which nothing else reads and which is no output;
 *   - inputs and outputs of the model are never removed or fused away. */
#ifndef NND_PASSES_H
#define NND_PASSES_H

#include <stdbool.h>

#include "graph.h"

typedef bool (*PassFn)(Graph *g, Diag *d);

typedef struct Pass {
    const char *name;
    PassFn run;
} Pass;

bool pass_fold_constants(Graph *g, Diag *d); /* fold_constants.c */
bool pass_dce(Graph *g, Diag *d);            /* dce.c */
bool pass_fold_batchnorm(Graph *g, Diag *d); /* fold_batchnorm.c */
bool pass_fuse(Graph *g, Diag *d);           /* fuse.c */
bool pass_fuse_pool(Graph *g, Diag *d);      /* fuse_pool.c */
/* What a conv2d needs to run image by image (fuse_pool.c, chain_images.c) without losing
 * threads: such a layer's tasks split its filters only, so it needs filters per group for
 * two blocks (lower_conv2d.c's hold at most 8); and in an image chain each region computes
 * one image, so that image needs the work of a few tasks (cg_task.c's least is 2^18 FLOPs).
 * Below either, a forward_parallel run (a constant batch, or fewer images than threads) would
 * compute the layer on one thread where it split the images before. */
enum { IMAGE_SPLIT_FILTERS = 16, IMAGE_CHAIN_FLOPS = 1 << 20 };
bool conv_splits_filters(const Node *conv); /* fuse_pool.c: Fg >= IMAGE_SPLIT_FILTERS */
bool pass_chain_images(Graph *g, Diag *d);   /* chain_images.c */
bool pass_plan_memory(Graph *g, Diag *d);    /* plan_memory.c */

/* Runs the pipeline (pipeline.c) at opt_level (0: nothing), stopping after the pass named
 * stop_after (NULL: all). False when a pass reported an error or verification failed
 * (an internal error, reported as such). An unknown stop_after is reported too. */
bool passes_run(Graph *g, Diag *d, int opt_level, const char *stop_after);
/* The names of the passes, in order, NULL-terminated (for --after's help). */
const char *const *passes_names(void);
/* Checks the invariants above; reports an internal error and returns false on a violation. */
bool graph_verify(const Graph *g, Diag *d);
/* Removes nodes marked dead (n->id < 0) and renumbers the rest, keeping the order. */
void graph_compact(Graph *g);
/* Makes every consumer of `old` (node inputs and model outputs) use `repl` instead, keeping
 * nuses right. Does not remove `old`. */
void graph_replace_uses(Graph *g, Node *old, Node *repl);
/* The node whose value a kernel finally stores: the last of its epilogue, or itself. */
Node *kernel_result(Node *n);

/* Where values live (values.c); the planner, the code generator and emit opt share these. */
bool value_is_view(OpKind op);                         /* flatten, reshape, dropout, identity */
int value_output_slot(const Graph *g, const Node *n);  /* its output index, or -1 */
bool value_is_stored(const Node *n);  /* false for values fused into the middle of a kernel */
bool value_in_workspace(const Graph *g, const Node *n); /* stored; not input, output or view */

/* `nndc emit opt`: the kernels with the ops fused into each, the buffers with their offsets
 * and sizes, and the workspace size as a formula and for every symbol = `batch`. */
void graph_dump_opt(FILE *out, const Graph *g, int64_t batch);

#endif
