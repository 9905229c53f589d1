/* onnx_const_tensor.c: a float constant used where a tensor is needed (see onnx_internal.h).
 *
 * ONNX graphs use initializers and Constant nodes as operands: a learned scale multiplied
 * in, a bias added by hand, a constant graph output. .nnd spells such a tensor as
 * `NAME = param([dims])`, whose parameter NAME holds the values in the weights file. The
 * statement is written the first time the constant is used this way and reused after. */
#include "onnx_internal.h"

bool onnx_const_tensor(OnnxCtx *x, const OnnxNode *n, Value *v, Value *out) {
    if (!v->c.is_float) {
        const char *why = "an integer constant tensor is not supported: its dtype is not f32";
        if (n)
            return on_fail(n, "%s", why);
        diag_error(x->d, x->at, "constant '%s': %s", v->onnx, why);
        return false;
    }
    int rank = v->c.rank > 0 ? v->c.rank : 1; /* a 0-d constant becomes a [1] tensor */
    int64_t shape[MAX_RANK];
    for (int i = 0; i < rank; i++)
        shape[i] = v->c.rank > 0 ? v->c.shape[i] : 1;
    if (!v->param) {
        v->param = onnx_ident(x, v->onnx);
        const char *dims = "";
        for (int i = 0; i < rank; i++)
            dims = arena_printf(x->a, "%s%s%lld", dims, i ? ", " : "", (long long)shape[i]);
        onnx_emit(x, "  %s = param([%s])\n", v->param, dims);
        onnx_add_param(x, v->param, "", &v->c, rank, shape, false);
    }
    *out = (Value){.onnx = v->onnx, .kind = VAL_TENSOR, .ident = v->param, .rank = rank};
    for (int i = 0; i < rank; i++)
        out->dims[i] = shape[i];
    return true;
}
