/* onnx_map_pad.c: ONNX's Pad, folded into the convolution or pool that reads it.
 *
 * In: a Pad node. Out: no statement: its output is its input with pads still to add
 * (Value.padded), and the windows reading it add them to their own (onnx_map_window.c).
 * PyTorch exports F.pad before a conv or pool that way, and SPEC 1.4 has no pad operator,
 * so this is the one form that maps: constant mode, only height and width padded (by
 * non-negative amounts), and every reader of the output a window for which the padding
 * means the same: a Conv or an AveragePool reading zeros (the pool then counts the padded
 * cells, as an explicit pad does), a MaxPool reading -inf; none of them with auto_pad or
 * ceil_mode (whose arithmetic would change), and the output not a graph output. Anything
 * else is refused with the reason. */
#include <math.h>
#include <string.h>

#include "onnx_internal.h"

/* The pads (ONNX's order: every axis's begin, then every end) and the padding value;
 * their count, -1 after reporting. The attributes before opset 11, constant inputs from. */
static int pad_amounts(const OnnxNode *n, int64_t *pads, double *value) {
    *value = 0;
    if (n->x->opset < 11) {
        int k = on_attr_ints(n, "pads", pads, 2 * MAX_RANK);
        *value = on_attr_f_any(n, "value", 0);
        if (k < 0)
            on_fail(n, "%s", "the pads attribute is missing");
        return k > 2 * MAX_RANK ? -1 : k;
    }
    Value *p = on_const_in(n, 1, "pads"), *v = NULL;
    if (!p)
        return -1;
    if (on_has(n, 2) && !(v = on_const_in(n, 2, "the constant_value")))
        return -1;
    if (p->c.numel > 2 * MAX_RANK || (v && v->c.numel != 1)) {
        on_fail(n, "%s", "pads must be at most 16 values and constant_value one value");
        return -1;
    }
    for (int64_t i = 0; i < p->c.numel; i++)
        if (!on_as_int(p->c.v[i], &pads[i])) {
            on_fail(n, "%s", "the pads hold a value that is not a size");
            return -1;
        }
    *value = v ? v->c.v[0] : 0;
    return (int)p->c.numel;
}

/* Why the window reading the pad cannot absorb it (NULL: it can). */
static const char *reader_refuses(const OnnxNode *r, double value, int input) {
    bool conv = strcmp(r->op, "Conv") == 0, avg = strcmp(r->op, "AveragePool") == 0;
    bool max = strcmp(r->op, "MaxPool") == 0;
    if ((!conv && !avg && !max) || input != 0)
        return arena_printf(r->x->a, "its output is read by '%s' (node '%s'), not as the "
                            "input of a Conv or pool", r->op, r->label);
    if ((conv || avg) && value != 0)
        return "a Conv or AveragePool absorbs only zero padding";
    if (max && !(isinf(value) && value < 0))
        return "a MaxPool absorbs only -inf padding";
    const char *ap = on_attr_s(r, "auto_pad", "NOTSET");
    if ((strcmp(ap, "NOTSET") != 0 && strcmp(ap, "VALID") != 0) || on_attr_i(r, "ceil_mode", 0))
        return "the window reading it has auto_pad or ceil_mode";
    int64_t own[8] = {0};
    int k = on_attr_ints(r, "pads", own, 8);
    for (int i = 0; avg && !on_attr_i(r, "count_include_pad", 0) && i < k && i < 8; i++)
        if (own[i] != 0)
            return "the AveragePool reading it has its own padding, which it does not count";
    return NULL;
}

/* Why the Pad's output cannot be folded into its readers (NULL: it can). */
static const char *readers_refuse(const OnnxNode *n, double value) {
    const Onnx__GraphProto *g = n->x->graph;
    const char *name = n->p->output[0];
    for (size_t i = 0; i < g->n_output; i++)
        if (strcmp(onnx_str(g->output[i]->name), name) == 0)
            return "its output is a graph output";
    for (size_t i = 0; i < g->n_node; i++)
        for (size_t k = 0; k < g->node[i]->n_input; k++) {
            if (strcmp(g->node[i]->input[k], name) != 0)
                continue;
            const Onnx__NodeProto *p = g->node[i];
            OnnxNode r = {.x = n->x, .p = p, .op = onnx_str(p->op_type)};
            r.label = p->name && p->name[0] ? p->name : p->n_output ? p->output[0] : "";
            const char *why = reader_refuses(&r, value, (int)k);
            if (why)
                return why;
        }
    return NULL;
}

bool onnx_map_pad(const OnnxNode *n) {
    Value *xin = on_tensor_in(n, 0);
    int64_t pads[2 * MAX_RANK];
    double value;
    int k = xin ? pad_amounts(n, pads, &value) : -1;
    if (k < 0)
        return false;
    const char *mode = on_attr_s(n, "mode", "constant"), *why = NULL;
    if (strcmp(mode, "constant") != 0)
        why = arena_printf(n->x->a, "mode=%s has no .nnd form", mode);
    else if (k != 8 || xin->rank != 4)
        why = "only the height and width of a 4-D tensor can be padded";
    else if (pads[0] || pads[1] || pads[4] || pads[5])
        why = "only the height and width can be padded, not the batch or channels";
    else if (pads[2] < 0 || pads[3] < 0 || pads[6] < 0 || pads[7] < 0)
        why = "negative pads (cropping) are not supported";
    else
        why = readers_refuse(n, value);
    if (why)
        return on_fail(n, "not supported: %s (a Pad maps only when folded into the Conv or pool "
                       "that reads it)", why);
    if (n->p->n_output > 1)
        return on_fail(n, "%s", "the node has more than one output");
    Value *o = onnx_define(n->x, n->p->output[0], VAL_TENSOR);
    onnx_dims_like(o, xin);
    o->ident = xin->ident;
    o->padded = true;
    int64_t pad[4] = {pads[2], pads[3], pads[6], pads[7]}; /* top, left, bottom, right */
    memcpy(o->pad, pad, sizeof pad);
    return true;
}
