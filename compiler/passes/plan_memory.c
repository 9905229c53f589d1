/* plan_memory.c: static memory planning: where each intermediate value lives in the workspace.
 *
 * Requires: a verified graph, fused or not (host/epi as pass_fuse leaves them, or all zero),
 * and that nothing changes the graph afterwards: the plan is indexed by node, so this is the
 * last pass. Guarantees: g->plan.done; every value the code generator keeps in the workspace
 * (in_workspace below) has n->buf indexing a Buffer of g->plan.bufs, every other node has
 * buf -1; two values alive at the same time never share memory, except a unary elementwise
 * kernel writing over its own input where that input dies (in place, see below); every
 * buffer starts 64-byte aligned. For a chain (an MLP, a CNN) the workspace is at most the two
 * largest adjacent values, not the sum of all of them.
 *
 * Lifetimes come from the schedule the code generator follows: the nodes in order, each
 * kernel at its own position, fused nodes inside their host's, a pooling tail (fuse_pool.c)
 * inside its convolution's; a value made and read image by image (one_image) needs room for
 * one image only. A value is born at its kernel's position and dies at the last position
 * that reads it; an image chain (chain_images.c) runs its kernels once per image, so a
 * whole-batch value it makes is born at its start, and a value made before it and read in it
 * dies no earlier than its end. An epilogue node reads at its host's position, and a view
 * (flatten, reshape, dropout, identity: the same memory) passes its readers on to the value
 * it aliases, transitively. A value nobody reads still needs its buffer at birth.
 *
 * Sizes are monomials c*M. Values whose symbolic parts M are equal form a group, planned in
 * units of M floats; the code generator lays groups out one after the other. Within a group,
 * placement is interval allocation: a few greedy orders are tried (by birth at the lowest
 * offset; largest first; by birth alternating between the bottom and the top of the lower
 * bound) and the one with the lowest peak is kept. The alternating order is what brings a
 * chain down to its lower bound, the largest sum of two adjacent values.
 *
 * In place: a kernel whose op and every epilogue op are unary elementwise (lower_unary: each
 * element is read once, then written at the same index) writes over its input when that
 * input dies there and has the same size; both values then share one Buffer. */
#include <string.h>

#include "passes.h"

enum { ALIGN_FLOATS = 16 }; /* 64 bytes */

/* cg.c's assign_buffers gives such a node its input's pointer. */
static bool aliases_input(const Graph *g, const Node *n) {
    return value_is_stored(n) && n->op != OP_INPUT && value_output_slot(g, n) < 0 &&
           value_is_view(n->op) && n->nin > 0;
}

/* Elementwise at the same index, one input: the ops ops.def lowers with lower_unary. */
static bool is_unary(OpKind op) {
    static const char *const lowering[] = {
#define OP(e, name, schema, shape, lower) [OP_##e] = #lower,
#include "ops.def"
#undef OP
    };
    return strcmp(lowering[op], "lower_unary") == 0;
}

/* --- lifetimes and blocks ------------------------------------------------------------------ */

/* One buffer: the values that share it (more than one only in place), alive together from
 * birth to death (schedule positions, inclusive). */
typedef struct Block {
    Dim unit;
    int64_t floats;
    int birth, death;
    int group;
    int64_t offset;
} Block;

typedef struct Planner {
    Graph *g;
    Node **root; /* per node: the value whose memory it is (itself, or a view's source's) */
    int *death;  /* per node: the last position that reads its memory */
    int *block;  /* per node: its block, -1 for none */
    Block *blocks;
    int nblocks;
} Planner;

/* The kernel whose loops compute n: n, its host, or the conv2d it is the pooling tail of. */
static const Node *runs_in(const Node *n) {
    const Node *k = n->host ? n->host : n;
    return k->tail_of ? k->tail_of : k;
}

static int position(const Node *n) { return runs_in(n)->id; }

/* Where reader n reads value v: at its position, or, when n runs in an image chain and v is
 * made outside it, at the chain's end: every image of the chain reads it. */
static int read_position(const Node *n, const Node *v) {
    const Node *h = runs_in(n)->chain;
    return h && runs_in(v)->chain != h ? h->chain_end : position(n);
}

/* Where kernel k's result v is born: at k's position, or, for a whole-batch value made in an
 * image chain, at the chain's start: its first image is written then. */
static int birth_position(const Node *k, const Node *v) {
    const Node *h = runs_in(k)->chain;
    return h && !v->one_image ? h->id : position(k);
}

static void find_lifetimes(Planner *p) {
    Graph *g = p->g;
    for (int i = 0; i < g->nnodes; i++) {
        Node *n = g->nodes[i];
        p->root[i] = aliases_input(g, n) ? p->root[n->in[0]->id] : n;
        p->death[i] = position(n);
    }
    for (int i = 0; i < g->nnodes; i++) {
        Node *n = g->nodes[i];
        for (int j = 0; j < n->nin; j++) {
            const Node *v = p->root[n->in[j]->id];
            int at = read_position(n, v);
            if (p->death[v->id] < at)
                p->death[v->id] = at;
        }
    }
}

