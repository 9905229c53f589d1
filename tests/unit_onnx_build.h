/* unit_onnx_build.h: small ONNX models written from a few lines of text, for importer tests.
 *
 * onnx_build(path, line, ..., NULL) writes a ModelProto (IR 8) to path; false on a line it
 * does not understand or when the file cannot be written. Lines:
 *     opset 6                              the default domain's opset (13 without this line)
 *     input x 1,3,8,8                      a FLOAT graph input; "N" as a dimension is symbolic
 *     input s 2 int64                      a graph input of another dtype (int64, bool)
 *     init W 4,3,3,3 0.5,-1,...            a FLOAT initializer: its values, or "ramp": the
 *                                          values 0, 1, 2, ... scaled into [-1, 1)
 *     int64 shape 2 1,-1                   an INT64 initializer
 *     node Conv x,W -> y pads=[1,1,1,1] group=1 alpha=0.5 mode="constant"
 *                                          one node: inputs, outputs ("" for none) and
 *                                          attributes (int, float with a '.', ints, string)
 *     output y                             a graph output
 * Dimensions are separated by commas; a scalar initializer has the dimensions "-". */
#ifndef NND_UNIT_ONNX_BUILD_H
#define NND_UNIT_ONNX_BUILD_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.pb-c.h"

enum { OB_MAX = 16, OB_VALUES = 4096 };

typedef struct OnnxBuild {
    Onnx__ModelProto m;
    Onnx__GraphProto g;
    Onnx__OperatorSetIdProto opset, *opsets[1];
    /* value infos: the graph inputs, then (from OB_MAX on) the graph outputs */
    Onnx__ValueInfoProto vi[2 * OB_MAX], *ins[OB_MAX], *outs[OB_MAX];
    Onnx__TypeProto ty[2 * OB_MAX];
    Onnx__TypeProto__Tensor tt[2 * OB_MAX];
    Onnx__TensorShapeProto shp[2 * OB_MAX];
    Onnx__TensorShapeProto__Dimension dim[2 * OB_MAX][8], *dimp[2 * OB_MAX][8];
    Onnx__TensorProto init[OB_MAX], *inits[OB_MAX];
    int64_t init_dims[OB_MAX][8];
    float fvals[OB_MAX][OB_VALUES];
    int64_t ivals[OB_MAX][64];
    Onnx__NodeProto node[OB_MAX], *nodes[OB_MAX];
    char *node_in[OB_MAX][8], *node_out[OB_MAX][4];
    Onnx__AttributeProto attr[OB_MAX][8], *attrs[OB_MAX][8];
    int64_t attr_ints[OB_MAX][8][16];
    char strings[OB_MAX * 64][64];
    int nstrings;
} OnnxBuild;

static char *ob_str(OnnxBuild *b, const char *s, size_t n) {
    char *out = b->strings[b->nstrings++ % (OB_MAX * 64)];
    n = n < 63 ? n : 63;
    memcpy(out, s, n);
    out[n] = 0;
    return out;
}

/* Comma-separated numbers into v (at most max); their count, -1 when malformed. */
static int ob_numbers(const char *s, double *v, int max) {
    if (strcmp(s, "-") == 0)
        return 0;
    int k = 0;
    for (char *end; *s && k < max; s = *end == ',' ? end + 1 : end) {
        v[k++] = strtod(s, &end);
        if (end == s)
            return -1;
    }
    return k;
}

static bool ob_value_info(OnnxBuild *b, int i, const char *name, const char *dims,
                          int dtype) {
    onnx__value_info_proto__init(&b->vi[i]);
    onnx__type_proto__init(&b->ty[i]);
    onnx__type_proto__tensor__init(&b->tt[i]);
    onnx__tensor_shape_proto__init(&b->shp[i]);
    b->vi[i].name = ob_str(b, name, strlen(name));
    b->vi[i].type = &b->ty[i];
    b->ty[i].value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    b->ty[i].tensor_type = &b->tt[i];
    b->tt[i].has_elem_type = true;
    b->tt[i].elem_type = dtype;
    if (!dims)
        return true;
    b->tt[i].shape = &b->shp[i];
    int k = 0;
    for (const char *s = dims; *s && k < 8; k++) {
        size_t n = strcspn(s, ",");
        Onnx__TensorShapeProto__Dimension *d = &b->dim[i][k];
        onnx__tensor_shape_proto__dimension__init(d);
        if (s[0] >= '0' && s[0] <= '9') {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = atoll(s);
        } else {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = ob_str(b, s, n);
        }
        b->dimp[i][k] = d;
        s += n + (s[n] == ',');
    }
    b->shp[i].n_dim = (size_t)k;
    b->shp[i].dim = b->dimp[i];
    return true;
}

