/* nnd.c: the JIT runtime behind nnd.h.
 *
 * A model is compiled once (the compiler's pipeline, then ORC LLJIT) and keeps only what
 * running it needs: the entry points, the tensor descriptions and the symbolic
 * dimensions of every input and output. A context owns a workspace sized for the largest
 * symbol values it has run with; nnd_run checks every argument, binds the symbols from the
 * input shapes, and calls the generated forward function: once; with threads and a batch
 * of at least as many samples, once per slice of the batch, each slice with its own part of
 * the workspace; with threads and a smaller batch (or a model that mixes its samples),
 * forward_parallel once, whose large kernels run their tasks on the context's pool.
 *
 * With NND_BACKEND_INTERP the pipeline stops after the weights stage and the model keeps the
 * compilation itself, whose graph the reference interpreter (compiler/interp/) runs; nnd_run
 * makes the same checks, then calls interp_run instead. */
#define _POSIX_C_SOURCE 200809L
#include "nnd.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch_split.h"
#include "compile.h"
#include "interp.h"
#include "jit.h"
#include "thread_pool.h"


typedef struct TensorDesc {
    nnd_tensor_info info;
    Dim dims[NND_MAX_RANK];
} TensorDesc;

/* Handles carry a tag that destroy clears: a pointer that is not a live handle of the right
 * kind (NULL, a context passed as a model, garbage) is refused rather than followed. */
enum { MODEL_MAGIC = 0x6e6e644d, CONTEXT_MAGIC = 0x6e6e6443 };

struct nnd_model {
    nnd_backend backend;
    Compilation *comp;     /* NND_BACKEND_INTERP: owns the graph interp_run runs */
    uint32_t magic;
    /* One reference for the handle, one per context: destroying the model while contexts
     * still use it only marks it destroyed; the last release frees it, and those contexts
     * report the misuse instead of reading freed memory. */
    atomic_int refs;
    atomic_bool destroyed;
    Jit *jit;
    CgForwardFn forward;
    CgParallelFn parallel;
    CgWorkspaceFn workspace_size;
    size_t ninputs, noutputs;
    TensorDesc *inputs, *outputs;
    size_t nsyms, nfree;   /* all symbols; those bound from inputs (the public ones) */
    char *syms[MAX_SYMS];
    SymDef defs[MAX_SYMS];
    int free_index[MAX_SYMS]; /* public symbol i is symbol free_index[i] */
    char *strings; /* one block for every name */
    int threads;   /* the threads option: 1 or more */
    int split_sym; /* the batch symbol, or -1 */
    Dim *sizes;    /* every value's elements: bounds the workspace (see workspace_fits) */
    size_t nsizes;
};

/* One thread's slice of a run: its rows of every input and output and its workspace. */
typedef struct Slice {
    const nnd_model *model;
    const float **in_ptrs;
    float **out_ptrs;
    int64_t syms[MAX_SYMS];
    int64_t ws_offset;
    void *workspace;
} Slice;

struct nnd_context {
    uint32_t magic;
    nnd_model *model;
    void *workspace;
    int64_t workspace_bytes;
    const float **in_ptrs;
    float **out_ptrs;
    ThreadPool *pool; /* NULL with one thread */
    CgRunner runner;  /* the pool, for forward_parallel's regions */
    Slice *slices;    /* model->threads of them */
    int64_t *numel;        /* this run's elements: inputs, then outputs */
    char error[512];
};

static void run_on_pool(void *pool, CgTask task, void *arg, int ntasks) {
    pool_run(pool, task, arg, ntasks);
}

const char *nnd_status_name(nnd_status s) {
    static const char *names[] = {
        "NND_OK",          "NND_ERR_INVALID_ARGUMENT", "NND_ERR_IO",       "NND_ERR_MODEL",
        "NND_ERR_WEIGHTS", "NND_ERR_UNSUPPORTED",      "NND_ERR_SHAPE",    "NND_ERR_NO_MEMORY",
        "NND_ERR_INTERNAL",
    };
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "NND_ERR_UNKNOWN";
}

void nnd_options_init(nnd_options *o) {
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->opt_level = 2;
    o->threads = 1;
}

void nnd_string_free(char *s) { free(s); }

static void set_error(char **error, const char *text) {
    if (error)
        *error = strdup(text ? text : "");
}