/* The block that kernel k, storing `floats` units of `unit`, may write into in place: its
 * input's, when the input dies at k and has the same size. -1: none. */
static int in_place_block(const Planner *p, const Node *k, Dim unit, int64_t floats) {
    if (!is_unary(k->op) || k->nin != 1)
        return -1;
    for (int i = 0; i < k->nepi; i++)
        if (!is_unary(k->epi[i]->op))
            return -1;
    int b = p->block[p->root[k->in[0]->id]->id];
    if (b < 0 || p->blocks[b].death != k->id || p->blocks[b].floats != floats ||
        !dim_eq(p->blocks[b].unit, unit))
        return -1;
    return b;
}

/* Splits the elements value v needs, numel = c*M, into M (the unit) and c rounded up to
 * whole 64-byte lines: v's shape, or one image of it (one_image). */
static bool split_size(const Node *v, Dim *unit, int64_t *floats) {
    Shape s = v->shape;
    if (v->one_image)
        s.d[0] = dim_const(1);
    Dim numel;
    if (!shape_numel(&s, &numel))
        return false;
    *floats = (numel.c + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
    numel.c = 1;
    *unit = numel;
    return true;
}

/* One block per workspace value, in schedule order, in-place values joining their input's.
 * False when a size cannot be computed (it overflows: shape inference reported it). */
static bool make_blocks(Planner *p) {
    Graph *g = p->g;
    for (int i = 0; i < g->nnodes; i++) {
        Node *k = g->nodes[i];
        if (k->host)
            continue; /* runs inside its kernel */
        Node *v = kernel_result(k);
        int birth = birth_position(k, v);
        if (!value_in_workspace(g, v))
            continue;
        Dim unit;
        int64_t floats;
        if (!split_size(v, &unit, &floats))
            return false;
        int b = in_place_block(p, k, unit, floats);
        if (b < 0) {
            b = p->nblocks++;
            p->blocks[b] = (Block){.unit = unit, .floats = floats, .birth = birth, .death = birth};
        }
        p->block[v->id] = b;
        if (p->blocks[b].death < p->death[v->id])
            p->blocks[b].death = p->death[v->id];
    }
    return true;
}

/* --- placement within one group ------------------------------------------------------------ */

typedef struct Span {
    int64_t lo, hi;
} Span;

typedef enum Order { BY_BIRTH, LARGEST_FIRST, ALTERNATE, NORDERS } Order;

static bool overlap(const Block *a, const Block *b) {
    return a->birth <= b->death && b->birth <= a->death;
}

/* The memory of the placed blocks alive at the same time as block b. */
static int conflicts(Block *const *bl, const bool *placed, int m, int b, Span *out) {
    int n = 0;
    for (int j = 0; j < m; j++)
        if (j != b && placed[j] && bl[j]->floats > 0 && overlap(bl[j], bl[b]))
            out[n++] = (Span){bl[j]->offset, bl[j]->offset + bl[j]->floats};
    return n;
}

/* Insertion sort: the arrays are one group's blocks, and the result must be deterministic. */
static void sort_spans(Span *s, int n, bool by_hi_desc) {
    for (int i = 1; i < n; i++) {
        Span x = s[i];
        int j = i;
        while (j > 0 && (by_hi_desc ? s[j - 1].hi < x.hi : s[j - 1].lo > x.lo)) {
            s[j] = s[j - 1];
            j--;
        }
        s[j] = x;
    }
}

/* The lowest offset where `size` fits between the spans. */
static int64_t fit_low(Span *s, int n, int64_t size) {
    sort_spans(s, n, false);
    int64_t at = 0;
    for (int i = 0; i < n && at + size > s[i].lo; i++)
        if (s[i].hi > at)
            at = s[i].hi;
    return at;
}

/* The highest offset where `size` fits between the spans and below cap; negative: none. */
static int64_t fit_high(Span *s, int n, int64_t size, int64_t cap) {
    sort_spans(s, n, true);
    int64_t top = cap;
    for (int i = 0; i < n && s[i].hi > top - size; i++)
        if (s[i].lo < top)
            top = s[i].lo;
    return top - size;
}

/* The most memory the group's blocks need at one time: no placement does better. (The most
 * is reached when some block is born.) */
static int64_t lower_bound(Block *const *bl, int m) {
    int64_t best = 0;
    for (int k = 0; k < m; k++) {
        int64_t live = 0;
        for (int j = 0; j < m; j++)
            if (bl[j]->birth <= bl[k]->birth && bl[k]->birth <= bl[j]->death)
                live += bl[j]->floats;
        if (live > best)
            best = live;
    }
    return best;
}

/* Places the group's blocks (bl, in birth order) in the given order; returns the peak. */
static int64_t place(Block *const *bl, int m, Order order, int64_t cap, int *seq, bool *placed,
                     Span *tmp) {
    for (int k = 0; k < m; k++) {
        placed[k] = false;
        int j = k;
        /* Largest first, ties by birth (insertion keeps it stable). */
        while (order == LARGEST_FIRST && j > 0 && bl[seq[j - 1]]->floats < bl[k]->floats) {
            seq[j] = seq[j - 1];
            j--;
        }
        seq[j] = k;
    }
    int64_t peak = 0;
    for (int k = 0; k < m; k++) {
        int b = seq[k];
        int n = conflicts(bl, placed, m, b, tmp);
        int64_t at = -1;
        if (order == ALTERNATE && k % 2 == 1)
            at = fit_high(tmp, n, bl[b]->floats, cap);
        if (at < 0)
            at = fit_low(tmp, n, bl[b]->floats);
        bl[b]->offset = at;
        placed[b] = true;
        if (at + bl[b]->floats > peak)
            peak = at + bl[b]->floats;
    }
    return peak;
}

/* Plans one group's blocks (in birth order); returns its peak. */
static int64_t plan_group(Arena *a, Block *const *bl, int m) {
    int *seq = arena_array(a, (size_t)m + 1, sizeof *seq);
    bool *placed = arena_array(a, (size_t)m + 1, sizeof *placed);
    Span *tmp = arena_array(a, (size_t)m + 1, sizeof *tmp);
    int64_t *best = arena_array(a, (size_t)m + 1, sizeof *best);
    int64_t cap = lower_bound(bl, m), best_peak = -1;
    for (Order o = 0; o < NORDERS && best_peak != cap; o++) {
        int64_t peak = place(bl, m, o, cap, seq, placed, tmp);
        if (best_peak >= 0 && peak >= best_peak)
            continue;
        best_peak = peak;
        for (int k = 0; k < m; k++)
            best[k] = bl[k]->offset;
    }
    for (int k = 0; k < m; k++)
        bl[k]->offset = best[k];
    return best_peak;
}

/* Groups blocks by unit, in order of first use. False when there are more units than the
 * Plan has groups for. */
static bool make_groups(Planner *p, Plan *plan) {
    plan->ngroups = 0;
    for (int b = 0; b < p->nblocks; b++) {
        int k = 0;
        while (k < plan->ngroups && !dim_eq(plan->group_unit[k], p->blocks[b].unit))
            k++;
        if (k == plan->ngroups) {
            if (k == MAX_SYMS + 1)
                return false;
            plan->group_unit[plan->ngroups++] = p->blocks[b].unit;
        }
        p->blocks[b].group = k;
    }
    return true;
}

bool pass_plan_memory(Graph *g, Diag *d) {
    (void)d;
    Plan *plan = &g->plan;
    memset(plan, 0, sizeof *plan);
    for (int i = 0; i < g->nnodes; i++)
        g->nodes[i]->buf = -1;
    size_t n = (size_t)g->nnodes + 1;
    Planner p = {.g = g,
                 .root = arena_array(g->arena, n, sizeof(Node *)),
                 .death = arena_array(g->arena, n, sizeof(int)),
                 .block = arena_array(g->arena, n, sizeof(int)),
                 .blocks = arena_array(g->arena, n, sizeof(Block))};
    for (int i = 0; i < g->nnodes; i++)
        p.block[i] = -1;
    find_lifetimes(&p);
    /* Without a plan the code generator gives every value its own buffer: correct, only
     * larger. That is the answer to sizes that overflow and to more units than groups. */
    if (!make_blocks(&p) || !make_groups(&p, plan)) {
        memset(plan, 0, sizeof *plan);
        return false;
    }

    Block **members = arena_array(g->arena, n, sizeof(Block *));
    for (int k = 0; k < plan->ngroups; k++) {
        int m = 0;
        for (int b = 0; b < p.nblocks; b++)
            if (p.blocks[b].group == k)
                members[m++] = &p.blocks[b];
        plan->group_floats[k] = plan_group(g->arena, members, m);
    }
    plan->bufs = arena_array(g->arena, (size_t)p.nblocks + 1, sizeof(Buffer));
    plan->nbufs = p.nblocks;
    for (int b = 0; b < p.nblocks; b++)
        plan->bufs[b] = (Buffer){.unit = p.blocks[b].unit, .floats = p.blocks[b].floats,
                                 .offset = p.blocks[b].offset, .group = p.blocks[b].group};
    for (int i = 0; i < g->nnodes; i++)
        g->nodes[i]->buf = p.block[i];
    plan->done = true;
    return plan->nbufs > 0;
}
