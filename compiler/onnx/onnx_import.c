/* onnx_import.c: an ONNX model as .nnd text and parameters; see onnx_import.h.
 *
 * The file is read (size-checked) and unpacked by protobuf-c; the IR version and the default
 * domain's opset are checked (1 to 17; onnx_ops.c checks each operator's own version); then
 * the text is written top to bottom: the model header, one `input` per graph input that is
 * neither an initializer nor given a value (a bound input: a constant, like an
 * initializer), the `weights` statement, one statement per node (onnx_ops.c) and one
 * `output` per graph output. Every ONNX value is
 * tracked (a tensor of the text, a constant, or a folded shape vector), so constants and
 * shape arithmetic never reach the text. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"
#include "read_file.h"
#include "strmap.h"

enum { MAX_MODEL_FILE = 1 << 30, MIN_OPSET = 1, MAX_OPSET = 17 };

/* Names are looked up through hash tables: a model of many nodes converts in linear time. */
Value *onnx_value(OnnxCtx *x, const char *name) {
    int i = strmap_get(&x->val_index, name);
    return i >= 0 ? &x->vals[i] : NULL;
}

Value *onnx_define(OnnxCtx *x, const char *name, ValKind kind) {
    if (x->nvals == x->cap) {
        int cap = x->cap ? x->cap * 2 : 64;
        x->vals = arena_grow(x->a, x->vals, (size_t)x->cap * sizeof *x->vals,
                             (size_t)cap * sizeof *x->vals);
        x->cap = cap;
    }
    Value *v = &x->vals[x->nvals];
    memset(v, 0, sizeof *v);
    v->onnx = arena_strdup(x->a, name);
    v->kind = kind;
    v->rank = -1;
    strmap_put(x->a, &x->val_index, v->onnx, x->nvals++);
    onnx_dims_unknown(v);
    return v;
}

static bool ident_used(const OnnxCtx *x, const char *s) {
    static const char *const reserved[] = {"model", "input", "output", "weights", "true",
                                           "false", "f32"};
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (strcmp(s, reserved[i]) == 0)
            return true;
    return strmap_get(&x->idents, s) >= 0;
}

/* [A-Za-z_][A-Za-z0-9_]*, from any ONNX name: other characters become '_', leading and
 * repeated '_' are dropped, and a leading digit gets a 't'. */
static char *sanitized(OnnxCtx *x, const char *name) {
    size_t n = strlen(name);
    char *s = arena_alloc(x->a, n + 24);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (ok)
            s[k++] = c;
        else if (k > 0 && s[k - 1] != '_')
            s[k++] = '_';
    }
    while (k > 0 && s[k - 1] == '_')
        k--;
    s[k] = 0;
    if (k == 0 || (s[0] >= '0' && s[0] <= '9')) {
        memmove(s + 1, s, k + 1);
        s[0] = 't';
    }
    return s;
}

static void add_ident(OnnxCtx *x, const char *id) { strmap_put(x->a, &x->idents, id, 0); }

/* The sanitized name, with a suffix that keeps it unique. The search for a free suffix
 * resumes where the last one for the same base stopped. */
const char *onnx_ident(OnnxCtx *x, const char *name) {
    const char *s = sanitized(x, name), *out = s;
    if (ident_used(x, out)) {
        int i = strmap_get(&x->ident_next, s);
        for (i = i < 2 ? 2 : i; ident_used(x, out = arena_printf(x->a, "%s_%d", s, i)); i++)
            ;
        strmap_put(x->a, &x->ident_next, s, i + 1);
    }
    add_ident(x, out);
    return out;
}

/* Whether a graph input or node output would take the identifier id (its name sanitizes
 * to it), so that a layer name chosen now does not collide with a statement written later
 * (.nnd layer names and statement names share one namespace). */
static bool graph_would_use(OnnxCtx *x, const char *id) {
    const Onnx__GraphProto *g = x->graph;
    if (!x->graph_idents_ready) { /* once per model: lookups stay linear in its size */
        for (size_t i = 0; g && i < g->n_input; i++)
            strmap_put(x->a, &x->graph_idents, sanitized(x, onnx_str(g->input[i]->name)), 0);
        for (size_t i = 0; g && i < g->n_node; i++)
            for (size_t k = 0; k < g->node[i]->n_output; k++)
                strmap_put(x->a, &x->graph_idents, sanitized(x, g->node[i]->output[k]), 0);
        x->graph_idents_ready = true;
    }
    return strmap_get(&x->graph_idents, id) >= 0;
}