/* The status that best describes what the diagnostics are about. */
static nnd_status classify(const Compilation *c) {
    if (c->out_of_memory)
        return NND_ERR_NO_MEMORY;
    if (!c->started || (c->done == STAGE_PARSE && !c->ast))
        return NND_ERR_IO;
    for (int i = 0; i < diag_count(c->diag); i++) {
        const char *m = diag_message(c->diag, i);
        if (strstr(m, "not yet supported"))
            return NND_ERR_UNSUPPORTED;
        if (strstr(m, "internal error"))
            return NND_ERR_INTERNAL;
    }
    return c->done >= STAGE_WEIGHTS ? NND_ERR_WEIGHTS : NND_ERR_MODEL;
}

/* Why a model file could not be read: the file itself, or (for an ONNX model, which is
 * converted while it is read) what the importer refused. */
static nnd_status read_failure(const Compilation *c) {
    const char *m = diag_count(c->diag) ? diag_message(c->diag, 0) : "";
    if (c->out_of_memory)
        return NND_ERR_NO_MEMORY;
    if (strncmp(m, "cannot read", 11) == 0 || strstr(m, "too large"))
        return NND_ERR_IO;
    if (strstr(m, "unsupported") || strstr(m, "not supported"))
        return NND_ERR_UNSUPPORTED;
    return NND_ERR_MODEL;
}

static char *copy_str(char **cursor, const char *s) {
    size_t n = strlen(s) + 1;
    memcpy(*cursor, s, n);
    char *r = *cursor;
    *cursor += n;
    return r;
}

static void describe(TensorDesc *t, const char *name, const Shape *s, const Graph *g,
                     char **cursor, Arena *a) {
    t->info.name = copy_str(cursor, name);
    t->info.rank = (size_t)s->rank;
    for (int i = 0; i < s->rank; i++) {
        t->dims[i] = s->d[i];
        bool fixed = dim_is_const(s->d[i]);
        t->info.dims[i] = fixed ? s->d[i].c : -1;
        t->info.dim_names[i] = fixed ? NULL : copy_str(cursor, dim_str(a, s->d[i], g->syms));
    }
}

/* Copies the model's interface out of the compilation (whose arena is freed after). */
static bool describe_model(nnd_model *m, const Graph *g, Arena *a) {
    size_t bytes = 0;
    for (int i = 0; i < g->nnodes; i++)
        bytes += strlen(g->nodes[i]->name) + 1 + (size_t)MAX_RANK * 256;
    for (int i = 0; i < g->noutputs; i++)
        bytes += strlen(g->output_names[i]) + 1 + (size_t)MAX_RANK * 256;
    for (int i = 0; i < g->nsyms; i++)
        bytes += strlen(g->syms[i]) + 1;
    m->strings = malloc(bytes + 1);
    m->inputs = calloc((size_t)g->ninputs + 1, sizeof(TensorDesc));
    m->outputs = calloc((size_t)g->noutputs + 1, sizeof(TensorDesc));
    m->sizes = calloc((size_t)g->nnodes + 1, sizeof(Dim));
    if (!m->strings || !m->inputs || !m->outputs || !m->sizes)
        return false;
    for (int i = 0; i < g->nnodes; i++)
        if (shape_numel(&g->nodes[i]->shape, &m->sizes[m->nsizes]))
            m->nsizes++;
    char *cursor = m->strings;
    m->ninputs = (size_t)g->ninputs;
    m->noutputs = (size_t)g->noutputs;
    m->nsyms = (size_t)g->nsyms;
    for (int i = 0; i < g->nsyms; i++) {
        m->syms[i] = copy_str(&cursor, g->syms[i]);
        m->defs[i] = g->sym_def[i];
        if (!g->sym_def[i].derived)
            m->free_index[m->nfree++] = i;
    }
    for (int i = 0; i < g->ninputs; i++)
        describe(&m->inputs[i], g->inputs[i]->name, &g->inputs[i]->shape, g, &cursor, a);
    for (int i = 0; i < g->noutputs; i++)
        describe(&m->outputs[i], g->output_names[i], &g->outputs[i]->shape, g, &cursor, a);
    return true;
}

static void model_free(nnd_model *m) {
    m->magic = 0;
    jit_dispose(m->jit);
    compilation_free(m->comp);
    free(m->inputs);
    free(m->outputs);
    free(m->strings);
    free(m->sizes);
    free(m);
}

