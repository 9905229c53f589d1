/* aot_threads.c: the optional threaded entry point of an AOT header (see aot_header.h).
 *
 * When the model's batch can be split (batch_split.h), the header gets, behind
 * `#ifdef PREFIX_THREADS`, static functions built on POSIX threads: PREFIX_forward_threads
 * runs PREFIX_forward once per slice of the batch, each slice on its own thread with its own
 * rows of every input and output and its own part of the workspace, and
 * PREFIX_workspace_size_threads says how much workspace that takes. The per-sample sizes
 * of the tensors are written out as C expressions in the symbols, derived symbols computed
 * as the generated code computes them. Without the macro the header stays free of
 * <pthread.h>. */
#include "aot_header.h"
#include "batch_split.h"

/* d as a C expression over s[] (the symbol values): "(int64_t)64 * s[1]". */
static void write_dim(FILE *out, Dim d) {
    fprintf(out, "(int64_t)%lld", (long long)d.c);
    for (int k = 0; k < MAX_SYMS; k++)
        for (int e = 0; e < d.e[k]; e++)
            fprintf(out, " * s[%d]", k);
}

/* The elements of one sample of t (every dimension but the first). */
static void write_sample_size(FILE *out, const Node *t) {
    fprintf(out, "(int64_t)1");
    for (int k = 1; k < t->shape.rank; k++) {
        fprintf(out, " * (");
        write_dim(out, t->shape.d[k]);
        fprintf(out, ")");
    }
}

static void write_helpers(FILE *out, const Graph *g, const char *p) {
    fprintf(out, "/* s: the symbol values, derived ones filled as %s_forward computes them. */\n"
                 "static inline void %s_threads_symbols_(const int64_t *symbols, int64_t *s) {\n",
            p, p);
    for (int k = 0; k < g->nsyms; k++) {
        const SymDef *def = &g->sym_def[k];
        if (!def->derived) {
            fprintf(out, "    s[%d] = symbols[%d];\n", k, k);
            continue;
        }
        fprintf(out, "    s[%d] = ", k);
        write_dim(out, def->a);
        fprintf(out, " + ");
        write_dim(out, def->b);
        fprintf(out, ";\n");
    }
    fprintf(out, "}\n\n");
    const char *kinds[2] = {"in", "out"};
    for (int io = 0; io < 2; io++) {
        int n = io ? g->noutputs : g->ninputs;
        fprintf(out, "static inline int64_t %s_%s_sample_(int i, const int64_t *s) {\n"
                     "    (void)s;\n    switch (i) {\n", p, kinds[io]);
        for (int i = 0; i < n; i++) {
            fprintf(out, "    case %d: return ", i);
            write_sample_size(out, io ? g->outputs[i] : g->inputs[i]);
            fprintf(out, ";\n");
        }
        fprintf(out, "    }\n    return 0;\n}\n\n");
    }
}

