/* onnx_ops.c: the one table of ONNX operators the importer maps; see onnx_import.h.
 *
 * In: one NodeProto. Out: the mapper of its operator (onnx_map_*.c) run on it, after the
 * checks every operator shares: the default domain, a definition version the mapper
 * follows, an output to write. Each mapper reads its node's inputs (tensors of the text,
 * constants, folded shapes), checks the attributes the .nnd operator can express, and
 * writes the statement, or reports what cannot be expressed, naming the operator and the
 * node. Anything not in the table is reported as an unsupported operator. */
#include <string.h>

#include "onnx_internal.h"

/* Each operator with the first opset version whose definition its mapper follows: the
 * versions before 6 of the elementwise operators, batchnorm, clip and dropout carry the
 * legacy consumed_inputs attribute, Reshape before 5 takes its shape as an attribute. Later
 * changes (legacy broadcasting before 7, batchnorm's is_test and spatial, dropout's is_test,
 * Clip's bounds as inputs from 11, Softmax's axis from 13) are handled by the mappers. */
static const struct {
    const char *op;
    bool (*map)(const OnnxNode *);
    int since;
} mappers[] = {
    /* onnx_map_window.c */
    {"Conv", onnx_map_conv, 1},
    {"MaxPool", onnx_map_pool, 1},
    {"AveragePool", onnx_map_pool, 1},
    {"GlobalAveragePool", onnx_map_global_avgpool, 1},
    {"Pad", onnx_map_pad, 2},
    /* onnx_map_layer.c */
    {"Gemm", onnx_map_gemm, 1},
    {"MatMul", onnx_map_matmul, 1},
    {"BatchNormalization", onnx_map_batchnorm, 6},
    {"LayerNormalization", onnx_map_layernorm, 17},
    /* onnx_map_view.c */
    {"Reshape", onnx_map_reshape, 5},
    {"Flatten", onnx_map_flatten, 1},
    {"Transpose", onnx_map_transpose, 1},
    {"Unsqueeze", onnx_map_unsqueeze, 1},
    {"Squeeze", onnx_map_squeeze, 1},
    /* onnx_map_shape.c */
    {"Concat", onnx_map_concat, 1},
    {"Shape", onnx_map_shape, 1},
    {"Gather", onnx_map_gather, 1},
    {"Constant", onnx_map_constant, 1},
    /* onnx_fold.c: on constants only */
    {"Cast", onnx_map_cast, 6},
    {"ConstantOfShape", onnx_map_constant_of_shape, 9},
    {"Slice", onnx_map_slice, 1},
    /* onnx_map_elementwise.c */
    {"Add", onnx_map_binary, 6},
    {"Sub", onnx_map_binary, 6},
    {"Mul", onnx_map_binary, 6},
    {"Div", onnx_map_binary, 6},
    {"Relu", onnx_map_unary, 6},
    {"Sigmoid", onnx_map_unary, 6},
    {"Tanh", onnx_map_unary, 6},
    {"LeakyRelu", onnx_map_unary, 6},
    {"Elu", onnx_map_unary, 6},
    {"Selu", onnx_map_unary, 6},
    {"Softplus", onnx_map_unary, 1},
    {"Softsign", onnx_map_unary, 1},
    {"HardSigmoid", onnx_map_unary, 6},
    {"Exp", onnx_map_unary, 6},
    {"Log", onnx_map_unary, 6},
    {"Sqrt", onnx_map_unary, 6},
    {"Abs", onnx_map_unary, 6},
    {"Neg", onnx_map_unary, 6},
    {"Identity", onnx_map_unary, 1},
    {"Dropout", onnx_map_unary, 6},
    {"Clip", onnx_map_clip, 6},
    {"Softmax", onnx_map_softmax, 1},
    {"LogSoftmax", onnx_map_softmax, 1},
};

bool onnx_map_node(OnnxCtx *x, const Onnx__NodeProto *p) {
    OnnxNode n = {.x = x, .p = p, .op = onnx_str(p->op_type)};
    n.label = p->name && p->name[0] ? p->name
              : p->n_output && p->output[0][0] ? p->output[0] : "(unnamed)";
    const char *dom = onnx_str(p->domain);
    if (strcmp(dom, "") != 0 && strcmp(dom, "ai.onnx") != 0) {
        diag_error(x->d, x->at, "unsupported ONNX operator '%s' of domain '%s' (node '%s')", n.op,
                   dom, n.label);
        return false;
    }
    for (size_t i = 0; i < sizeof mappers / sizeof mappers[0]; i++)
        if (strcmp(n.op, mappers[i].op) == 0) {
            if (x->opset < mappers[i].since)
                return on_fail(&n, "%s", arena_printf(x->a, "the operator's definition in opset %d "
                               "is not supported (only from opset %d on)", x->opset,
                               mappers[i].since));
            if (p->n_output < 1 || !p->output[0][0])
                return on_fail(&n, "%s", "the node has no output");
            return mappers[i].map(&n);
        }
    diag_error(x->d, x->at, "unsupported ONNX operator '%s' (node '%s')", n.op, n.label);
    return false;
}