static void model_release(nnd_model *m) {
    if (atomic_fetch_sub(&m->refs, 1) == 1)
        model_free(m);
}

/* A new model handle, tagged, with the handle's reference; NULL when out of memory. */
static nnd_model *model_new(void) {
    nnd_model *m = calloc(1, sizeof *m);
    if (m) {
        m->magic = MODEL_MAGIC;
        atomic_init(&m->refs, 1);
        atomic_init(&m->destroyed, false);
    }
    return m;
}

/* A live model handle (not destroyed); false for NULL and for anything else. */
static bool model_ok(const nnd_model *m) {
    return m && m->magic == MODEL_MAGIC && !atomic_load(&((nnd_model *)m)->destroyed);
}

void nnd_model_destroy(nnd_model *m) {
    if (!m || m->magic != MODEL_MAGIC || atomic_exchange(&m->destroyed, true))
        return; /* not a model, or destroyed already */
    model_release(m);
}


/* The compile options for opt; false after setting *error when an option is out of range. */
static bool check_options(const nnd_options *opt, const char *base_dir, CompileOptions *co,
                          nnd_backend *backend, char **error) {
    compile_options_init(co);
    co->base_dir = base_dir;
    co->link_params = true; /* the JIT links large parameters by address */
    *backend = NND_BACKEND_JIT;
    if (!opt)
        return true;
    if (opt->opt_level < 0 || opt->opt_level > 3) {
        set_error(error, "opt_level must be between 0 and 3");
        return false;
    }
    if (opt->cpu && !cg_host_cpu_known(opt->cpu)) {
        char msg[256];
        snprintf(msg, sizeof msg, "unknown CPU '%.100s' for this machine's target", opt->cpu);
        set_error(error, msg);
        return false;
    }
    if (opt->backend != NND_BACKEND_JIT && opt->backend != NND_BACKEND_INTERP) {
        set_error(error, "backend must be NND_BACKEND_JIT or NND_BACKEND_INTERP");
        return false;
    }
    co->opt_level = opt->opt_level;
    co->init_random = opt->init_random != 0;
    co->seed = opt->init_seed;
    co->cpu = opt->cpu;
    if (opt->threads < 0 || opt->threads > NND_MAX_THREADS) {
        char msg[96];
        snprintf(msg, sizeof msg, "threads must be between 1 and %d\n", NND_MAX_THREADS);
        set_error(error, msg);
        return false;
    }
    *backend = (nnd_backend)opt->backend;
    return true;
}

/* The model's generated code, from compilation c at STAGE_LLVM (compile_jit optimizes it). */
static nnd_status attach_jit(nnd_model *m, Compilation *c, int opt_level, char **error) {
    char *jerr = NULL;
    m->jit = compile_jit(c, opt_level, 0, &m->forward, &m->parallel, &m->workspace_size, &jerr);
    if (m->jit)
        return NND_OK;
    char msg[1024];
    snprintf(msg, sizeof msg, "%s: internal error: JIT compilation failed: %s\n", c->file,
             jerr ? jerr : "?");
    set_error(error, msg);
    free(jerr);
    return NND_ERR_INTERNAL;
}

/* Compiles c for the backend opt asks for. Takes c: it is freed, or kept by the model (the
 * interpreter runs its graph). */
static nnd_status finish_compile(Compilation *c, const nnd_options *opt, const char *base_dir,
                                 nnd_model **model, char **error) {
    CompileOptions co;
    nnd_backend backend;
    if (!check_options(opt, base_dir, &co, &backend, error)) {
        compilation_free(c);
        return NND_ERR_INVALID_ARGUMENT;
    }
    /* The interpreter runs the graph as written: shaped, weights bound, no passes. The JIT
     * optimizes the LLVM module in parts, in threads (compile_jit), the second part's copy
     * of the module emitted while the first part's is (early_copy). */
    Stage last = backend == NND_BACKEND_INTERP ? STAGE_WEIGHTS : STAGE_LLVM;
    co.early_copy = backend != NND_BACKEND_INTERP;
    nnd_model *m = NULL;
    nnd_status st = NND_OK;
    if (!compile_to(c, last, &co)) {
        st = classify(c);
        set_error(error, st == NND_ERR_NO_MEMORY ? "out of memory" : diag_text(c->diag));
    } else if (!(m = model_new()) || !describe_model(m, c->graph, c->arena)) {
        set_error(error, "out of memory");
        st = NND_ERR_NO_MEMORY;
    } else if (backend == NND_BACKEND_INTERP) {
        m->threads = 1;
        m->backend = backend;
        m->comp = c;
        c = NULL;
    } else {
        m->split_sym = graph_batch_symbol(c->graph);
        m->threads = opt && opt->threads > 1 ? opt->threads : 1;
        st = attach_jit(m, c, co.opt_level, error);
    }
    compilation_free(c);
    if (st != NND_OK)
        nnd_model_destroy(m);
    else
        *model = m;
    return st;
}

