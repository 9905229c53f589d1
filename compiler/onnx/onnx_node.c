/* onnx_node.c: what every ONNX operator mapper reads and writes; see onnx_internal.h.
 *
 * In: one NodeProto with the values defined before it. Out: its attributes with their
 * defaults, its inputs as tracked values (checked to be tensors or constants, as the
 * mapper needs), the start of its output statement, and errors that name the operator,
 * the node and what cannot be expressed. */
#include <math.h>
#include <string.h>

#include "onnx_internal.h"

bool on_fail(const OnnxNode *n, const char *fmt, const char *what) {
    /* Quiet after an input's node failed: that node's error is the one that matters. */
    for (size_t i = 0; i < n->p->n_input; i++)
        if (n->p->input[i][0] && !onnx_value(n->x, n->p->input[i]) && diag_count(n->x->d) > 0)
            return false;
    diag_error(n->x->d, n->x->at, "ONNX operator '%s' (node '%s'): %s", n->op, n->label,
               arena_printf(n->x->a, fmt, what));
    return false;
}

const Onnx__AttributeProto *on_attr(const OnnxNode *n, const char *name) {
    for (size_t i = 0; i < n->p->n_attribute; i++)
        if (strcmp(onnx_str(n->p->attribute[i]->name), name) == 0)
            return n->p->attribute[i];
    return NULL;
}

int64_t on_attr_i(const OnnxNode *n, const char *name, int64_t def) {
    const Onnx__AttributeProto *a = on_attr(n, name);
    return a && a->has_i ? a->i : def;
}

bool on_as_int(double v, int64_t *out) {
    if (!(fabs(v) <= 0x1p62))
        return false;
    *out = (int64_t)v;
    return true;
}

double on_attr_f_any(const OnnxNode *n, const char *name, double def) {
    const Onnx__AttributeProto *a = on_attr(n, name);
    return a && a->has_f ? a->f : def;
}

double on_attr_f(const OnnxNode *n, const char *name, double def) {
    const Onnx__AttributeProto *a = on_attr(n, name);
    if (!a || !a->has_f)
        return def;
    if (!isfinite(a->f)) { /* the .nnd text cannot spell it; reported once, here */
        on_fail(n, "%s", arena_printf(n->x->a, "%s is %g; only finite numbers are supported",
                                      name, a->f));
        return def;
    }
    return a->f;
}

/* Up to max ints; -1 when absent. */
int on_attr_ints(const OnnxNode *n, const char *name, int64_t *v, int max) {
    const Onnx__AttributeProto *a = on_attr(n, name);
    if (!a)
        return -1;
    int k = (int)(a->n_ints < (size_t)max ? a->n_ints : (size_t)max);
    for (int i = 0; i < k; i++)
        v[i] = a->ints[i];
    return a->n_ints > (size_t)max ? max + 1 : k;
}

const char *on_attr_s(const OnnxNode *n, const char *name, const char *def) {
    const Onnx__AttributeProto *a = on_attr(n, name);
    if (!a || !a->has_s)
        return def;
    return arena_strndup(n->x->a, (const char *)a->s.data, a->s.len);
}

int on_nin(const OnnxNode *n) { return (int)n->p->n_input; }

bool on_has(const OnnxNode *n, int i) {
    return i < on_nin(n) && n->p->input[i] && n->p->input[i][0];
}

/* Input i, whatever it is: NULL when absent (or named ""); reports an undefined name. */
Value *on_in_any(const OnnxNode *n, int i) {
    if (!on_has(n, i))
        return NULL;
    Value *v = onnx_value(n->x, n->p->input[i]);
    if (!v)
        on_fail(n, "input '%s' is not defined before its use", n->p->input[i]);
    return v;
}

/* Input i as a tensor, constant or shape; a graph input of another dtype than FLOAT is
 * reported here (it may only be given a value, where a constant is needed). */
Value *on_in(const OnnxNode *n, int i) {
    Value *v = on_in_any(n, i);
    if (!v || v->kind != VAL_OTHER)
        return v;
    on_fail(n, "%s", arena_printf(n->x->a, "input '%s' has dtype %s; only FLOAT tensors are "
                                  "supported", v->onnx, onnx_dtype_name(v->dtype)));
    return NULL;
}

Value *on_tensor_in(const OnnxNode *n, int i) {
    Value *v = on_in(n, i);
    if (v && v->kind != VAL_TENSOR) {
        on_fail(n, "input '%s' must be a computed tensor here, not a constant", n->p->input[i]);
        return NULL;
    }
    if (!v && i >= on_nin(n))
        on_fail(n, "%s", "an input is missing");
    return v;
}

Value *on_const_in(const OnnxNode *n, int i, const char *role) {
    bool named = on_has(n, i);
    Value *v = named ? onnx_value(n->x, n->p->input[i]) : NULL;
    if (v && v->kind == VAL_CONST)
        return v;
    if (!named)
        on_fail(n, "%s is missing", role);
    else if (!v)
        on_fail(n, "input '%s' is not defined before its use", n->p->input[i]);
    else if (v->kind == VAL_TENSOR && !v->is_input)
        on_fail(n, "%s must be a constant, not a computed tensor",
                arena_printf(n->x->a, "%s ('%s')", role, n->p->input[i]));
    else /* a graph input: the caller may give it a value (onnx_import_file_bound) */
        on_fail(n, "%s must be an initializer or a constant",
                arena_printf(n->x->a, "%s ('%s')", role, n->p->input[i]));
    return NULL;
}

/* The output's statement: "  IDENT = " is written; the caller writes the expression. */
Value *on_out(const OnnxNode *n, int rank) {
    if (n->p->n_output < 1 || !n->p->output[0][0]) {
        on_fail(n, "%s", "the node has no output");
        return NULL;
    }
    for (size_t i = 1; i < n->p->n_output; i++)
        if (n->p->output[i][0]) {
            on_fail(n, "%s", "only the first output is supported");
            return NULL;
        }
    return on_out_at(n, 0, rank);
}

Value *on_out_at(const OnnxNode *n, int i, int rank) {
    Value *v = onnx_define(n->x, n->p->output[i], VAL_TENSOR);
    v->ident = onnx_ident(n->x, n->p->output[i]);
    v->rank = rank;
    onnx_emit(n->x, "  %s = ", v->ident);
    return v;
}

Value *on_out_like(const OnnxNode *n, const Value *src) {
    Value *v = on_out(n, src->rank);
    if (v)
        onnx_dims_like(v, src);
    return v;
}

const char *on_ints_str(OnnxCtx *x, const int64_t *v, int k) {
    const char *s = "[";
    for (int i = 0; i < k; i++)
        s = arena_printf(x->a, "%s%s%lld", s, i ? ", " : "", (long long)v[i]);
    return arena_printf(x->a, "%s]", s);
}

/* int or [h, w] */
const char *on_pair_str(OnnxCtx *x, const int64_t *v) {
    return v[0] == v[1] ? arena_printf(x->a, "%lld", (long long)v[0]) : on_ints_str(x, v, 2);
}

bool on_is_scalar(const Value *v) { return v && v->kind == VAL_CONST && v->c.numel == 1; }
