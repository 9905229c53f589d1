/* interp_common.c: checked reads of a node's operands, attributes and parameters, and the
 * broadcasting arithmetic the op families share; see interp_internal.h.
 *
 * In: the node being evaluated. Out: evaluated shapes, argument values and parameter data,
 * or false after a message that names the op and the node. The checks guard graphs built by
 * hand; a graph from the compiler passes them all. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "interp_internal.h"

bool interp_fail(const Interp *ip, const char *fmt, ...) {
    if (!ip->err || !ip->errlen)
        return false;
    int k = snprintf(ip->err, ip->errlen, "%s '%s': ", op_name(ip->n->op), ip->n->name);
    if (k < 0 || (size_t)k >= ip->errlen)
        return false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ip->err + k, ip->errlen - (size_t)k, fmt, ap);
    va_end(ap);
    return false;
}

bool interp_in_dims(const Interp *ip, int i, Dims *out) {
    if (i >= ip->n->nin)
        return interp_fail(ip, "has %d input%s, needs at least %d", ip->n->nin,
                           ip->n->nin == 1 ? "" : "s", i + 1);
    const Shape *s = &ip->n->in[i]->shape;
    out->rank = s->rank;
    if (s->rank >= 0 && s->rank <= MAX_RANK && shape_eval(s, ip->syms, out->d, &out->numel))
        return true;
    return interp_fail(ip, "input %d has no valid size", i + 1);
}

bool interp_in_dims_same_size(const Interp *ip, Dims *out) {
    if (!interp_in_dims(ip, 0, out))
        return false;
    if (out->numel != ip->y.numel)
        return interp_fail(ip, "output size %lld is not the input's %lld",
                           (long long)ip->y.numel, (long long)out->numel);
    return true;
}

const int64_t *interp_ints(const Interp *ip, const char *name, int count) {
    const Attr *a = node_attr(ip->n, name);
    if (a && a->set && a->kind == ATTR_INTS && a->n == count)
        return a->v;
    interp_fail(ip, "argument %s is not a list of %d integers (is the graph shape-checked?)",
                name, count);
    return NULL;
}

bool interp_param(const Interp *ip, const char *suffix, bool required, int64_t numel,
                  const float **out) {
    const Param *p = node_param(ip->n, suffix);
    Dim size;
    *out = NULL;
    if (!p && !required)
        return true;
    if (!p || !p->data)
        return interp_fail(ip, "parameter '%s' has no data", suffix);
    if (!shape_numel(&p->shape, &size) || !dim_is(size, numel))
        return interp_fail(ip, "parameter '%s' does not hold %lld values", p->name,
                           (long long)numel);
    *out = p->data;
    return true;
}

int64_t interp_prod(const Dims *d, int from, int to) {
    int64_t p = 1;
    for (int i = from; i < to; i++)
        p *= d->d[i]; /* a factor of the evaluated element count: no overflow */
    return p;
}

bool interp_bcast_strides(const Dims *x, const int64_t *size, int rank, int64_t inner,
                          int64_t *stride) {
    if (x->rank > rank)
        return false;
    int64_t st = inner;
    for (int i = rank - 1; i >= 0; i--) {
        int k = i - (rank - x->rank);
        if (k < 0 || (x->d[k] == 1 && size[i] != 1)) {
            stride[i] = 0;
            continue;
        }
        if (x->d[k] != size[i])
            return false;
        stride[i] = st;
        st *= x->d[k];
    }
    return true;
}