nnd_status nnd_model_compile_file(const char *path, const nnd_options *options,
                                  nnd_model **model, char **error) {
    if (error)
        *error = NULL;
    if (!model || !path) {
        set_error(error, "nnd_model_compile_file: path and model must not be NULL");
        return NND_ERR_INVALID_ARGUMENT;
    }
    *model = NULL;
    Compilation *c = compilation_new();
    if (!c) {
        set_error(error, "out of memory");
        return NND_ERR_NO_MEMORY;
    }
    if (!compile_read_file(c, path)) {
        set_error(error, diag_text(c->diag));
        nnd_status st = read_failure(c);
        compilation_free(c);
        return st;
    }
    return finish_compile(c, options, NULL, model, error);
}

nnd_status nnd_model_compile_string(const char *source, const char *display_name,
                                    const char *base_dir, const nnd_options *options,
                                    nnd_model **model, char **error) {
    if (error)
        *error = NULL;
    if (!model || !source) {
        set_error(error, "nnd_model_compile_string: source and model must not be NULL");
        return NND_ERR_INVALID_ARGUMENT;
    }
    *model = NULL;
    Compilation *c = compilation_new();
    if (!c) {
        set_error(error, "out of memory");
        return NND_ERR_NO_MEMORY;
    }
    compile_set_source(c, display_name ? display_name : "<string>", source, strlen(source));
    return finish_compile(c, options, base_dir ? base_dir : ".", model, error);
}

/* --- introspection ---------------------------------------------------------------------- */

size_t nnd_model_num_inputs(const nnd_model *m) { return model_ok(m) ? m->ninputs : 0; }
size_t nnd_model_num_outputs(const nnd_model *m) { return model_ok(m) ? m->noutputs : 0; }
size_t nnd_model_num_symbols(const nnd_model *m) { return model_ok(m) ? m->nfree : 0; }
int nnd_model_threads(const nnd_model *m) { return model_ok(m) ? m->threads : 0; }

const nnd_tensor_info *nnd_model_input(const nnd_model *m, size_t i) {
    return model_ok(m) && i < m->ninputs ? &m->inputs[i].info : NULL;
}

const nnd_tensor_info *nnd_model_output(const nnd_model *m, size_t i) {
    return model_ok(m) && i < m->noutputs ? &m->outputs[i].info : NULL;
}

const char *nnd_model_symbol(const nnd_model *m, size_t i) {
    return model_ok(m) && i < m->nfree ? m->syms[m->free_index[i]] : NULL;
}

static int find(const TensorDesc *t, size_t n, const char *name) {
    for (size_t i = 0; name && i < n; i++)
        if (strcmp(t[i].info.name, name) == 0)
            return (int)i;
    return -1;
}

int nnd_model_input_index(const nnd_model *m, const char *name) {
    return model_ok(m) ? find(m->inputs, m->ninputs, name) : -1;
}

int nnd_model_output_index(const nnd_model *m, const char *name) {
    return model_ok(m) ? find(m->outputs, m->noutputs, name) : -1;
}

/* The largest symbol value accepted: keeps every size computation far from overflow. */
#define MAX_SYMBOL_VALUE ((int64_t)1 << 31)

/* Concrete dims of t for the symbol values; false if a size overflows. */
static bool eval_shape(const TensorDesc *t, const int64_t *syms, int64_t *dims, int64_t *numel) {
    int64_t n = 1;
    for (size_t i = 0; i < t->info.rank; i++) {
        if (!dim_eval(t->dims[i], syms, &dims[i]) || __builtin_mul_overflow(n, dims[i], &n) ||
            n > ((int64_t)1 << 40))
            return false;
    }
    *numel = n;
    return true;
}

