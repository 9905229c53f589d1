/* batch_split.h: whether a forward pass may be split along its batch, for threads.
 *
 * In: a shaped graph. Out: the symbol S such that running the forward pass on rows
 * [a, b) of every input's first dimension, with S = b - a, gives rows [a, b) of every output,
 * computed exactly as in the whole pass; or -1 when the model mixes samples (a reshape or
 * softmax across the batch, a transpose that moves it, an output without it, ...). The
 * generated code computes every row the same way whatever the batch, so a split gives
 * bit-identical results. */
#ifndef NND_BATCH_SPLIT_H
#define NND_BATCH_SPLIT_H

#include "graph.h"

int graph_batch_symbol(const Graph *g);

#endif
