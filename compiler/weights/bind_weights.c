/* bind_weights.c: parameters from a safetensors file or a seed; see bind_weights.h. */
#include "bind_weights.h"

#include <math.h>
#include <string.h>

#include "safetensors.h"

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1) with 24 random bits: exact in f32. */
static float uniform01(uint64_t *state) { return (float)(splitmix64(state) >> 40) * 0x1p-24f; }

void weights_init_random(Param *p, uint64_t seed) {
    /* Seeded by the name, so a parameter's values do not depend on the others. */
    uint64_t state = seed;
    for (const char *c = p->name; *c; c++)
        state = (state ^ (unsigned char)*c) * 0x100000001b3ull;
    Dim n;
    shape_numel(&p->shape, &n);
    float bound = p->fan_in > 0 ? 1.0f / sqrtf((float)p->fan_in) : 1.0f;
    for (int64_t i = 0; i < n.c; i++) {
        float u = uniform01(&state);
        switch (p->init) {
        case PINIT_UNIFORM_FANIN: p->data[i] = (2 * u - 1) * bound; break;
        case PINIT_ONES: p->data[i] = 1.0f; break;
        case PINIT_ZEROS: p->data[i] = 0.0f; break;
        case PINIT_VARIANCE: p->data[i] = 0.5f + u; break;
        }
    }
}

static const char *join_path(Arena *a, const char *dir, const char *path) {
    if (path[0] == '/' || !dir || !*dir)
        return path;
    return arena_printf(a, "%s/%s", dir, path);
}

static const char *st_shape_str(Arena *a, const StTensor *t) {
    Shape s = {.rank = t->rank};
    for (int i = 0; i < t->rank; i++)
        s.d[i] = dim_const(t->shape[i]);
    return shape_str(a, &s, NULL);
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* When a layer's weight only disagrees with its input's size (dense: the last dimension,
 * conv2d: the channels), the mistake is the input's: say so, as SPEC 2's example does. */
static bool explain_input_mismatch(Graph *g, Diag *d, const Node *n, const Param *p,
                                   const StTensor *t) {
    if (strcmp(p->suffix, "weight") != 0 || t->rank != p->shape.rank)
        return false;
    int k = n->op == OP_DENSE ? 1 : n->op == OP_CONV2D ? 1 : -1;
    if (k < 0)
        return false;
    for (int i = 0; i < t->rank; i++)
        if ((i == k) == (t->shape[i] == p->shape.d[i].c))
            return false;
    const char *got = node_shape_str(g, n->in[0]);
    const char *w = st_shape_str(g->arena, t);
    if (n->op == OP_DENSE)
        diag_error(d, n->in_loc[0],
                   "dense '%s' needs an input whose last dimension is %lld, got %s (tensor '%s' "
                   "is %s)", n->prefix, (long long)t->shape[1], got, p->name, w);
    else {
        long long channels = (long long)(t->shape[1] * attr_int(n, "groups"));
        diag_error(d, n->in_loc[0], "conv2d '%s' expects %lld input channel%s, got %s (tensor "
                   "'%s' is %s)", n->prefix, channels, channels == 1 ? "" : "s", got, p->name, w);
    }
    return true;
}

static bool bind_param(Graph *g, Diag *d, const Node *n, Param *p, StFile *f) {
    StTensor *t = (StTensor *)st_find(f, p->name);
    const char *want = graph_shape_str(g, &p->shape);
    if (!t) {
        diag_error(d, n->loc, "%s '%s': tensor '%s' %s is missing from '%s'", op_name(n->op),
                   n->prefix, p->name, want, g->weights_path);
        return false;
    }
    t->used = true;
    bool same = t->rank == p->shape.rank;
    for (int i = 0; same && i < t->rank; i++)
        same = t->shape[i] == p->shape.d[i].c;
    if (!same) {
        if (!explain_input_mismatch(g, d, n, p, t))
            diag_error(d, n->loc, "%s '%s': tensor '%s' has shape %s, expected %s",
                       op_name(n->op), n->prefix, p->name, st_shape_str(g->arena, t), want);
        return false;
    }
    /* The dtype first: a tensor of an unknown dtype is not size-checked against its bytes,
     * so its shape alone must not decide an allocation. */
    if (!st_is_float(t)) {
        diag_error(d, n->loc, "%s '%s': tensor '%s' has dtype %s; expected F32, F64, F16 or BF16",
                   op_name(n->op), n->prefix, p->name, t->dtype_name);
        return false;
    }
    Dim numel;
    shape_numel(&p->shape, &numel);
    p->data = arena_array(g->arena, (size_t)numel.c, sizeof(float));
    return st_to_f32(t, p->data);
}

static int count_params(const Graph *g, const Node **first) {
    int n = 0;
    *first = NULL;
    for (int i = 0; i < g->nnodes; i++) {
        n += g->nodes[i]->nparams;
        if (g->nodes[i]->nparams && !*first)
            *first = g->nodes[i];
    }
    return n;
}

static bool fill_random(Graph *g, uint64_t seed) {
    for (int i = 0; i < g->nnodes; i++)
        for (int k = 0; k < g->nodes[i]->nparams; k++) {
            Param *p = &g->nodes[i]->params[k];
            Dim numel;
            shape_numel(&p->shape, &numel);
            p->data = arena_array(g->arena, (size_t)numel.c, sizeof(float));
            weights_init_random(p, seed);
        }
    return true;
}

bool weights_bind(Graph *g, Diag *d, const WeightsOptions *o) {
    const Node *first;
    int nparams = count_params(g, &first);
    if (!g->weights_path) {
        if (nparams == 0)
            return true;
        if (o && o->init_random)
            return fill_random(g, o->seed);
        diag_error(d, first->loc,
                   "%s '%s' has parameters, but the model has no weights statement (add "
                   "`weights \"FILE.safetensors\"`, or use --init random:SEED)",
                   op_name(first->op), first->prefix);
        return false;
    }
    int before = diag_count(d);
    StFile f;
    const char *path = join_path(g->arena, o ? o->base_dir : NULL, g->weights_path);
    if (o && o->preloaded) { /* a copy: binding marks tensors used */
        f = *o->preloaded;
        f.tensors = arena_array(g->arena, (size_t)f.ntensors + 1, sizeof *f.tensors);
        memcpy(f.tensors, o->preloaded->tensors, (size_t)f.ntensors * sizeof *f.tensors);
    } else if (!st_load(g->arena, d, g->weights_loc, path, &f)) {
        return false;
    }
    for (int i = 0; i < g->nnodes; i++)
        for (int k = 0; k < g->nodes[i]->nparams; k++)
            bind_param(g, d, g->nodes[i], &g->nodes[i]->params[k], &f);
    for (int i = 0; i < f.ntensors; i++) {
        const StTensor *t = &f.tensors[i];
        if (t->used || ends_with(t->name, ".num_batches_tracked"))
            continue;
        diag_error(d, g->weights_loc, "unexpected tensor '%s' %s in '%s': the model has no such "
                   "parameter", t->name, st_shape_str(g->arena, t), g->weights_path);
    }
    return diag_count(d) == before;
}