/* All symbol values from the public ones; false when one is out of range. */
static bool expand_symbols(const nnd_model *m, const int64_t *public_values, int64_t *all) {
    for (size_t i = 0; i < m->nfree; i++) {
        if (public_values[i] < 1 || public_values[i] > MAX_SYMBOL_VALUE)
            return false;
        all[m->free_index[i]] = public_values[i];
    }
    return syms_derive(m->defs, (int)m->nsyms, all);
}

nnd_status nnd_model_output_shape(const nnd_model *m, size_t index, const int64_t *symbol_values,
                                  int64_t *dims) {
    if (!model_ok(m) || index >= m->noutputs || !dims || (m->nfree && !symbol_values))
        return NND_ERR_INVALID_ARGUMENT;
    int64_t syms[MAX_SYMS] = {0}, numel;
    if (!expand_symbols(m, symbol_values, syms))
        return NND_ERR_INVALID_ARGUMENT;
    return eval_shape(&m->outputs[index], syms, dims, &numel) ? NND_OK : NND_ERR_SHAPE;
}

/* --- contexts and running ----------------------------------------------------------------- */

static void context_free(nnd_context *c, int threads);

nnd_status nnd_context_create(const nnd_model *model, nnd_context **context) {
    if (!context)
        return NND_ERR_INVALID_ARGUMENT;
    *context = NULL;
    if (!model_ok(model))
        return NND_ERR_INVALID_ARGUMENT;
    nnd_context *c = calloc(1, sizeof *c);
    if (!c)
        return NND_ERR_NO_MEMORY;
    c->in_ptrs = calloc(model->ninputs + 1, sizeof(float *));
    c->out_ptrs = calloc(model->noutputs + 1, sizeof(float *));
    c->numel = calloc(model->ninputs + model->noutputs + 1, sizeof(int64_t));
    c->slices = calloc((size_t)model->threads, sizeof *c->slices);
    bool ok = c->in_ptrs && c->out_ptrs && c->numel && c->slices;
    for (int t = 0; ok && t < model->threads; t++) {
        c->slices[t].model = model;
        c->slices[t].in_ptrs = calloc(model->ninputs + 1, sizeof(float *));
        c->slices[t].out_ptrs = calloc(model->noutputs + 1, sizeof(float *));
        ok = c->slices[t].in_ptrs && c->slices[t].out_ptrs;
    }
    if (ok && model->threads > 1)
        ok = (c->pool = pool_create(model->threads)) != NULL;
    c->runner = (CgRunner){.run = run_on_pool, .ctx = c->pool, .threads = model->threads};
    if (!ok) {
        context_free(c, model->threads);
        return NND_ERR_NO_MEMORY;
    }
    /* The context keeps the model alive; the model is immutable, so sharing it is safe. */
    c->model = (nnd_model *)model;
    atomic_fetch_add(&c->model->refs, 1);
    c->magic = CONTEXT_MAGIC;
    *context = c;
    return NND_OK;
}

static bool context_ok(const nnd_context *c) { return c && c->magic == CONTEXT_MAGIC; }

void nnd_context_destroy(nnd_context *c) {
    if (!context_ok(c))
        return;
    c->magic = 0;
    int threads = c->model->threads;
    model_release(c->model);
    context_free(c, threads);
}

/* Everything a context owns but its model reference. */
static void context_free(nnd_context *c, int threads) {
    pool_destroy(c->pool);
    for (int t = 0; c->slices && t < threads; t++) {
        free(c->slices[t].in_ptrs);
        free(c->slices[t].out_ptrs);
    }
    free(c->slices);
    free(c->numel);
    free(c->workspace);
    free(c->in_ptrs);
    free(c->out_ptrs);
    free(c);
}

const char *nnd_context_error(const nnd_context *c) {
    return context_ok(c) ? c->error : "not a live nnd_context";
}

static nnd_status fail(nnd_context *c, nnd_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static nnd_status fail(nnd_context *c, nnd_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->error, sizeof c->error, fmt, ap);
    va_end(ap);
    return st;
}

static int split_slices(nnd_context *c, const int64_t *syms);

/* The workspace one run needs: with threads, one part per slice, each 64-byte aligned;
 * slices[t].ws_offset is set. -1 when too large. */
