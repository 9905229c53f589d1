/* run.c: `nndc run MODEL --input NAME=FILE.npy ... [--output NAME=FILE.npy ...]
 * [--backend jit|interp]`.
 *
 * Compiles through the public runtime (nnd.h), as a host program would, for the backend
 * asked for (the JIT, or the reference interpreter); reads every input from .npy (f32, or
 * f64 converted), runs, and writes each output named with --output to its file and prints
 * the others. A missing or unknown input, an .npy of the wrong shape or dtype, and an
 * unreadable file are user errors (exit 1). */
#include <stdlib.h>
#include <string.h>

#include "nnd.h"
#include "nndc.h"
#include "npy.h"

/* Splits "NAME=FILE" (validated by the option parser) into its parts. */
static void split(const char *arg, char *name, size_t cap, const char **file) {
    const char *eq = strchr(arg, '=');
    size_t n = (size_t)(eq - arg) < cap - 1 ? (size_t)(eq - arg) : cap - 1;
    memcpy(name, arg, n);
    name[n] = 0;
    *file = eq + 1;
}

static void print_tensor(const char *name, const nnd_tensor *t) {
    printf("%s [", name);
    size_t row = t->rank ? (size_t)t->out_shape[t->rank - 1] : 1, total = 1;
    for (size_t i = 0; i < t->rank; i++) {
        printf("%s%lld", i ? ", " : "", (long long)t->out_shape[i]);
        total *= (size_t)t->out_shape[i];
    }
    printf("]\n");
    for (size_t i = 0; i < total; i++)
        printf("%s%.7g%s", i % row ? " " : "", t->data[i], (i + 1) % row ? "" : "\n");
}

static int status_exit(nnd_status st) {
    switch (st) {
    case NND_OK: return EXIT_OK;
    case NND_ERR_INTERNAL:
    case NND_ERR_NO_MEMORY: return EXIT_INTERNAL;
    default: return EXIT_USER;
    }
}

int cmd_run(const Options *o) {
    nnd_options opt;
    options_to_runtime(o, &opt);
    nnd_model *m = NULL;
    char *err = NULL;
    nnd_status st = nnd_model_compile_file(o->model, &opt, &m, &err);
    if (st != NND_OK) {
        fputs(err ? err : "compilation failed\n", stderr);
        nnd_string_free(err);
        return status_exit(st);
    }
    size_t nin = nnd_model_num_inputs(m), nout = nnd_model_num_outputs(m);
    NpyArray *arrays = calloc(nin + 1, sizeof(NpyArray));
    nnd_tensor *ins = calloc(nin + 1, sizeof(nnd_tensor));
    nnd_tensor *outs = calloc(nout + 1, sizeof(nnd_tensor));
    const char **out_files = calloc(nout + 1, sizeof(char *));
    int status = arrays && ins && outs && out_files ? EXIT_OK : EXIT_INTERNAL;

    for (int i = 0; status == EXIT_OK && i < o->ninputs; i++) {
        char name[256], msg[512];
        const char *file;
        split(o->inputs[i], name, sizeof name, &file);
        int k = nnd_model_input_index(m, name);
        if (k < 0) {
            fprintf(stderr, "nndc: error: the model has no input '%s'\n", name);
            status = EXIT_USER;
        } else if (ins[k].data) {
            fprintf(stderr, "nndc: error: input '%s' is given twice\n", name);
            status = EXIT_USER;
        } else if (!npy_read(file, &arrays[k], msg, sizeof msg)) {
            fprintf(stderr, "%s: error: %s\n", file, msg);
            status = EXIT_USER;
        } else {
            ins[k] = (nnd_tensor){.data = arrays[k].data, .count = (size_t)arrays[k].numel,
                                  .rank = (size_t)arrays[k].rank, .shape = arrays[k].shape};
        }
    }
    for (size_t k = 0; status == EXIT_OK && k < nin; k++)
        if (!ins[k].data) {
            fprintf(stderr, "nndc: error: missing input '%s' (--input %s=FILE.npy)\n",
                    nnd_model_input(m, k)->name, nnd_model_input(m, k)->name);
            status = EXIT_USER;
        }
    for (int i = 0; status == EXIT_OK && i < o->noutputs; i++) {
        char name[256];
        const char *file;
        split(o->outputs[i], name, sizeof name, &file);
        int k = nnd_model_output_index(m, name);
        if (k < 0) {
            fprintf(stderr, "nndc: error: the model has no output '%s'\n", name);
            status = EXIT_USER;
        } else {
            out_files[k] = file;
        }
    }
    nnd_context *ctx = NULL;
    if (status == EXIT_OK && nnd_context_create(m, &ctx) != NND_OK)
        status = EXIT_INTERNAL;
    /* Output sizes follow from the symbols, which the inputs bind: a first run with empty
     * outputs would fail, so the shapes are computed from the input shapes directly. */
    int64_t syms[16] = {0};
    for (size_t k = 0; status == EXIT_OK && k < nin; k++) {
        const nnd_tensor_info *info = nnd_model_input(m, k);
        for (size_t d = 0; d < info->rank && d < (size_t)arrays[k].rank; d++)
            for (size_t s = 0; s < nnd_model_num_symbols(m); s++)
                if (info->dim_names[d] && strcmp(info->dim_names[d], nnd_model_symbol(m, s)) == 0)
                    syms[s] = arrays[k].shape[d];
    }
    for (size_t k = 0; status == EXIT_OK && k < nout; k++) {
        int64_t dims[NND_MAX_RANK];
        size_t total = 1;
        if (nnd_model_output_shape(m, k, syms, dims) == NND_OK)
            for (size_t d = 0; d < nnd_model_output(m, k)->rank; d++)
                total *= (size_t)dims[d];
        outs[k].data = malloc(total * sizeof(float) + 1);
        outs[k].count = total;
        if (!outs[k].data)
            status = EXIT_INTERNAL;
    }
    if (status == EXIT_OK) {
        st = nnd_run(ctx, ins, nin, outs, nout);
        if (st != NND_OK) {
            fprintf(stderr, "%s: error: %s\n", o->model, nnd_context_error(ctx));
            status = status_exit(st);
        }
    }
    for (size_t k = 0; status == EXIT_OK && k < nout; k++) {
        const char *name = nnd_model_output(m, k)->name;
        char msg[512];
        if (!out_files[k]) {
            print_tensor(name, &outs[k]);
        } else if (!npy_write(out_files[k], (int)outs[k].rank, outs[k].out_shape, outs[k].data, msg,
                              sizeof msg)) {
            fprintf(stderr, "%s: error: %s\n", out_files[k], msg);
            status = EXIT_USER;
        }
    }
    for (size_t k = 0; outs && k < nout; k++)
        free(outs[k].data);
    for (size_t k = 0; arrays && k < nin; k++)
        npy_free(&arrays[k]);
    free(arrays);
    free(ins);
    free(outs);
    free(out_files);
    nnd_context_destroy(ctx);
    nnd_model_destroy(m);
    return status;
}
