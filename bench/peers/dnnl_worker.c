/* dnnl_worker.c: the oneDNN peer, through its C API (dnnl.h, Debian's libdnnl 2.6, built
 * with OpenMP). Speaks the protocol of peer.h; `dnnl_worker MODELS_DIR`.
 *
 * How the network is built, as oneDNN's own examples do it:
 * - convolution (direct), inner product and pooling primitives with format_tag any, so
 *   oneDNN picks its preferred (blocked, e.g. nChw16c) layouts for activations and weights;
 * - ReLU fused as an eltwise post-op; the residual add fused as a binary-add post-op (then
 *   ReLU) where oneDNN has a non-reference kernel for that, else as a sum post-op into a
 *   copy of the residual (oneDNN 2.6 on AVX-512 takes this second way: its brgconv does not
 *   take the binary post-op and only the slow reference convolution would);
 *   softmax as its primitive; flatten needs nothing (the inner product takes the 4-D
 *   blocked tensor with 4-D weights, which is the same product);
 * - weights reordered into the chosen layouts once, at load, outside the timed region;
 * - activations: the NCHW input reordered into the first primitive's layout and the last
 *   result reordered back to plain NCHW / NC inside each pass (timed), because the caller of
 *   every backend hands over and gets back plain C-order tensors.
 * Threads: omp_set_num_threads(T) before the primitives are created (oneDNN reads it then). */
#define _POSIX_C_SOURCE 200809L
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>

#include "peer.h"

#define MAX_OBJS 256
#define MAX_STEPS 64

typedef struct {
    dnnl_primitive_t prim;
    int nargs;
    dnnl_exec_arg_t args[8];
} Step;

static dnnl_engine_t engine;
static dnnl_stream_t stream;
static Step steps[MAX_STEPS];
static int nsteps;
static dnnl_memory_t mems[MAX_OBJS], user_in, user_out;
static int nmems;
static dnnl_primitive_t prims[MAX_OBJS];
static int nprims;
static char impls[1024]; /* the implementation oneDNN chose for each primitive */

static const char *info(void) {
    static char s[512];
    const dnnl_version_t *v = dnnl_version();
    snprintf(s, sizeof s, "oneDNN | %d.%d.%d (cpu runtime %s) | omp_set_num_threads(T); "
             "blocked layouts chosen by oneDNN (format_tag any), weight reorders at load, "
             "input/output reorders timed; ReLU and residual add fused as post-ops",
             v->major, v->minor, v->patch,
             v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : "other");
    return s;
}

static void release(void) {
    for (int i = 0; i < nprims; i++)
        dnnl_primitive_destroy(prims[i]);
    for (int i = 0; i < nmems; i++)
        dnnl_memory_destroy(mems[i]);
    nprims = nmems = nsteps = 0;
    user_in = user_out = NULL;
    impls[0] = 0;
}

static int bad(char *msg, size_t len, const char *what, dnnl_status_t st) {
    snprintf(msg, len, "oneDNN: %s failed (status %d)", what, (int)st);
    return -1;
}

#define TRY(call, what)                                \
    do {                                               \
        dnnl_status_t st_ = (call);                    \
        if (st_ != dnnl_success)                       \
            return bad(msg, len, what, st_);           \
    } while (0)

static int new_mem(const dnnl_memory_desc_t *md, void *handle, dnnl_memory_t *out, char *msg,
                   size_t len) {
    if (nmems == MAX_OBJS)
        return bad(msg, len, "too many memories", dnnl_out_of_memory);
    TRY(dnnl_memory_create(out, md, engine, handle ? handle : DNNL_MEMORY_ALLOCATE),
        "memory_create");
    mems[nmems++] = *out;
    return 0;
}

/* Creates the primitive of pd, records its implementation name, destroys pd. */
static int new_prim(dnnl_primitive_desc_t pd, const char *label, dnnl_primitive_t *out,
                    char *msg, size_t len) {
    const char *impl = "?";
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    size_t n = strlen(impls);
    snprintf(impls + n, sizeof impls - n, "%s%s:%s", n ? "," : "", label, impl);
    dnnl_status_t st = dnnl_primitive_create(out, pd);
    dnnl_primitive_desc_destroy(pd);
    if (st != dnnl_success)
        return bad(msg, len, "primitive_create", st);
    prims[nprims++] = *out;
    return 0;
}

