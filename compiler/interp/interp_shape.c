/* interp_shape.c: the ops that move elements without computing: flatten, reshape, dropout
 * (inference) and identity copy them as they are; param copies its tensor; transpose
 * permutes the axes; concat joins tensors along an axis.
 *
 * transpose: y.shape[i] = x.shape[perm[i]], y[i0, i1, ...] = x at index i_k on axis perm[k]
 * (perm as shape inference stored it: non-negative, the reversed axes when unset).
 * concat (torch.cat, axis stored non-negative): around the axis every tensor is
 * [outer, rest]; block o of y is the inputs' blocks o, one after the other. */
#include <string.h>

#include "interp_internal.h"

bool interp_copy(const Interp *ip) {
    Dims x;
    if (!interp_in_dims_same_size(ip, &x))
        return false;
    memcpy(ip->out, ip->ins[0], (size_t)x.numel * sizeof(float));
    return true;
}

/* param: the value is the parameter's tensor (suffix "", named by the layer). */
bool interp_param_value(const Interp *ip) {
    const float *v;
    if (!interp_param(ip, "", true, ip->y.numel, &v))
        return false;
    memcpy(ip->out, v, (size_t)ip->y.numel * sizeof(float));
    return true;
}

bool interp_transpose(const Interp *ip) {
    Dims x;
    if (!interp_in_dims(ip, 0, &x))
        return false;
    const int64_t *perm = interp_ints(ip, "perm", x.rank);
    if (!perm)
        return false;
    int64_t xstride[MAX_RANK], st = 1;
    for (int j = x.rank - 1; j >= 0; j--) {
        xstride[j] = st;
        st *= x.d[j];
    }
    bool seen[MAX_RANK] = {false};
    for (int i = 0; i < x.rank; i++) {
        if (ip->y.rank != x.rank || perm[i] < 0 || perm[i] >= x.rank || seen[perm[i]] ||
            ip->y.d[i] != x.d[perm[i]])
            return interp_fail(ip, "perm does not take the input's shape to the output's");
        seen[perm[i]] = true;
    }
    for (int64_t i = 0; i < ip->y.numel; i++) {
        int64_t rest = i, off = 0;
        for (int d = ip->y.rank - 1; d >= 0; d--) {
            off += rest % ip->y.d[d] * xstride[perm[d]];
            rest /= ip->y.d[d];
        }
        ip->out[i] = ip->ins[0][off];
    }
    return true;
}

/* Input j's size from the axis on (its `rest`); false unless it matches y around the axis. */
static bool concat_rest(const Interp *ip, int j, int axis, int64_t *rest, int64_t *along) {
    Dims x;
    if (!interp_in_dims(ip, j, &x))
        return false;
    bool ok = x.rank == ip->y.rank;
    for (int k = 0; ok && k < x.rank; k++)
        ok = k == axis || x.d[k] == ip->y.d[k];
    if (!ok)
        return interp_fail(ip, "input %d does not match the output but along axis %d", j + 1,
                           axis);
    *rest = interp_prod(&x, axis, x.rank);
    *along += x.d[axis];
    return true;
}

bool interp_concat(const Interp *ip) {
    int64_t axis = attr_int(ip->n, "axis");
    if (axis < 0 || axis >= ip->y.rank || ip->n->nin < 1)
        return interp_fail(ip, "axis %lld is out of range", (long long)axis);
    int64_t outer = interp_prod(&ip->y, 0, (int)axis), along = 0, at = 0;
    int64_t rest_y = interp_prod(&ip->y, (int)axis, ip->y.rank);
    for (int j = 0; j < ip->n->nin; j++) {
        int64_t rest = 0;
        if (!concat_rest(ip, j, (int)axis, &rest, &along))
            return false;
        if (along > ip->y.d[axis])
            return interp_fail(ip, "the inputs are longer than the output along axis %lld",
                               (long long)axis);
        for (int64_t o = 0; o < outer; o++)
            memcpy(ip->out + o * rest_y + at, ip->ins[j] + o * rest, (size_t)rest * sizeof(float));
        at += rest;
    }
    if (along != ip->y.d[axis])
        return interp_fail(ip, "the inputs are shorter than the output along axis %lld",
                           (long long)axis);
    return true;
}
