/* nnd.h: the nnd JIT runtime, the one public header (SPEC section 5).
 *
 * Compile a model written in the .nnd language, ask what it takes and gives, and run its
 * forward pass on buffers you own:
 *
 *     nnd_options opt;
 *     nnd_options_init(&opt);
 *     nnd_model *m;
 *     char *err;
 *     if (nnd_model_compile_file("digits.nnd", &opt, &m, &err) != NND_OK) {
 *         fputs(err, stderr);           // every diagnostic, located, like a C compiler
 *         nnd_string_free(err);
 *         return 1;
 *     }
 *     nnd_context *ctx;
 *     nnd_context_create(m, &ctx);
 *     int64_t in_shape[2] = {batch, 64};
 *     nnd_tensor in = {.data = pixels, .rank = 2, .shape = in_shape, .count = batch * 64};
 *     nnd_tensor out = {.data = probs, .count = batch * 10};
 *     if (nnd_run(ctx, &in, 1, &out, 1) != NND_OK)
 *         fputs(nnd_context_error(ctx), stderr);
 *     nnd_context_destroy(ctx);
 *     nnd_model_destroy(m);
 *
 * Threads: a compiled model is immutable and may be shared; each thread runs it through its
 * own context. There is no global state. Nothing here exits or aborts on bad input: every
 * failure is a status plus a message. With the JIT backend (the default), a forward pass
 * allocates nothing once the context's workspace has grown to the largest symbolic
 * dimensions it has seen (nnd_context_reserve grows it ahead of time).
 *
 * Handles: every function checks that a handle is a live one of its kind (NULL, a context
 * passed as a model or a destroyed handle whose memory is still there answer
 * NND_ERR_INVALID_ARGUMENT, or 0 / NULL / -1 where nothing else can be returned), and destroy
 * ignores what is not a live handle. A context keeps its model's memory alive: after
 * nnd_model_destroy, its remaining contexts refuse to run (NND_ERR_INVALID_ARGUMENT) until
 * they are destroyed, and the last one frees the model. Using a handle after its memory was
 * freed cannot be detected reliably. */
#ifndef NND_H
#define NND_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NND_VERSION_MAJOR 0
#define NND_VERSION_MINOR 1
#define NND_MAX_RANK 8

typedef enum nnd_status {
    NND_OK = 0,
    NND_ERR_INVALID_ARGUMENT, /* a NULL pointer, a wrong count, size or rank in an API call */
    NND_ERR_IO,               /* a file could not be read */
    NND_ERR_MODEL,            /* syntax, name, argument or shape errors in the model */
    NND_ERR_WEIGHTS,          /* the weights file or a tensor in it is wrong */
    NND_ERR_UNSUPPORTED,      /* valid, but not supported yet (the message says what) */
    NND_ERR_SHAPE,            /* a tensor given to nnd_run does not fit the model */
    NND_ERR_NO_MEMORY,
    NND_ERR_INTERNAL,         /* a bug in nnd: please report it with the model */
} nnd_status;

const char *nnd_status_name(nnd_status s); /* "NND_ERR_SHAPE" */

/* What runs a model's forward pass. */
typedef enum nnd_backend {
    NND_BACKEND_JIT = 0, /* optimized native code from LLVM (the default) */
    NND_BACKEND_INTERP,  /* the reference interpreter: plain C loops over the graph as written
                          * (no optimizer passes, no LLVM), in double rounded to float per
                          * operator. Slow; it is the oracle that tests compare the JIT with.
                          * opt_level and cpu are checked but do not matter, and nnd_run
                          * allocates memory for each pass. */
} nnd_backend;

typedef struct nnd_options {
    int opt_level;        /* 0..3, as -O0..-O3; default 2 */
    int init_random;      /* nonzero: fill parameters deterministically (no weights statement) */
    uint64_t init_seed;   /* the seed for init_random */
    const char *cpu;      /* target CPU for code generation; NULL: the host's */
    int threads;          /* threads one nnd_run may use, 1 (default) to NND_MAX_THREADS;
                           * see nnd_model_threads for how they share the work */
    int backend;          /* an nnd_backend; default NND_BACKEND_JIT */
} nnd_options;

#define NND_MAX_THREADS 64

void nnd_options_init(nnd_options *o);