void onnx_emit(OnnxCtx *x, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    const char *s = arena_vprintf(x->a, fmt, ap);
    va_end(ap);
    size_t n = strlen(s);
    if (x->len + n + 1 > x->textcap) {
        size_t cap = x->textcap ? x->textcap : 4096;
        while (cap < x->len + n + 1)
            cap *= 2;
        x->text = arena_grow(x->a, x->text, x->textcap, cap);
        x->textcap = cap;
    }
    memcpy(x->text + x->len, s, n + 1);
    x->len += n;
}

/* A number as the .nnd lexer reads it back (f32 round trip). The range test comes before
 * the conversion, which is undefined for nan, infinities and values beyond int64_t. */
const char *onnx_num(OnnxCtx *x, double v) {
    if (fabs(v) < 1e15 && v == (double)(int64_t)v)
        return arena_printf(x->a, "%lld", (long long)v);
    return arena_printf(x->a, "%.9g", v);
}

/* Longer module names are not worth keeping: the statement's target serves as well. */
enum { MAX_NICE_PREFIX = 256 };

/* The parameter prefix for a layer whose weight is initializer init_name: PyTorch's module
 * name ("fc1" for "fc1.weight") when it is free (no other layer's parameters, and no
 * identifier of the text, now or later), else the statement's target. */
const char *onnx_param_prefix(OnnxCtx *x, const char *init_name, const char *fallback) {
    size_t n = strlen(init_name);
    if (n > 7 && n - 7 <= MAX_NICE_PREFIX && strcmp(init_name + n - 7, ".weight") == 0) {
        const char *p = arena_strndup(x->a, init_name, n - 7);
        bool clash = strmap_get(&x->taken_prefixes, p) >= 0 || ident_used(x, p) ||
                     graph_would_use(x, p);
        if (!clash && !strchr(p, '"') && !strchr(p, '\\')) {
            add_ident(x, p);
            return p;
        }
    }
    return fallback;
}

/* Every dot-prefix of a parameter name ("a" and "a.b" for "a.b.weight") that a module name
 * could be, so that onnx_param_prefix finds a clash in one lookup. */
static void take_prefixes(OnnxCtx *x, const char *name) {
    for (size_t i = 0; name[i] && i <= MAX_NICE_PREFIX; i++)
        if (name[i] == '.')
            strmap_put(x->a, &x->taken_prefixes, arena_strndup(x->a, name, i), 0);
}

void onnx_add_param(OnnxCtx *x, const char *prefix, const char *suffix, const OnnxConst *c,
                    int rank, const int64_t *shape, bool transpose2d) {
    if (x->nparams == x->pcap) {
        int cap = x->pcap ? x->pcap * 2 : 16;
        x->pnames = arena_grow(x->a, x->pnames, (size_t)x->pcap * sizeof *x->pnames,
                               (size_t)cap * sizeof *x->pnames);
        x->pranks = arena_grow(x->a, x->pranks, (size_t)x->pcap * sizeof *x->pranks,
                               (size_t)cap * sizeof *x->pranks);
        x->pshapes = arena_grow(x->a, x->pshapes, (size_t)x->pcap * sizeof *x->pshapes,
                                (size_t)cap * sizeof *x->pshapes);
        x->pdata = arena_grow(x->a, x->pdata, (size_t)x->pcap * sizeof *x->pdata,
                              (size_t)cap * sizeof *x->pdata);
        x->pcap = cap;
    }
    int i = x->nparams++;
    /* a param's tensor is named by its layer alone (suffix "") */
    x->pnames[i] = *suffix ? arena_printf(x->a, "%s.%s", prefix, suffix) : prefix;
    take_prefixes(x, x->pnames[i]);
    x->pranks[i] = rank;
    memcpy(x->pshapes[i], shape, (size_t)rank * sizeof *shape);
    float *f = arena_array(x->a, (size_t)c->numel + 1, sizeof(float));
    if (transpose2d) { /* c is [K, M]; the parameter is [M, K] */
        int64_t k = c->shape[0], m = c->shape[1];
        for (int64_t r = 0; r < m; r++)
            for (int64_t q = 0; q < k; q++)
                f[r * k + q] = (float)c->v[q * m + r];
    } else {
        for (int64_t j = 0; j < c->numel; j++)
            f[j] = (float)c->v[j];
    }
    x->pdata[i] = f;
}