static int64_t workspace_need(nnd_context *c, int nslices, const int64_t *syms) {
    if (c->model->backend == NND_BACKEND_INTERP)
        return 0; /* the interpreter allocates per run */
    if (nslices <= 1)
        return c->model->workspace_size(syms);
    int64_t total = 0;
    for (int t = 0; t < nslices; t++) {
        int64_t part = c->model->workspace_size(c->slices[t].syms);
        if (part < 0 || part > INT64_MAX / 2 - total)
            return -1;
        c->slices[t].ws_offset = total;
        total += (part + 63) / 64 * 64;
    }
    return total;
}


/* A context fit to run: live, and its model not destroyed under it. */
static nnd_status check_context(nnd_context *c) {
    if (!context_ok(c))
        return NND_ERR_INVALID_ARGUMENT;
    c->error[0] = 0;
    if (atomic_load(&c->model->destroyed))
        return fail(c, NND_ERR_INVALID_ARGUMENT, "the context's model was destroyed (destroy "
                    "contexts before their model)");
    return NND_OK;
}

/* The largest workspace a context may ask for: far beyond any machine, far below overflow. */
#define MAX_WORKSPACE_BYTES ((int64_t)1 << 56)

/* Whether every value of the model, each in its own 64-byte-aligned buffer, fits in
 * MAX_WORKSPACE_BYTES for these symbol values. The generated workspace function computes
 * with wrapping-free (nsw) arithmetic on the same sizes, so this bound keeps it defined. */
static bool workspace_fits(const nnd_model *m, const int64_t *syms) {
    int64_t total = 0;
    for (size_t i = 0; i < m->nsizes; i++) {
        int64_t n;
        if (!dim_eval(m->sizes[i], syms, &n) || n > MAX_WORKSPACE_BYTES / 4)
            return false;
        total += n * 4 + 64;
        if (total > MAX_WORKSPACE_BYTES)
            return false;
    }
    return true;
}

/* Makes the workspace at least `need` bytes (workspace_need's answer for syms). */
static nnd_status grow_workspace(nnd_context *c, const int64_t *syms, int64_t need) {
    if (!workspace_fits(c->model, syms))
        return fail(c, NND_ERR_SHAPE, "these sizes make the intermediate tensors too large");
    if (need >= 0 && need <= c->workspace_bytes)
        return NND_OK;
    /* 64-byte aligned for vector loads; sized up to whole cache lines. */
    void *p = NULL;
    if (need < 0 || posix_memalign(&p, 64, (size_t)need))
        return fail(c, NND_ERR_NO_MEMORY, "cannot allocate a workspace of %lld bytes",
                    (long long)need);
    free(c->workspace);
    c->workspace = p;
    c->workspace_bytes = need;
    return NND_OK;
}

nnd_status nnd_context_reserve(nnd_context *c, const int64_t *symbol_values) {
    nnd_status st = check_context(c);
    if (st != NND_OK)
        return st;
    const nnd_model *m = c->model;
    int64_t syms[MAX_SYMS] = {0};
    if ((m->nfree && !symbol_values) || !expand_symbols(m, symbol_values, syms))
        return fail(c, NND_ERR_INVALID_ARGUMENT, "every symbol needs a value between 1 and %lld",
                    (long long)MAX_SYMBOL_VALUE);
    for (size_t i = 0; i < m->noutputs; i++) {
        int64_t dims[NND_MAX_RANK], numel;
        if (!eval_shape(&m->outputs[i], syms, dims, &numel))
            return fail(c, NND_ERR_SHAPE, "these symbol values make tensors too large");
    }
    return grow_workspace(c, syms, workspace_need(c, split_slices(c, syms), syms));
}

/* Splits the batch between the threads: slice t gets rows [n*t/T, n*(t+1)/T) with its own
 * symbol values. Returns the number of slices (1: no split). */
static int split_slices(nnd_context *c, const int64_t *syms) {
    const nnd_model *m = c->model;
    if (m->threads <= 1 || m->split_sym < 0)
        return 1;
    int64_t n = syms[m->split_sym];
    if (n < m->threads)
        return 1; /* forward_parallel's regions split each kernel's channels instead */
    int T = m->threads;
    for (int t = 0; t < T; t++) {
        Slice *sl = &c->slices[t];
        memcpy(sl->syms, syms, sizeof sl->syms);
        sl->syms[m->split_sym] = n * (t + 1) / T - n * t / T;
        syms_derive(m->defs, (int)m->nsyms, sl->syms); /* the batch takes part in none */
    }
    return T;
}

