/* graph.h: the dataflow-graph IR.
 *
 * A Graph is a list of Nodes in a topological order (definition order: names are defined
 * before use). Each node is one operator application with its tensor inputs, its bound
 * arguments (Attr), its inferred output Shape and its parameters (weights). Every node keeps
 * the source location of the call that made it, so any later stage can report located
 * errors. Everything is owned by the graph's arena. */
#ifndef NND_GRAPH_H
#define NND_GRAPH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "arena.h"
#include "diag.h"
#include "dim.h"

typedef enum OpKind {
#define OP(e, name, schema, shape, lower) OP_##e,
#include "ops.def"
#undef OP
    OP_COUNT
} OpKind;

typedef enum AttrKind { ATTR_INT, ATTR_FLOAT, ATTR_BOOL, ATTR_STRING, ATTR_INTS } AttrKind;

/* A bound argument. `set` is false for an optional argument the user left out. */
typedef struct Attr {
    const char *name;
    AttrKind kind;
    bool set;
    int64_t i;   /* ATTR_INT, ATTR_BOOL (0/1) */
    double f;    /* ATTR_FLOAT */
    const char *s; /* ATTR_STRING */
    int n;       /* ATTR_INTS */
    int64_t v[MAX_RANK];
    SrcLoc loc;  /* the argument's value, or the call when defaulted */
} Attr;

/* How --init random fills a parameter that has no weights file. */
typedef enum ParamInit {
    PINIT_UNIFORM_FANIN, /* U(-1/sqrt(fan_in), 1/sqrt(fan_in)), PyTorch's default for layers */
    PINIT_ONES,
    PINIT_ZEROS,
    PINIT_VARIANCE, /* positive, near 1: batchnorm running variance */
} ParamInit;

typedef struct Param {
    const char *name;   /* full name: "h1.weight" */
    const char *suffix; /* "weight" */
    Shape shape;        /* always fixed-size */
    ParamInit init;
    int64_t fan_in;
    float *data;        /* filled by the weights binder; arena-owned */
} Param;

typedef struct Node Node;
struct Node {
    int id;           /* index in Graph.nodes */
    OpKind op;
    const char *name; /* unique: statement target, name= or target.op for inner calls */
    const char *prefix; /* parameter prefix (the layer's name) */
    SrcLoc loc;       /* the call (or the input declaration) */
    Node **in;
    SrcLoc *in_loc;   /* where each input argument is written (the call when implicit) */
    int nin;
    Attr *attrs;
    int nattrs;
    Shape shape;
    bool bad;         /* its shape is unknown because of an error already reported */
    Param *params;
    int nparams;
    int input_index;  /* OP_INPUT: position among the model's inputs */
    int nuses;        /* consumers, outputs counted */

    /* Set by the optimizer (compiler/passes/); all zero before it runs or at -O0. */
    Node *host;       /* fused: computed inside this kernel's loops, never stored alone */
    Node **epi;       /* a kernel's epilogue: fused elementwise nodes, applied in order */
    int nepi;
    Node *tail;       /* a conv2d's: the pooling layer computed inside its image loop, each
                       * image's planes right after they are computed (fuse_pool.c) */
    Node *tail_of;    /* that pooling layer's: the conv2d it runs inside */
    Node *chain;      /* a conv2d in an image chain (chain_images.c): the chain's first conv,
                       * whose kernels run image by image, each image through all of them */
    int chain_end;    /* the chain's first conv's: the position of its last */
    bool one_image;   /* a value made and read image by image (a pooling tail's input, a
                       * value inside an image chain): its buffer holds one image */
    int buf;          /* the workspace buffer holding this value (-1: none: an input, an
                       * output, a view or a fused value) */
};

/* One buffer of the planned workspace: `floats` times the monomial `unit` elements, at
 * `offset` times `unit` floats into its group. Buffers whose units share the same symbols
 * form a group; groups are laid out one after the other. */
typedef struct Buffer {
    Dim unit;         /* the symbolic part (constant 1 when there is none) */
    int64_t floats;   /* size in units, a multiple of 16 (64 bytes) */
    int64_t offset;   /* in units, from the start of its group */
    int group;
} Buffer;

typedef struct Plan {
    Buffer *bufs;
    int nbufs;
    Dim group_unit[MAX_SYMS + 1];
    int64_t group_floats[MAX_SYMS + 1]; /* peak of each group, in its unit */
    int ngroups;
    bool done;                          /* planned; else every value gets its own buffer */
} Plan;

/* A symbolic dimension: bound from an input shape, or derived as the sum of two dimensions
 * (concatenating sizes N and M gives a dimension "(N+M)"). A derived symbol only refers to
 * symbols with a lower index, so values can be filled in index order. */
typedef struct SymDef {
    bool derived;
    Dim a, b; /* derived: value = a + b */
} SymDef;

typedef struct Graph {
    Arena *arena;
    const char *name;  /* model name */
    const char *file;  /* source path as given */
    Node **nodes;
    int nnodes, cap;
    Node **inputs;
    int ninputs;
    Node **outputs;    /* in declaration order; a node may appear once */
    const char **output_names; /* the names the model gives its outputs */
    int noutputs;
    const char *syms[MAX_SYMS]; /* symbolic dimension names, in order of first use */
    SymDef sym_def[MAX_SYMS];
    int nsyms;
    const char *weights_path; /* as written; NULL without a weights statement */
    SrcLoc weights_loc;
    Plan plan;               /* set by pass_plan_memory */
} Graph;

Graph *graph_new(Arena *a, const char *name, const char *file);
Node *graph_add_node(Graph *g, OpKind op, const char *name, SrcLoc loc, Node **in, int nin);
void graph_add_output(Graph *g, Node *n, const char *name);
/* The index of symbol `name`, adding it if new; -1 when the model has MAX_SYMS already. */
int graph_sym(Graph *g, const char *name);
/* a + b: one monomial when both have the same symbols (N + N = N*2), else a derived symbol
 * "(a+b)". False on overflow or when the model has MAX_SYMS symbols already. */
bool graph_dim_add(Graph *g, Dim a, Dim b, Dim *out);
/* Fills the derived symbols' values from the others' (values has one slot per symbol). */
bool syms_derive(const SymDef *defs, int nsyms, int64_t *values);

Attr *node_attr(const Node *n, const char *name); /* NULL if the op has no such argument */
Attr *node_add_attr(Graph *g, Node *n, const char *name, AttrKind kind);
int64_t attr_int(const Node *n, const char *name);     /* 0 when absent */
double attr_float(const Node *n, const char *name);    /* 0 when absent */
bool attr_bool(const Node *n, const char *name);
/* Declares a parameter named PREFIX.SUFFIX, or PREFIX alone when suffix is "" (param). */
Param *node_add_param(Graph *g, Node *n, const char *suffix, Shape shape, ParamInit init,
                      int64_t fan_in);
Param *node_param(const Node *n, const char *suffix);

const char *op_name(OpKind op);
/* "[N, 64]" for the node's shape. */
const char *node_shape_str(const Graph *g, const Node *n);
const char *graph_shape_str(const Graph *g, const Shape *s);

/* Prints one line per node: `h1 = dense(pixels, units=32, bias=true) : [N, 32]  {h1.weight [32, 64], ...}`. */
void graph_dump(FILE *out, const Graph *g);
/* Graphviz: a node per graph node with its op and shape, an edge per input. */
void graph_dump_dot(FILE *out, const Graph *g);

#endif
