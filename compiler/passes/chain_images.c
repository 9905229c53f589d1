/* chain_images.c: convolutions that feed one another run image by image, each image through
 * all of them before the next.
 *
 * Requires: a verified graph, after fuse-pool. Guarantees: consecutive conv2d kernels K1, K2,
 * ..., where each Ki's last value (its result, or its pooling tail's) is read by K(i+1) alone
 * and is no model output, nothing but their epilogues, tails and params lies between them in
 * the schedule, and each has the filters and the work per image to split between tasks
 * (IMAGE_SPLIT_FILTERS, IMAGE_CHAIN_FLOPS, passes.h), form an image chain: every
 * Ki->chain = K1, K1->chain_end = the last one's position, and each value passed along the
 * chain is one_image. The code generator
 * loops over the images around the chain's kernels (cg.c), each computing one image
 * (lower_conv2d.c), and the memory plan gives the values passed along room for one image
 * (plan_memory.c): a VGG-style network's activations between its convolutions stay in the
 * core's cache instead of going through L3 once per layer. cifar_cnn's four convolutions
 * (8 MB between the first two at batch 64) ran 5-7% faster image by image (measured by
 * running them at batch 1).
 *
 * A conv's output image depends on its input image alone, so the chain computes exactly what
 * the layers compute one after the other. */
#include "flops.h"
#include "passes.h"

/* Whether node n runs no code of its own between two kernels of a chain after kernel k (a
 * param that is a model output has some: its copy into the caller's buffer). */
static bool inside(const Graph *g, const Node *k, const Node *n) {
    return n->host == k || n->tail_of == k || n->op == OP_INPUT ||
           (n->op == OP_PARAM && value_output_slot(g, n) < 0);
}

/* Whether conv k can be in an image chain: its regions, one per image, can still split. */
static bool chainable(const Node *k) {
    if (k->op != OP_CONV2D || k->host || !conv_splits_filters(k))
        return false;
    const Shape *y = &k->shape;
    return node_flops_per_output(k) * (double)(y->d[1].c * y->d[2].c * y->d[3].c) >=
           IMAGE_CHAIN_FLOPS;
}

/* The conv2d that reads conv k's last value alone, right after k in the schedule, or NULL. */
static Node *next_conv(const Graph *g, Node *k) {
    Node *v = k->tail ? k->tail : kernel_result(k);
    if (!chainable(k) || v->nuses != 1 || value_output_slot(g, v) >= 0)
        return NULL;
    for (int i = k->id + 1; i < g->nnodes; i++) {
        Node *n = g->nodes[i];
        if (!inside(g, k, n))
            return chainable(n) && n->in[0] == v ? n : NULL;
    }
    return NULL;
}

bool pass_chain_images(Graph *g, Diag *d) {
    (void)d;
    bool changed = false;
    for (int i = 0; i < g->nnodes; i++) {
        Node *k = g->nodes[i];
        Node *n = next_conv(g, k);
        if (!n)
            continue;
        Node *head = k->chain ? k->chain : k;
        k->chain = n->chain = head;
        head->chain_end = n->id;
        (k->tail ? k->tail : kernel_result(k))->one_image = true;
        changed = true;
    }
    return changed;
}