static bool check_versions(OnnxCtx *x, const Onnx__ModelProto *m) {
    if (!m->has_ir_version || m->ir_version < 3 || m->ir_version > 10) {
        diag_error(x->d, x->at, "unsupported ONNX IR version %lld (supported: 3 to 10)",
                   (long long)m->ir_version);
        return false;
    }
    int64_t opset = -1; /* checked as read: an int would wrap 2^32 + 13 to 13 */
    for (size_t i = 0; i < m->n_opset_import; i++) {
        const char *dom = onnx_str(m->opset_import[i]->domain);
        if (strcmp(dom, "") == 0 || strcmp(dom, "ai.onnx") == 0)
            opset = m->opset_import[i]->version;
        else {
            diag_error(x->d, x->at, "unsupported ONNX operator set domain '%s'", dom);
            return false;
        }
    }
    if (opset < MIN_OPSET || opset > MAX_OPSET) {
        diag_error(x->d, x->at, "unsupported ONNX opset %lld (supported: %d to %d)",
                   (long long)opset, MIN_OPSET, MAX_OPSET);
        return false;
    }
    x->opset = (int)opset;
    if (!m->graph) {
        diag_error(x->d, x->at, "the ONNX model has no graph");
        return false;
    }
    return true;
}

static bool is_initializer(const OnnxCtx *x, const char *name) {
    return strmap_get(&x->inits, name) >= 0;
}

static bool emit_input(OnnxCtx *x, const Onnx__ValueInfoProto *vi) {
    const char *name = onnx_str(vi->name);
    const Onnx__TypeProto *tp = vi->type;
    if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type) {
        int k = tp ? (int)tp->value_case : 0;
        diag_error(x->d, x->at, "input '%s' is not a tensor but %s, which is not supported",
                   name, k == ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE ? "a sequence"
                         : k == ONNX__TYPE_PROTO__VALUE_MAP_TYPE ? "a map"
                         : k == ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE ? "an optional"
                         : k == ONNX__TYPE_PROTO__VALUE_SPARSE_TENSOR_TYPE ? "a sparse tensor"
                                                                       : "untyped");
        return false;
    }
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    if (tt->elem_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) { /* reported where used */
        Value *v = onnx_define(x, name, VAL_OTHER);
        v->is_input = true;
        v->dtype = tt->elem_type;
        return true;
    }
    if (!tt->shape || tt->shape->n_dim > MAX_RANK) {
        diag_error(x->d, x->at, "input '%s' has a dynamic shape (no shape, or rank above %d)",
                   name, MAX_RANK);
        return false;
    }
    const char *dims = "";
    int64_t sizes[MAX_RANK];
    for (size_t i = 0; i < tt->shape->n_dim; i++) {
        const Onnx__TensorShapeProto__Dimension *dm = tt->shape->dim[i];
        const char *s;
        sizes[i] = -1;
        if (dm->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
            dm->dim_value > 0)
            s = arena_printf(x->a, "%lld", (long long)(sizes[i] = dm->dim_value));
        else if (dm->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM &&
                 dm->dim_param && dm->dim_param[0]) {
            /* Symbolic: the same ONNX name gives the same identifier. */
            const char *p = dm->dim_param;
            char *t = arena_strdup(x->a, p);
            for (char *c = t; *c; c++)
                if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                      (*c >= '0' && *c <= '9')))
                    *c = '_';
            s = (t[0] >= '0' && t[0] <= '9') ? arena_printf(x->a, "d_%s", t) : t;
        } else if (dm->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
            diag_error(x->d, x->at, "input '%s' has a dimension of size %lld: an empty tensor, "
                       "which is not supported", name, (long long)dm->dim_value);
            return false;
        } else {
            diag_error(x->d, x->at, "input '%s' has a dynamic shape (dimension %zu has no size "
                       "and no name)", name, i);
            return false;
        }
        dims = arena_printf(x->a, "%s%s%s", dims, i ? ", " : "", s);
    }
    Value *v = onnx_define(x, name, VAL_TENSOR);
    v->ident = onnx_ident(x, name);
    v->is_input = true;
    v->rank = (int)tt->shape->n_dim;
    memcpy(v->dims, sizes, (size_t)v->rank * sizeof *sizes);
    onnx_emit(x, "  input %s : f32[%s]\n", v->ident, dims);
    return true;
}