static int add_step(dnnl_primitive_t p, int nargs, const dnnl_exec_arg_t *args, char *msg,
                    size_t len) {
    if (nsteps == MAX_STEPS)
        return bad(msg, len, "too many steps", dnnl_out_of_memory);
    steps[nsteps] = (Step){.prim = p, .nargs = nargs};
    memcpy(steps[nsteps].args, args, sizeof(dnnl_exec_arg_t) * (size_t)nargs);
    nsteps++;
    return 0;
}

/* A reorder from src (md) into a new memory of layout want; returns the new memory. When
 * now is set it runs at once (weights) instead of becoming a step of each pass. */
static int reorder(dnnl_memory_t src, const dnnl_memory_desc_t *md, const dnnl_memory_desc_t *want,
                   int now, dnnl_memory_t *out, char *msg, size_t len) {
    if (dnnl_memory_desc_equal(md, want)) {
        *out = src;
        return 0;
    }
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t p;
    TRY(dnnl_reorder_primitive_desc_create(&pd, md, engine, want, engine, NULL), "reorder pd");
    if (new_mem(want, NULL, out, msg, len) || new_prim(pd, "reorder", &p, msg, len))
        return -1;
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, *out}};
    if (!now)
        return add_step(p, 2, args, msg, len);
    TRY(dnnl_primitive_execute(p, stream, 2, args), "reorder");
    TRY(dnnl_stream_wait(stream), "stream_wait");
    return 0;
}

/* The user's parameter tensor (PyTorch layout tag) reordered into the primitive's layout. */
static int weights(const float *data, int ndims, const dnnl_dims_t dims, dnnl_format_tag_t tag,
                   const dnnl_memory_desc_t *want, dnnl_memory_t *out, char *msg, size_t len) {
    dnnl_memory_desc_t md;
    dnnl_memory_t user;
    TRY(dnnl_memory_desc_init_by_tag(&md, ndims, dims, dnnl_f32, tag), "weights md");
    if (new_mem(&md, (void *)data, &user, msg, len))
        return -1;
    return reorder(user, &md, want, 1, out, msg, len);
}

enum { RESID_NONE, RESID_BINARY, RESID_SUM };

/* The primitive descriptor of a convolution or inner product with its post-ops: for a
 * residual, a binary add of src1 (RESID_BINARY, dst in the residual's layout) or a sum into
 * dst (RESID_SUM, dst filled with the residual first); then ReLU. NULL when not offered. */
static dnnl_primitive_desc_t layer_pd(const Layer *l, int batch, const dnnl_memory_desc_t *cur_md,
                                      int resid, const dnnl_memory_desc_t *saved_md, int relu,
                                      const dnnl_dims_t wd, int wnd) {
    int conv = l->kind == L_CONV;
    dnnl_dims_t bd = {l->units}, od = {batch, l->units, l->out_h, l->out_w};
    dnnl_dims_t strides = {1, 1}, pad = {l->padding, l->padding};
    dnnl_memory_desc_t w_any, b_md, dst_md, src_md = *cur_md;
    dnnl_memory_desc_init_by_tag(&w_any, wnd, wd, dnnl_f32, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&b_md, 1, bd, dnnl_f32, dnnl_x);
    dnnl_memory_desc_init_by_tag(&dst_md, conv ? 4 : 2, od, dnnl_f32, dnnl_format_tag_any);
    if (conv)
        dnnl_memory_desc_init_by_tag(&src_md, 4, cur_md->dims, dnnl_f32, dnnl_format_tag_any);
    if (resid == RESID_BINARY)
        dst_md = *saved_md; /* the binary post-op wants src1 and dst alike */
    dnnl_primitive_attr_t attr;
    dnnl_post_ops_t po;
    dnnl_primitive_desc_t pd = NULL;
    if (dnnl_primitive_attr_create(&attr) != dnnl_success)
        return NULL;
    if (dnnl_post_ops_create(&po) == dnnl_success) {
        if (resid == RESID_BINARY)
            dnnl_post_ops_append_binary(po, dnnl_binary_add, saved_md);
        if (resid == RESID_SUM)
            dnnl_post_ops_append_sum(po, 1.0f);
        if (relu)
            dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f);
        dnnl_primitive_attr_set_post_ops(attr, po);
        dnnl_post_ops_destroy(po);
        if (conv) {
            dnnl_convolution_desc_t cd;
            if (dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference,
                                                   dnnl_convolution_direct, &src_md, &w_any,
                                                   &b_md, &dst_md, strides, pad, pad) == dnnl_success &&
                dnnl_primitive_desc_create(&pd, &cd, attr, engine, NULL) != dnnl_success)
                pd = NULL;
        } else {
            dnnl_inner_product_desc_t ipd;
            if (dnnl_inner_product_forward_desc_init(&ipd, dnnl_forward_inference, &src_md,
                                                     &w_any, &b_md, &dst_md) == dnnl_success &&
                dnnl_primitive_desc_create(&pd, &ipd, attr, engine, NULL) != dnnl_success)
                pd = NULL;
        }
    }
    dnnl_primitive_attr_destroy(attr);
    return pd;
}

