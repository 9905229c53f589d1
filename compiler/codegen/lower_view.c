/* lower_view.c: flatten, reshape, dropout (inference) and identity.
 *
 * They change no element, only the shape, so the code generator gives such a node its
 * input's buffer and nothing runs. Only when the node's buffer is another tensor's (an
 * output the caller owns) are the elements copied. */
#include "cg.h"

bool lower_view(Cg *cg, Node *n) {
    LLVMValueRef src = cg->buf[n->in[0]->id], dst = cg->buf[n->id];
    if (src != dst)
        cg_memcpy(cg, dst, src, cg_numel(cg, &n->shape));
    return true;
}