static const char *model_ident(OnnxCtx *x, const char *given, const char *graph_name,
                               const char *path) {
    if (given)
        return onnx_ident(x, given);
    if (graph_name && graph_name[0] && strcmp(graph_name, "torch_jit") != 0 &&
        strcmp(graph_name, "torch-jit-export") != 0)
        return onnx_ident(x, graph_name);
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    return onnx_ident(x, arena_strndup(x->a, base, n >= 5 ? n - 5 : n));
}

static void build_weights(OnnxCtx *x, const char *name, StFile *f) {
    memset(f, 0, sizeof *f);
    f->path = name;
    f->ntensors = x->nparams;
    f->tensors = arena_array(x->a, (size_t)x->nparams + 1, sizeof *f->tensors);
    for (int i = 0; i < x->nparams; i++) {
        StTensor *t = &f->tensors[i];
        t->name = x->pnames[i];
        t->dtype = ST_F32;
        t->dtype_name = "F32";
        t->rank = x->pranks[i];
        t->numel = 1;
        for (int k = 0; k < t->rank; k++) {
            t->shape[k] = x->pshapes[i][k];
            t->numel *= t->shape[k];
        }
        t->data = (const uint8_t *)x->pdata[i];
        t->nbytes = (size_t)t->numel * sizeof(float);
    }
}

static const OnnxTensor *bound_value(const OnnxTensor *bound, int nbound, const char *name) {
    for (int i = 0; i < nbound; i++)
        if (bound[i].name && strcmp(bound[i].name, name) == 0)
            return &bound[i];
    return NULL;
}

/* A graph input given a value: a constant, as if it were an initializer (a float one for
 * a weight, an integer one for a shape or axes). */
static bool bind_input(OnnxCtx *x, const Onnx__ValueInfoProto *vi, const OnnxTensor *t) {
    const char *name = onnx_str(vi->name);
    if (t->rank < 0 || t->rank > MAX_RANK || t->numel < 0) {
        diag_error(x->d, x->at, "the value given for input '%s' has a bad shape", name);
        return false;
    }
    Value *v = onnx_define(x, name, VAL_CONST);
    v->is_init = true;
    v->c.rank = t->rank;
    memcpy(v->c.shape, t->shape, (size_t)t->rank * sizeof *t->shape);
    v->c.numel = t->numel;
    v->c.is_float = !t->is_integer;
    v->c.v = arena_array(x->a, (size_t)t->numel + 1, sizeof(double));
    for (int64_t i = 0; i < t->numel; i++)
        v->c.v[i] = t->data[i];
    return true;
}

