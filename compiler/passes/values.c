/* values.c: where each value of the graph lives in generated code, as the optimizer, the
 * memory planner, `emit opt` and the code generator must all agree:
 *   - an input or an output is the caller's buffer;
 *   - a view (flatten, reshape, dropout, identity) aliases its input when it is not an output;
 *   - a param is its constant global when it is not an output;
 *   - a value fused into the middle of a kernel's epilogue is never stored;
 *   - every other stored value needs room in the workspace. */
#include "passes.h"

bool value_is_view(OpKind op) {
    return op == OP_FLATTEN || op == OP_RESHAPE || op == OP_DROPOUT || op == OP_IDENTITY;
}

int value_output_slot(const Graph *g, const Node *n) {
    for (int i = 0; i < g->noutputs; i++)
        if (g->outputs[i] == n)
            return i;
    return -1;
}

bool value_is_stored(const Node *n) { return n->host ? kernel_result(n->host) == n : n->nepi == 0; }

bool value_in_workspace(const Graph *g, const Node *n) {
    return value_is_stored(n) && n->op != OP_INPUT && n->op != OP_PARAM && !value_is_view(n->op) &&
           value_output_slot(g, n) < 0;
}