static int is_ref(dnnl_primitive_desc_t pd) {
    const char *impl = "";
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    return strncmp(impl, "ref", 3) == 0;
}

/* A convolution or inner product (+ residual, + ReLU) on *cur; *cur becomes its result. */
static int layer(const Layer *l, int batch, int residual, int relu, dnnl_memory_t *cur,
                 dnnl_memory_desc_t *cur_md, dnnl_memory_t *saved, dnnl_memory_desc_t *saved_md,
                 char *msg, size_t len) {
    int conv = l->kind == L_CONV, in4 = conv || cur_md->ndims == 4, wnd = in4 ? 4 : 2;
    dnnl_dims_t wd = {l->units, conv ? l->in_c : (in4 ? cur_md->dims[1] : l->in_c),
                      conv ? l->kernel : (in4 ? cur_md->dims[2] : 1),
                      conv ? l->kernel : (in4 ? cur_md->dims[3] : 1)};
    /* The fused residual: a binary post-op where oneDNN has a fast kernel for it, else a
     * sum post-op (the residual copied into dst first, inside the pass). */
    int resid = residual ? RESID_BINARY : RESID_NONE;
    dnnl_primitive_desc_t pd = layer_pd(l, batch, cur_md, resid, saved_md, relu, wd, wnd);
    if (residual && (!pd || is_ref(pd))) {
        if (pd)
            dnnl_primitive_desc_destroy(pd);
        resid = RESID_SUM;
        pd = layer_pd(l, batch, cur_md, resid, saved_md, relu, wd, wnd);
    }
    if (!pd)
        return bad(msg, len, conv ? "convolution pd" : "inner product pd", dnnl_unimplemented);
    dnnl_memory_desc_t ws = *dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    dnnl_memory_desc_t ww = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    dnnl_memory_desc_t wdst = *dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    dnnl_memory_desc_t b_md;
    dnnl_dims_t bd = {l->units};
    dnnl_memory_desc_init_by_tag(&b_md, 1, bd, dnnl_f32, dnnl_x);
    dnnl_memory_t src, w, b, dst;
    dnnl_primitive_t p;
    if (reorder(*cur, cur_md, &ws, 0, &src, msg, len)) {
        dnnl_primitive_desc_destroy(pd);
        return -1;
    }
    if (*saved == *cur && src != *cur) /* the residual is read in the layout used here */
        *saved = src, *saved_md = ws;
    if (weights(l->weight, wnd, wd, wnd == 4 ? dnnl_oihw : dnnl_oi, &ww, &w, msg, len) ||
        new_mem(&b_md, (void *)l->bias, &b, msg, len)) {
        dnnl_primitive_desc_destroy(pd);
        return -1;
    }
    if (resid == RESID_SUM) { /* dst = a copy of the residual, then dst += conv(src) */
        dnnl_primitive_desc_t cpd;
        dnnl_primitive_t cp;
        TRY(dnnl_reorder_primitive_desc_create(&cpd, saved_md, engine, &wdst, engine, NULL),
            "residual copy pd");
        if (new_mem(&wdst, NULL, &dst, msg, len) || new_prim(cpd, "copy", &cp, msg, len))
            return -1;
        dnnl_exec_arg_t cargs[2] = {{DNNL_ARG_FROM, *saved}, {DNNL_ARG_TO, dst}};
        if (add_step(cp, 2, cargs, msg, len))
            return -1;
    } else if (new_mem(&wdst, NULL, &dst, msg, len)) {
        dnnl_primitive_desc_destroy(pd);
        return -1;
    }
    if (new_prim(pd, conv ? (resid ? (resid == RESID_SUM ? "conv+sum" : "conv+add") : "conv")
                          : "ip", &p, msg, len))
        return -1;
    dnnl_exec_arg_t args[5] = {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_BIAS, b},
                               {DNNL_ARG_DST, dst},
                               {DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, *saved}};
    if (add_step(p, resid == RESID_BINARY ? 5 : 4, args, msg, len))
        return -1;
    *cur = dst, *cur_md = wdst;
    return 0;
}

