/* bind_weights.h: giving every parameter of a shaped graph its values (SPEC section 3).
 *
 * In: a graph after shape inference (parameters declared with their shapes) and either the
 * model's weights file or a seed. Out: Param.data filled (f32, arena-owned), or every problem
 * reported: problems with the file itself at the weights statement; a missing or mis-shaped
 * tensor at the layer that owns it, naming the tensor and both shapes; tensors the model
 * does not use at the weights statement. `*.num_batches_tracked` is accepted and ignored. */
#ifndef NND_BIND_WEIGHTS_H
#define NND_BIND_WEIGHTS_H

#include <stdbool.h>
#include <stdint.h>

#include "graph.h"
#include "safetensors.h"

typedef struct WeightsOptions {
    const char *base_dir; /* relative weights paths are resolved against it (NULL: cwd) */
    bool init_random;     /* fill parameters from seed when there is no weights statement */
    uint64_t seed;
    const StFile *preloaded; /* used instead of reading the weights statement's file */
} WeightsOptions;

bool weights_bind(Graph *g, Diag *d, const WeightsOptions *o);

/* Deterministic fill of one parameter (PyTorch-like ranges), from the seed and its name. */
void weights_init_random(Param *p, uint64_t seed);

#endif