static bool ob_init(OnnxBuild *b, int i, const char *name, const char *dims, const char *vals,
                    bool int64) {
    Onnx__TensorProto *t = &b->init[i];
    onnx__tensor_proto__init(t);
    t->name = ob_str(b, name, strlen(name));
    double d[8];
    int rank = ob_numbers(dims, d, 8);
    if (rank < 0)
        return false;
    int64_t numel = 1;
    for (int k = 0; k < rank; k++)
        numel *= b->init_dims[i][k] = (int64_t)d[k];
    t->n_dims = (size_t)rank;
    t->dims = b->init_dims[i];
    t->has_data_type = true;
    static double v[OB_VALUES];
    int n = strcmp(vals, "ramp") == 0 ? (int)numel : ob_numbers(vals, v, OB_VALUES);
    if (n != numel || numel > (int64 ? 64 : OB_VALUES))
        return false;
    for (int k = 0; k < n; k++) {
        double x = strcmp(vals, "ramp") == 0 ? 2.0 * ((k * 7) % n) / n - 1 : v[k];
        if (int64)
            b->ivals[i][k] = (int64_t)x;
        else
            b->fvals[i][k] = (float)x;
    }
    t->data_type =
        int64 ? ONNX__TENSOR_PROTO__DATA_TYPE__INT64 : ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    if (int64)
        t->n_int64_data = (size_t)n, t->int64_data = b->ivals[i];
    else
        t->n_float_data = (size_t)n, t->float_data = b->fvals[i];
    return true;
}

/* "a,b" into names; their count. */
static int ob_names(OnnxBuild *b, const char *s, char **names, int max) {
    int k = 0;
    for (; *s && k < max; k++) {
        size_t n = strcspn(s, ",");
        names[k] = ob_str(b, s, n);
        s += n + (s[n] == ',');
    }
    return k;
}

static bool ob_attr(OnnxBuild *b, int i, int k, const char *text) {
    Onnx__AttributeProto *a = &b->attr[i][k];
    onnx__attribute_proto__init(a);
    const char *eq = strchr(text, '=');
    if (!eq)
        return false;
    a->name = ob_str(b, text, (size_t)(eq - text));
    const char *v = eq + 1;
    a->has_type = true;
    if (v[0] == '"') {
        a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING;
        a->has_s = true;
        a->s.data = (uint8_t *)ob_str(b, v + 1, strcspn(v + 1, "\""));
        a->s.len = strlen((char *)a->s.data);
    } else if (v[0] == '[') {
        double d[16];
        char *list = ob_str(b, v + 1, strcspn(v + 1, "]"));
        int n = ob_numbers(list, d, 16);
        if (n < 0)
            return false;
        a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
        for (int j = 0; j < n; j++)
            b->attr_ints[i][k][j] = (int64_t)d[j];
        a->n_ints = (size_t)n;
        a->ints = b->attr_ints[i][k];
    } else if (strpbrk(v, ".e")) {
        a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
        a->has_f = true;
        a->f = strtof(v, NULL);
    } else {
        a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
        a->has_i = true;
        a->i = atoll(v);
    }
    b->attrs[i][k] = a;
    return true;
}

