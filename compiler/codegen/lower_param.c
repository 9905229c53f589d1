/* lower_param.c: param(shape), a trained tensor used as a value.
 *
 * Its value is the parameter's constant global (assign_buffers points the node there), so
 * nothing runs; only a param that is itself a model output is copied into the caller's
 * buffer. */
#include "cg.h"
#include "passes.h"

bool lower_param(Cg *cg, Node *n) {
    if (value_output_slot(cg->g, n) >= 0)
        cg_memcpy(cg, cg->buf[n->id], cg_param(cg, &n->params[0]), cg_numel(cg, &n->shape));
    return true;
}