static void write_entry_points(FILE *out, const char *p, int batch) {
    fprintf(out,
            "enum { %s_MAX_THREADS = 64 };\n\n"
            "typedef struct %s_slice_ {\n"
            "    const float *in[%s_NUM_INPUTS + 1];\n"
            "    float *out[%s_NUM_OUTPUTS + 1];\n"
            "    int64_t s[%s_NUM_SYMBOLS + 1];\n"
            "    void *workspace;\n"
            "} %s_slice_;\n\n",
            p, p, p, p, p, p);
    fprintf(out,
            "/* Slice t of T: its symbol values (the batch is its row count). */\n"
            "static inline void %s_slice_symbols_(const int64_t *symbols, int t, int T, int64_t *s) {\n"
            "    int64_t all[%s_NUM_SYMBOLS + 1];\n"
            "    %s_threads_symbols_(symbols, all);\n"
            "    int64_t n = all[%d];\n"
            "    %s_threads_symbols_(symbols, s);\n"
            "    s[%d] = n * (t + 1) / T - n * t / T;\n"
            "}\n\n",
            p, p, p, batch, p, batch);
    fprintf(out,
            "static inline int %s_thread_count_(const int64_t *symbols, int threads) {\n"
            "    int64_t n = symbols[%d];\n"
            "    int T = threads < 1 ? 1 : threads > %s_MAX_THREADS ? %s_MAX_THREADS : threads;\n"
            "    return n < T ? (n < 1 ? 1 : (int)n) : T;\n"
            "}\n\n",
            p, batch, p, p);
    fprintf(out,
            "/* The bytes of workspace %s_forward_threads needs with `threads` threads. */\n"
            "static inline int64_t %s_workspace_size_threads(const int64_t *symbols, int threads) {\n"
            "    int T = %s_thread_count_(symbols, threads);\n"
            "    int64_t total = 0, s[%s_NUM_SYMBOLS + 1];\n"
            "    for (int t = 0; t < T; t++) {\n"
            "        %s_slice_symbols_(symbols, t, T, s);\n"
            "        total += (%s_workspace_size(s) + 63) / 64 * 64;\n"
            "    }\n"
            "    return total;\n"
            "}\n\n",
            p, p, p, p, p, p);
    fprintf(out,
            "static inline void *%s_slice_run_(void *arg) {\n"
            "    %s_slice_ *sl = (%s_slice_ *)arg;\n"
            "    %s_forward(sl->in, sl->out, sl->s, sl->workspace);\n"
            "    return NULL;\n"
            "}\n\n",
            p, p, p, p);
    fprintf(out,
            "/* %s_forward with the batch split between up to `threads` threads (at most\n"
            " * %s_MAX_THREADS; never more than the batch), created and joined in this call.\n"
            " * The workspace holds %s_workspace_size_threads(symbols, threads) bytes, 64-byte\n"
            " * aligned. The outputs are bit-identical to %s_forward's. Returns 0, or -1 when a\n"
            " * thread could not be created; its rows then ran on the calling thread, so the\n"
            " * outputs are complete either way. */\n"
            "static inline int %s_forward_threads(const float *const *inputs, float *const *outputs,\n"
            "                                     const int64_t *symbols, void *workspace, int threads) {\n"
            "    int T = %s_thread_count_(symbols, threads), status = 0;\n"
            "    int64_t all[%s_NUM_SYMBOLS + 1], first = 0, offset = 0;\n"
            "    %s_threads_symbols_(symbols, all);\n"
            "    %s_slice_ sl[%s_MAX_THREADS];\n"
            "    pthread_t th[%s_MAX_THREADS];\n"
            "    int started[%s_MAX_THREADS] = {0};\n"
            "    for (int t = 0; t < T; t++) {\n"
            "        %s_slice_symbols_(symbols, t, T, sl[t].s);\n"
            "        for (int i = 0; i < %s_NUM_INPUTS; i++)\n"
            "            sl[t].in[i] = inputs[i] + first * %s_in_sample_(i, all);\n"
            "        for (int i = 0; i < %s_NUM_OUTPUTS; i++)\n"
            "            sl[t].out[i] = outputs[i] + first * %s_out_sample_(i, all);\n"
            "        sl[t].workspace = (char *)workspace + offset;\n"
            "        first += sl[t].s[%d];\n"
            "        offset += (%s_workspace_size(sl[t].s) + 63) / 64 * 64;\n"
            "    }\n"
            "    for (int t = 1; t < T; t++)\n"
            "        started[t] = pthread_create(&th[t], NULL, %s_slice_run_, &sl[t]) == 0;\n"
            "    %s_slice_run_(&sl[0]);\n"
            "    for (int t = 1; t < T; t++) {\n"
            "        if (started[t]) {\n"
            "            pthread_join(th[t], NULL);\n"
            "        } else {\n"
            "            %s_slice_run_(&sl[t]);\n"
            "            status = -1;\n"
            "        }\n"
            "    }\n"
            "    return status;\n"
            "}\n",
            p, p, p, p, p, p, p, p, p, p, p, p, p, p, p, p, p, batch, p, p, p, p);
}

void aot_write_threads(FILE *out, const Graph *g, const char *prefix) {
    int batch = graph_batch_symbol(g);
    if (batch < 0) {
        fprintf(out, "\n/* Threads: this model mixes the samples of its batch (or has no batch), so\n"
                     " * it has no threaded entry point: call %s_forward. */\n"
                     "#define %s_BATCH_SYMBOL (-1)\n", prefix, prefix);
        return;
    }
    fprintf(out,
            "\n/* Threads (optional). symbols[%d] is the batch: each sample's outputs depend on\n"
            " * that sample alone, so the batch may be split between threads with results\n"
            " * bit-identical to %s_forward's. Define %s_THREADS before including this header\n"
            " * for %s_forward_threads and %s_workspace_size_threads (static functions on POSIX\n"
            " * threads: link with -pthread). */\n"
            "#define %s_BATCH_SYMBOL %d\n"
            "#ifdef %s_THREADS\n#include <pthread.h>\n\n",
            batch, prefix, prefix, prefix, prefix, prefix, batch, prefix);
    write_helpers(out, g, prefix);
    write_entry_points(out, prefix, batch);
    fprintf(out, "#endif /* %s_THREADS */\n", prefix);
}
