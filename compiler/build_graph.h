/* build_graph.h: from the syntax tree to the graph IR.
 *
 * In: a parsed model. Out: a Graph whose nodes are the model's calls in definition order,
 * with names resolved, arguments bound to each op's schema (positional in schema order, then
 * by name; defaults applied; types checked), parameter prefixes assigned (SPEC 1.3) and the
 * inputs' shapes declared. Shapes of the other nodes are not inferred here (shape_infer).
 * Every error is reported and the build goes on: an unknown name or a failed call becomes
 * a "bad" value that silences the errors that would follow from it. */
#ifndef NND_BUILD_GRAPH_H
#define NND_BUILD_GRAPH_H

#include "ast.h"
#include "graph.h"

Graph *build_graph(Arena *a, Diag *d, const AstModel *m, const char *file);

#endif