/* Points each slice at its rows of the inputs and outputs and its part of the workspace. */
static void place_slices(nnd_context *c, int nslices, const int64_t *syms) {
    const nnd_model *m = c->model;
    int64_t n = syms[m->split_sym];
    for (int t = 0; t < nslices; t++) {
        Slice *sl = &c->slices[t];
        int64_t first = n * t / nslices; /* c->numel: this run's sizes, checked by nnd_run */
        for (size_t i = 0; i < m->ninputs; i++)
            sl->in_ptrs[i] = c->in_ptrs[i] + first * (c->numel[i] / n);
        for (size_t i = 0; i < m->noutputs; i++)
            sl->out_ptrs[i] = c->out_ptrs[i] + first * (c->numel[m->ninputs + i] / n);
        sl->workspace = (char *)c->workspace + sl->ws_offset;
    }
}

static void run_slice(void *arg, int index) {
    Slice *sl = &((Slice *)arg)[index];
    sl->model->forward(sl->in_ptrs, sl->out_ptrs, sl->syms, sl->workspace);
}

/* Binds the symbols from the input shapes and checks every input against the model. */
static nnd_status bind_inputs(nnd_context *c, const nnd_tensor *inputs, int64_t *syms) {
    const nnd_model *m = c->model;
    bool bound[MAX_SYMS] = {false};
    for (size_t i = 0; i < m->ninputs; i++) {
        const TensorDesc *t = &m->inputs[i];
        const nnd_tensor *in = &inputs[i];
        if (!in->data || (in->rank && !in->shape))
            return fail(c, NND_ERR_INVALID_ARGUMENT, "input '%s': data and shape must not be NULL",
                        t->info.name);
        if (in->rank != t->info.rank)
            return fail(c, NND_ERR_SHAPE, "input '%s' has rank %zu, the model expects %zu",
                        t->info.name, in->rank, t->info.rank);
        for (size_t d = 0; d < t->info.rank; d++) {
            Dim dim = t->dims[d];
            int64_t v = in->shape[d];
            if (dim_is_const(dim)) {
                if (v != dim.c)
                    return fail(c, NND_ERR_SHAPE,
                                "input '%s' dimension %zu is %lld, the model expects %lld",
                                t->info.name, d, (long long)v, (long long)dim.c);
                continue;
            }
            int s = 0;
            while (s < MAX_SYMS && !dim.e[s])
                s++;
            if (v < 1 || v > MAX_SYMBOL_VALUE)
                return fail(c, NND_ERR_SHAPE, "input '%s' dimension %zu (%s) is %lld; it must be "
                            "between 1 and %lld", t->info.name, d, m->syms[s], (long long)v,
                            (long long)MAX_SYMBOL_VALUE);
            if (bound[s] && syms[s] != v)
                return fail(c, NND_ERR_SHAPE,
                            "input '%s' dimension %zu is %lld, but %s is already %lld from an "
                            "earlier input", t->info.name, d, (long long)v, m->syms[s],
                            (long long)syms[s]);
            bound[s] = true;
            syms[s] = v;
        }
    }
    if (!syms_derive(m->defs, (int)m->nsyms, syms))
        return fail(c, NND_ERR_SHAPE, "the input sizes make tensors too large");
    for (size_t i = 0; i < m->ninputs; i++) {
        int64_t dims[NND_MAX_RANK], numel;
        if (!eval_shape(&m->inputs[i], syms, dims, &numel))
            return fail(c, NND_ERR_SHAPE, "input '%s' is too large", m->inputs[i].info.name);
        if ((uint64_t)numel > inputs[i].count)
            return fail(c, NND_ERR_SHAPE, "input '%s' needs %lld elements, its buffer holds %zu",
                        m->inputs[i].info.name, (long long)numel, inputs[i].count);
        c->in_ptrs[i] = inputs[i].data;
        c->numel[i] = numel;
    }
    return NND_OK;
}