/* "node OP ins -> outs attrs..." (the words after "node"). */
static bool ob_node(OnnxBuild *b, int i, char **w, int nw) {
    if (nw < 4 || strcmp(w[2], "->") != 0)
        return false;
    Onnx__NodeProto *n = &b->node[i];
    onnx__node_proto__init(n);
    n->op_type = ob_str(b, w[0], strlen(w[0]));
    n->name = ob_str(b, w[0], strlen(w[0]));
    n->n_input = (size_t)ob_names(b, strcmp(w[1], "-") == 0 ? "" : w[1], b->node_in[i], 8);
    n->input = b->node_in[i];
    n->n_output = (size_t)ob_names(b, w[3], b->node_out[i], 4);
    n->output = b->node_out[i];
    for (int k = 4; k < nw; k++)
        if (!ob_attr(b, i, k - 4, w[k]))
            return false;
    n->n_attribute = (size_t)(nw - 4);
    n->attribute = b->attrs[i];
    b->nodes[i] = n;
    return true;
}

static bool ob_line(OnnxBuild *b, const char *line) {
    char buf[1024], *w[16];
    snprintf(buf, sizeof buf, "%s", line);
    int nw = 0;
    for (char *t = strtok(buf, " "); t && nw < 16; t = strtok(NULL, " "))
        w[nw++] = t;
    Onnx__GraphProto *g = &b->g;
    if (nw == 2 && strcmp(w[0], "opset") == 0) {
        b->opset.version = atoll(w[1]);
    } else if ((nw == 3 || nw == 4) && strcmp(w[0], "input") == 0 && g->n_input < OB_MAX) {
        int i = (int)g->n_input++;
        int dtype = nw == 3                     ? ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT
                    : strcmp(w[3], "int64") == 0 ? ONNX__TENSOR_PROTO__DATA_TYPE__INT64
                    : strcmp(w[3], "bool") == 0  ? ONNX__TENSOR_PROTO__DATA_TYPE__BOOL
                                                 : -1;
        if (dtype < 0)
            return false;
        ob_value_info(b, i, w[1], w[2], dtype);
        b->ins[i] = &b->vi[i];
    } else if (nw == 4 && (strcmp(w[0], "init") == 0 || strcmp(w[0], "int64") == 0) &&
               g->n_initializer < OB_MAX) {
        int i = (int)g->n_initializer++;
        if (!ob_init(b, i, w[1], w[2], w[3], strcmp(w[0], "int64") == 0))
            return false;
        b->inits[i] = &b->init[i];
    } else if (nw >= 2 && strcmp(w[0], "node") == 0 && g->n_node < OB_MAX) {
        if (!ob_node(b, (int)g->n_node, w + 1, nw - 1))
            return false;
        g->n_node++;
    } else if (nw == 2 && strcmp(w[0], "output") == 0 && g->n_output < OB_MAX) {
        int i = OB_MAX + (int)g->n_output;
        ob_value_info(b, i, w[1], NULL, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT);
        b->outs[g->n_output++] = &b->vi[i];
    } else {
        return false;
    }
    return true;
}

static bool onnx_build(const char *path, ...) __attribute__((sentinel, unused));
static bool onnx_build(const char *path, ...) {
    static OnnxBuild b;
    memset(&b, 0, sizeof b);
    onnx__model_proto__init(&b.m);
    onnx__graph_proto__init(&b.g);
    onnx__operator_set_id_proto__init(&b.opset);
    b.opset.domain = "", b.opset.has_version = true, b.opset.version = 13;
    b.opsets[0] = &b.opset;
    b.g.name = "built", b.g.input = b.ins, b.g.output = b.outs;
    b.g.initializer = b.inits, b.g.node = b.nodes;
    b.m.has_ir_version = true, b.m.ir_version = 8;
    b.m.n_opset_import = 1, b.m.opset_import = b.opsets, b.m.graph = &b.g;
    va_list ap;
    va_start(ap, path);
    bool ok = true;
    for (const char *line; ok && (line = va_arg(ap, const char *));)
        ok = ob_line(&b, line);
    va_end(ap);
    if (!ok)
        return false;
    size_t n = onnx__model_proto__get_packed_size(&b.m);
    uint8_t *buf = malloc(n + 1);
    FILE *f = buf ? fopen(path, "wb") : NULL;
    if (f) {
        onnx__model_proto__pack(&b.m, buf);
        ok = fwrite(buf, 1, n, f) == n;
        ok &= fclose(f) == 0;
    }
    free(buf);
    return f && ok;
}

#endif
