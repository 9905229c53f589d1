/* fuse_pool.c: a pooling layer computed inside the convolution that feeds it, image by image.
 *
 * Requires: a verified graph, after fuse (a convolution's epilogue is complete). Guarantees:
 * for each conv2d kernel K whose result v (the last of its epilogue, or K) is read by one
 * node alone, a maxpool2d or avgpool2d P, and is not a model output, and which has the
 * filters to split between tasks (IMAGE_SPLIT_FILTERS, passes.h): K->tail = P and
 * P->tail_of = K. The code generator then computes P inside K's loop over the images, each
 * image's pooled planes right after its convolved ones (lower_conv2d.c), and the memory plan
 * gives v room for one image instead of the batch (plan_memory.c): v is written and read
 * again in the core's cache, and the next image reuses the room. Before, cifar_cnn's second
 * layer wrote 8 MB at batch 64 (4 MB at 2 threads) that its pool read back from L3; with
 * the tail the layer and its pool run 4-8% faster, the whole model about 3% (medians of
 * alternated `nndc bench` runs on a Zen 4 core).
 *
 * P is scheduled at K's position: moving it earlier is always valid, since v is its only
 * input and v is ready once K has run; the planner gives P's output its life from there. */
#include "passes.h"

static bool is_pool(OpKind op) { return op == OP_MAXPOOL2D || op == OP_AVGPOOL2D; }

bool conv_splits_filters(const Node *conv) {
    return conv->shape.d[1].c / attr_int(conv, "groups") >= IMAGE_SPLIT_FILTERS;
}

/* The pooling layer that reads conv k's result alone, or NULL. */
static Node *pool_after(const Graph *g, Node *k) {
    Node *v = kernel_result(k);
    if (k->op != OP_CONV2D || k->host || v->nuses != 1 || value_output_slot(g, v) >= 0 ||
        !conv_splits_filters(k))
        return NULL;
    for (int i = v->id + 1; i < g->nnodes; i++) {
        Node *n = g->nodes[i];
        for (int j = 0; j < n->nin; j++)
            if (n->in[j] == v)
                return is_pool(n->op) && j == 0 && !n->host && !n->tail_of ? n : NULL;
    }
    return NULL;
}

bool pass_fuse_pool(Graph *g, Diag *d) {
    (void)d;
    bool changed = false;
    for (int i = 0; i < g->nnodes; i++) {
        Node *k = g->nodes[i];
        Node *p = k->tail ? NULL : pool_after(g, k);
        if (p) {
            k->tail = p;
            p->tail_of = k;
            kernel_result(k)->one_image = true;
            changed = true;
        }
    }
    return changed;
}