static bool overlap(const float *a, int64_t na, const float *b, int64_t nb) {
    uintptr_t a0 = (uintptr_t)a, b0 = (uintptr_t)b;
    return a0 < b0 + (uintptr_t)nb * sizeof(float) && b0 < a0 + (uintptr_t)na * sizeof(float);
}

/* The kernels write outputs while they read inputs: an output may share memory with nothing
 * (inputs may share memory with each other: they are only read). */
static nnd_status check_overlaps(nnd_context *c) {
    const nnd_model *m = c->model;
    for (size_t i = 0; i < m->noutputs; i++) {
        const float *o = c->out_ptrs[i];
        int64_t n = c->numel[m->ninputs + i];
        for (size_t k = 0; k < m->ninputs; k++)
            if (overlap(o, n, c->in_ptrs[k], c->numel[k]))
                return fail(c, NND_ERR_INVALID_ARGUMENT, "output '%s' overlaps input '%s'",
                            m->outputs[i].info.name, m->inputs[k].info.name);
        for (size_t k = 0; k < i; k++)
            if (overlap(o, n, c->out_ptrs[k], c->numel[m->ninputs + k]))
                return fail(c, NND_ERR_INVALID_ARGUMENT, "outputs '%s' and '%s' overlap",
                            m->outputs[k].info.name, m->outputs[i].info.name);
    }
    return NND_OK;
}

/* The forward pass by the reference interpreter, on the bound inputs and checked outputs. */
static nnd_status run_interp(nnd_context *c, const int64_t *syms) {
    const Graph *g = c->model->comp->graph;
    if (interp_run(g, syms, c->in_ptrs, c->out_ptrs, c->error, sizeof c->error))
        return NND_OK;
    return strncmp(c->error, "out of memory", 13) == 0 ? NND_ERR_NO_MEMORY : NND_ERR_INTERNAL;
}

nnd_status nnd_run(nnd_context *c, const nnd_tensor *inputs, size_t num_inputs,
                   nnd_tensor *outputs, size_t num_outputs) {
    nnd_status st = check_context(c);
    if (st != NND_OK)
        return st;
    const nnd_model *m = c->model;
    if (num_inputs != m->ninputs || num_outputs != m->noutputs)
        return fail(c, NND_ERR_INVALID_ARGUMENT,
                    "the model takes %zu input%s and gives %zu output%s; got %zu and %zu",
                    m->ninputs, m->ninputs == 1 ? "" : "s", m->noutputs,
                    m->noutputs == 1 ? "" : "s", num_inputs, num_outputs);
    if ((m->ninputs && !inputs) || !outputs)
        return fail(c, NND_ERR_INVALID_ARGUMENT, "inputs and outputs must not be NULL");
    int64_t syms[MAX_SYMS] = {0};
    st = bind_inputs(c, inputs, syms);
    if (st != NND_OK)
        return st;
    for (size_t i = 0; i < m->noutputs; i++) {
        nnd_tensor *out = &outputs[i];
        int64_t numel;
        if (!out->data)
            return fail(c, NND_ERR_INVALID_ARGUMENT, "output '%s': data must not be NULL",
                        m->outputs[i].info.name);
        if (!eval_shape(&m->outputs[i], syms, out->out_shape, &numel))
            return fail(c, NND_ERR_SHAPE, "output '%s' is too large", m->outputs[i].info.name);
        if ((uint64_t)numel > out->count)
            return fail(c, NND_ERR_SHAPE, "output '%s' needs %lld elements, its buffer holds %zu",
                        m->outputs[i].info.name, (long long)numel, out->count);
        out->rank = m->outputs[i].info.rank;
        c->out_ptrs[i] = out->data;
        c->numel[m->ninputs + i] = numel;
    }
    st = check_overlaps(c);
    if (st != NND_OK)
        return st;
    if (m->backend == NND_BACKEND_INTERP)
        return run_interp(c, syms);
    int nslices = split_slices(c, syms);
    st = grow_workspace(c, syms, workspace_need(c, nslices, syms));
    if (st != NND_OK)
        return st;
    if (nslices <= 1) { /* with a pool, the large kernels split between its threads */
        m->parallel(c->in_ptrs, c->out_ptrs, syms, c->workspace, c->pool ? &c->runner : NULL);
        return NND_OK;
    }
    place_slices(c, nslices, syms);
    pool_run(c->pool, run_slice, c->slices, nslices);
    return NND_OK;
}