static bool convert(OnnxCtx *x, const Onnx__ModelProto *m, const char *path,
                    const char *model_name, const OnnxTensor *bound, int nbound,
                    OnnxImport *out) {
    if (!check_versions(x, m))
        return false;
    const Onnx__GraphProto *g = m->graph;
    x->graph = g;
    const char *model = model_ident(x, model_name, g->name, path);
    const char *wname = arena_printf(x->a, "%s.safetensors", model);
    onnx_emit(x, "# Imported from %s (ONNX IR %lld, opset %d%s%s).\nmodel %s {\n",
              strrchr(path, '/') ? strrchr(path, '/') + 1 : path, (long long)m->ir_version,
              x->opset, m->producer_name && m->producer_name[0] ? ", by " : "",
              m->producer_name && !strchr(m->producer_name, '\n') ? m->producer_name : "",
              model);
    bool ok = true;
    for (size_t i = 0; i < g->n_initializer; i++) {
        const Onnx__TensorProto *t = g->initializer[i];
        Value *v = onnx_define(x, onnx_str(t->name), VAL_CONST);
        strmap_put(x->a, &x->inits, v->onnx, (int)i);
        v->is_init = true;
        ok &= onnx_tensor_const(x, t, arena_printf(x->a, "initializer '%s'", onnx_str(t->name)),
                                &v->c);
    }
    for (int i = 0; i < nbound; i++) {
        bool found = false;
        for (size_t k = 0; k < g->n_input && !found; k++)
            found = bound[i].name && strcmp(onnx_str(g->input[k]->name), bound[i].name) == 0;
        if (!found) {
            diag_error(x->d, x->at, "a value is given for '%s', which is not a graph input",
                       onnx_str(bound[i].name));
            ok = false;
        }
    }
    for (size_t i = 0; i < g->n_input; i++) {
        const char *name = onnx_str(g->input[i]->name);
        const OnnxTensor *t = bound_value(bound, nbound, name);
        if (t && !is_initializer(x, name))
            ok &= bind_input(x, g->input[i], t);
        else if (!is_initializer(x, name))
            ok &= emit_input(x, g->input[i]);
    }
    if (!ok)
        return false;
    size_t weights_at = x->len;
    for (size_t i = 0; i < g->n_node; i++)
        ok &= onnx_map_node(x, g->node[i]);
    for (int i = 0; i < x->nvals && ok; i++) /* a non-float input nothing used, not bound */
        if (x->vals[i].kind == VAL_OTHER) {
            diag_error(x->d, x->at, "input '%s' has dtype %s; only FLOAT inputs are supported",
                       x->vals[i].onnx, onnx_dtype_name(x->vals[i].dtype));
            ok = false;
        }
    for (size_t i = 0; i < g->n_output; i++) {
        const char *name = onnx_str(g->output[i]->name);
        Value *v = onnx_value(x, name), tv;
        if (v && v->kind == VAL_CONST && v->c.is_float && ok) { /* a constant output: a param */
            bool fresh = !v->param;
            if (!onnx_const_tensor(x, NULL, v, &tv)) {
                ok = false;
                continue;
            }
            if (fresh)
                onnx_emit(x, "  output %s\n", tv.ident);
            else
                onnx_emit(x, "  output %s = identity(%s)\n", onnx_ident(x, name), tv.ident);
            continue;
        }
        if (!v || v->kind != VAL_TENSOR) {
            if (ok)
                diag_error(x->d, x->at, "graph output '%s' is %s", name,
                           !v ? "not computed by any node"
                              : "an integer constant (a shape): its dtype is not supported");
            ok = false;
            continue;
        }
        onnx_emit(x, "  output %s\n", v->ident);
    }
    onnx_emit(x, "}\n");
    if (!ok)
        return false;
    if (x->nparams > 0) { /* the weights statement goes after the inputs */
        const char *stmt = arena_printf(x->a, "  weights \"%s\"\n", wname);
        char *t = arena_alloc(x->a, x->len + strlen(stmt) + 1);
        memcpy(t, x->text, weights_at);
        strcpy(t + weights_at, stmt);
        strcpy(t + weights_at + strlen(stmt), x->text + weights_at);
        x->text = t;
        x->len = strlen(t);
        out->weights_name = wname;
    }
    build_weights(x, wname, &out->weights);
    out->nnd_text = x->text;
    out->nnd_len = x->len;
    return true;
}


bool onnx_import_file(Arena *a, Diag *d, const char *path, const char *model_name,
                      OnnxImport *out) {
    return onnx_import_file_bound(a, d, path, model_name, NULL, 0, out);
}

bool onnx_import_file_bound(Arena *a, Diag *d, const char *path, const char *model_name,
                            const OnnxTensor *bound, int nbound, OnnxImport *out) {
    memset(out, 0, sizeof *out);
    size_t len = 0;
    uint8_t *buf = read_whole_file(d, (SrcLoc){.file = path}, path, "model", MAX_MODEL_FILE, &len);
    if (!buf)
        return false;
    bool ok = onnx_import_bytes(a, d, path, buf, len, model_name, bound, nbound, out);
    free(buf);
    return ok;
}

bool onnx_import_bytes(Arena *a, Diag *d, const char *path, const uint8_t *bytes, size_t len,
                       const char *model_name, const OnnxTensor *bound, int nbound,
                       OnnxImport *out) {
    memset(out, 0, sizeof *out);
    OnnxCtx x = {.a = a, .d = d, .at = {.file = path}};
    int before = diag_count(d);
    Onnx__ModelProto *m = len ? onnx__model_proto__unpack(NULL, len, bytes) : NULL;
    if (!m) {
        diag_error(d, x.at, "not a valid ONNX model (protobuf parse failed)");
        return false;
    }
    jmp_buf here, *outer = arena_oom_handler(a);
    Onnx__ModelProto *volatile vm = m;
    if (setjmp(here)) {
        onnx__model_proto__free_unpacked(vm, NULL);
        arena_on_oom(a, outer);
        if (outer)
            longjmp(*outer, 1);
        return false;
    }
    arena_on_oom(a, &here);
    bool ok = convert(&x, m, path, model_name, bound, nbound, out);
    arena_on_oom(a, outer);
    onnx__model_proto__free_unpacked(m, NULL);
    return ok && diag_count(d) == before;
}