typedef struct nnd_model nnd_model;
typedef struct nnd_context nnd_context;

/* Compiles a model. On success *model is set and the result is NND_OK. On failure *model is
 * NULL and, when error is not NULL, *error receives every diagnostic as one string (release
 * it with nnd_string_free). Relative weights paths are resolved against the model file's
 * directory (for a string, against base_dir, or the current directory when it is NULL).
 * A large model's machine code is generated in several threads, up to one per CPU the
 * process may run on (at most 8), which end before the call returns. */
nnd_status nnd_model_compile_file(const char *path, const nnd_options *options,
                                  nnd_model **model, char **error);
nnd_status nnd_model_compile_string(const char *source, const char *display_name,
                                    const char *base_dir, const nnd_options *options,
                                    nnd_model **model, char **error);
void nnd_model_destroy(nnd_model *model);
void nnd_string_free(char *s);

/* What a model takes and gives, in declaration order. In dims, a symbolic dimension is -1 and
 * dim_names[i] spells it ("N", or "N*64" for a product); fixed dimensions have a NULL name. */
typedef struct nnd_tensor_info {
    const char *name;
    size_t rank;
    int64_t dims[NND_MAX_RANK];
    const char *dim_names[NND_MAX_RANK];
} nnd_tensor_info;

size_t nnd_model_num_inputs(const nnd_model *model);
size_t nnd_model_num_outputs(const nnd_model *model);
/* NULL when the index is out of range. */
const nnd_tensor_info *nnd_model_input(const nnd_model *model, size_t index);
const nnd_tensor_info *nnd_model_output(const nnd_model *model, size_t index);
/* The index of the input or output called name, or -1. */
int nnd_model_input_index(const nnd_model *model, const char *name);
int nnd_model_output_index(const nnd_model *model, const char *name);
/* The model's symbolic dimensions ("N", ...), in order of first appearance. */
size_t nnd_model_num_symbols(const nnd_model *model);
const char *nnd_model_symbol(const nnd_model *model, size_t index);
/* The threads nnd_run may use: the threads option (1 for the interpreter). A batch of at
 * least that many samples is split between them, each thread running the whole pass on its
 * rows, when the model keeps its samples apart; a smaller batch, or a model that mixes its
 * samples (a softmax or reshape across the batch, ...), splits each large kernel (dense,
 * conv2d, matmul, pooling) instead: its images, filters, weight panels or rows. Every
 * output element is computed by the same code either way, so results are bit-identical for
 * any thread count. */
int nnd_model_threads(const nnd_model *model);
/* The concrete shape of output `index` when the symbols have the given values (one per
 * symbol, in nnd_model_symbol order); writes rank dims. */
nnd_status nnd_model_output_shape(const nnd_model *model, size_t index,
                                   const int64_t *symbol_values, int64_t *dims);

/* A tensor handed to nnd_run: f32, dense, C order. For an input, set data, rank, shape and
 * count (elements available at data). For an output, set data and count (its capacity in
 * elements); nnd_run writes rank and out_shape. */
typedef struct nnd_tensor {
    float *data;
    size_t count;
    size_t rank;
    const int64_t *shape;
    int64_t out_shape[NND_MAX_RANK];
} nnd_tensor;

nnd_status nnd_context_create(const nnd_model *model, nnd_context **context);
void nnd_context_destroy(nnd_context *context);
/* Grows the workspace for the given symbol values now, so nnd_run will not allocate. */
nnd_status nnd_context_reserve(nnd_context *context, const int64_t *symbol_values);
/* Runs the forward pass. Inputs and outputs are in declaration order; an output may not
 * overlap an input or another output (NND_ERR_INVALID_ARGUMENT). Symbolic dimensions are
 * bound from the input shapes, which must agree with each other; each is between 1 and 2^31,
 * and sizes that make any tensor of the model (intermediate ones too) too large to address
 * are NND_ERR_SHAPE. */
nnd_status nnd_run(nnd_context *context, const nnd_tensor *inputs, size_t num_inputs,
                   nnd_tensor *outputs, size_t num_outputs);
/* The message of the last failed nnd_run or reserve on this context ("" after success). */
const char *nnd_context_error(const nnd_context *context);

#ifdef __cplusplus
}
#endif

#endif
