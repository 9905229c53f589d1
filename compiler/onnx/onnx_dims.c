/* onnx_dims.c: the static sizes of the tensors the importer writes; see onnx_internal.h.
 *
 * In: the sizes of the graph's inputs (numbers, or -1 for a symbolic dimension) and each
 * operator's attributes. Out: each computed tensor's sizes by the same rules as the .nnd
 * shape checker (PyTorch's window arithmetic, NumPy broadcasting), -1 wherever a size
 * depends on a symbolic dimension or is not tracked. The mappers use them to write what
 * ONNX leaves implicit in .nnd's literal terms: Reshape's copied dimensions, Flatten's
 * other axes, auto_pad's pads, Unsqueeze as a reshape. A size that is not known is never
 * guessed: the mapper then writes the general form or reports a dynamic shape. */
#include "onnx_internal.h"

void onnx_dims_unknown(Value *v) {
    for (int i = 0; i < MAX_RANK; i++)
        v->dims[i] = -1;
}

void onnx_dims_like(Value *o, const Value *src) {
    o->rank = src->rank;
    for (int i = 0; i < MAX_RANK; i++)
        o->dims[i] = src->dims[i];
}

/* NumPy: dimensions aligned from the right, a 1 stretches to the other size. A known size
 * other than 1 decides the result even against an unknown one (a valid model's other size
 * is then that size or 1). */
void onnx_dims_broadcast(Value *o, const Value *a, const Value *b) {
    onnx_dims_unknown(o);
    if (a->rank < 0 || b->rank < 0)
        return;
    o->rank = a->rank > b->rank ? a->rank : b->rank;
    for (int i = 0; i < o->rank; i++) {
        int ia = a->rank - o->rank + i, ib = b->rank - o->rank + i;
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da == 1 || da == db)
            o->dims[i] = db;
        else if (db == 1)
            o->dims[i] = da;
        else
            o->dims[i] = da >= 0 ? da : db >= 0 ? db : -1;
    }
}

int64_t onnx_dims_product(const Value *v, int from, int to) {
    int64_t p = 1;
    if (v->rank < 0 || from < 0 || to > v->rank)
        return -1;
    for (int i = from; i < to; i++) {
        if (v->dims[i] < 0)
            return -1;
        p *= v->dims[i];
    }
    return p;
}

/* PyTorch's: floor (or ceil) of (in + pads - dilated kernel) / stride, plus one; with
 * ceil_mode the last window is dropped when it would start in the end padding. */
int64_t onnx_window_size(int64_t in, int64_t kernel, int64_t stride, int64_t dilation,
                         int64_t pad0, int64_t pad1, bool ceil_mode) {
    int64_t span = in + pad0 + pad1 - dilation * (kernel - 1) - 1;
    if (in < 0 || span < 0 || stride < 1)
        return -1;
    int64_t out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
    if (ceil_mode && (out - 1) * stride >= in + pad0)
        out--;
    return out;
}

/* ONNX's SAME_UPPER / SAME_LOWER: the output is ceil(in / stride); the padding it takes
 * is split evenly, the odd one at the end (upper) or the beginning (lower). */
bool onnx_same_pads(int64_t in, int64_t kernel, int64_t stride, int64_t dilation, bool upper,
                    int64_t *pad0, int64_t *pad1) {
    if (in < 0 || stride < 1)
        return false;
    int64_t out = (in + stride - 1) / stride;
    int64_t total = (out - 1) * stride + dilation * (kernel - 1) + 1 - in;
    if (total < 0)
        total = 0;
    *pad0 = upper ? total / 2 : total - total / 2;
    *pad1 = total - *pad0;
    return true;
}