static int build(const PeerModel *m, int batch, char *msg, size_t len) {
    const Layer *first = &m->layers[0], *last = &m->layers[m->nlayers - 1];
    dnnl_memory_desc_t cur_md, saved_md, md;
    dnnl_memory_t cur, saved = NULL;
    dnnl_dims_t in_dims = {batch, first->out_c, first->out_h, first->out_w};
    TRY(dnnl_memory_desc_init_by_tag(&cur_md, first->out_flat ? 2 : 4, in_dims, dnnl_f32,
                                     first->out_flat ? dnnl_nc : dnnl_nchw), "input md");
    if (new_mem(&cur_md, NULL, &user_in, msg, len))
        return -1;
    cur = user_in;
    dnnl_memory_desc_t any;
    for (int i = 1; i < m->nlayers; i++) {
        const Layer *l = &m->layers[i];
        const Layer *next = i + 1 < m->nlayers ? &m->layers[i + 1] : NULL;
        const Layer *next2 = i + 2 < m->nlayers ? &m->layers[i + 2] : NULL;
        dnnl_primitive_desc_t pd;
        dnnl_primitive_t p;
        dnnl_memory_t dst;
        if (l->kind == L_SAVE) {
            saved = cur, saved_md = cur_md;
            continue;
        }
        if (l->kind == L_FLATTEN)
            continue;
        if (l->kind == L_CONV || l->kind == L_DENSE) {
            /* conv, add_saved, relu becomes one convolution with post-ops */
            int residual = l->kind == L_CONV && next && next->kind == L_ADD_SAVED && saved;
            int relu = residual ? next2 && next2->kind == L_RELU : next && next->kind == L_RELU;
            if (layer(l, batch, residual, relu, &cur, &cur_md, &saved, &saved_md, msg, len))
                return -1;
            i += residual + relu;
            continue;
        }
        if (l->kind == L_MAXPOOL) {
            dnnl_pooling_desc_t pl;
            dnnl_dims_t k = {l->kernel, l->kernel}, zero = {0, 0};
            dnnl_dims_t od = {batch, l->out_c, l->out_h, l->out_w};
            TRY(dnnl_memory_desc_init_by_tag(&any, 4, od, dnnl_f32, dnnl_format_tag_any), "md");
            TRY(dnnl_pooling_forward_desc_init(&pl, dnnl_forward_inference, dnnl_pooling_max,
                                               &cur_md, &any, k, k, zero, zero), "pooling desc");
            TRY(dnnl_primitive_desc_create(&pd, &pl, NULL, engine, NULL), "pooling pd");
            md = *dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
            if (new_mem(&md, NULL, &dst, msg, len) || new_prim(pd, "pool", &p, msg, len))
                return -1;
            dnnl_exec_arg_t args[2] = {{DNNL_ARG_SRC, cur}, {DNNL_ARG_DST, dst}};
            if (add_step(p, 2, args, msg, len))
                return -1;
            cur = dst, cur_md = md;
            continue;
        }
        if (l->kind == L_SOFTMAX) {
            dnnl_softmax_desc_t sd;
            TRY(dnnl_softmax_forward_desc_init(&sd, dnnl_forward_inference, &cur_md, 1),
                "softmax desc");
            TRY(dnnl_primitive_desc_create(&pd, &sd, NULL, engine, NULL), "softmax pd");
            if (new_mem(&cur_md, NULL, &dst, msg, len) || new_prim(pd, "softmax", &p, msg, len))
                return -1;
            dnnl_exec_arg_t args[2] = {{DNNL_ARG_SRC, cur}, {DNNL_ARG_DST, dst}};
            if (add_step(p, 2, args, msg, len))
                return -1;
            cur = dst;
            continue;
        }
        if (l->kind == L_ADD_SAVED && saved) { /* not fused: a binary primitive (+ ReLU) */
            dnnl_binary_desc_t bdsc;
            int relu = next && next->kind == L_RELU;
            dnnl_primitive_attr_t attr;
            dnnl_post_ops_t po;
            TRY(dnnl_binary_desc_init(&bdsc, dnnl_binary_add, &cur_md, &saved_md, &cur_md),
                "binary desc");
            TRY(dnnl_primitive_attr_create(&attr), "attr");
            TRY(dnnl_post_ops_create(&po), "post_ops");
            if (relu)
                dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f);
            dnnl_primitive_attr_set_post_ops(attr, po);
            dnnl_post_ops_destroy(po);
            dnnl_status_t st = dnnl_primitive_desc_create(&pd, &bdsc, attr, engine, NULL);
            dnnl_primitive_attr_destroy(attr);
            if (st != dnnl_success)
                return bad(msg, len, "binary pd", st);
            if (new_mem(&cur_md, NULL, &dst, msg, len) || new_prim(pd, "add", &p, msg, len))
                return -1;
            dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC_0, cur}, {DNNL_ARG_SRC_1, saved},
                                       {DNNL_ARG_DST, dst}};
            if (add_step(p, 3, args, msg, len))
                return -1;
            cur = dst;
            i += relu;
            continue;
        }
        snprintf(msg, len, "layer %d of %s: this peer fuses relu into the layer before; "
                 "the sequence is not supported", i, m->name);
        return -1;
    }
    dnnl_dims_t out_dims = {batch, last->out_c, last->out_h, last->out_w};
    TRY(dnnl_memory_desc_init_by_tag(&md, last->out_flat ? 2 : 4, out_dims, dnnl_f32,
                                     last->out_flat ? dnnl_nc : dnnl_nchw), "output md");
    if (new_mem(&md, NULL, &user_out, msg, len))
        return -1;
    /* The last primitive writes the caller's buffer when it already has the plain layout. */
    Step *s = nsteps ? &steps[nsteps - 1] : NULL;
    if (s && dnnl_memory_desc_equal(&cur_md, &md)) {
        for (int a = 0; a < s->nargs; a++)
            if (s->args[a].arg == DNNL_ARG_DST || s->args[a].arg == DNNL_ARG_TO)
                s->args[a].memory = user_out;
        return 0;
    }
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t p;
    TRY(dnnl_reorder_primitive_desc_create(&pd, &cur_md, engine, &md, engine, NULL),
        "output reorder pd");
    if (new_prim(pd, "reorder", &p, msg, len))
        return -1;
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, cur}, {DNNL_ARG_TO, user_out}};
    return add_step(p, 2, args, msg, len);
}

static int load(const PeerModel *m, int batch, int threads, char *msg, size_t len) {
    release();
    omp_set_num_threads(threads);
    if (!engine) {
        TRY(dnnl_engine_create(&engine, dnnl_cpu, 0), "engine_create");
        TRY(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags), "stream_create");
    }
    if (build(m, batch, msg, len) != 0) {
        release();
        return -1;
    }
    snprintf(msg, len, "threads_used=%d impl=%s", omp_get_max_threads(), impls);
    return 0;
}

static int run(const float *in, float *out, char *msg, size_t len) {
    TRY(dnnl_memory_set_data_handle(user_in, (void *)in), "set input");
    TRY(dnnl_memory_set_data_handle(user_out, out), "set output");
    for (int i = 0; i < nsteps; i++)
        TRY(dnnl_primitive_execute(steps[i].prim, stream, steps[i].nargs, steps[i].args),
            "execute");
    TRY(dnnl_stream_wait(stream), "stream_wait");
    return 0;
}

int main(int argc, char **argv) {
    PeerOps ops = {info, load, run};
    int rc = peer_main(argc, argv, &ops);
    release();
    if (stream)
        dnnl_stream_destroy(stream);
    if (engine)
        dnnl_engine_destroy(engine);
    return rc;
}
