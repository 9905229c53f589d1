/* unit_reference.h: the PyTorch reference cases of tests/ref/cases, for suites that run them.
 *
 * ref_next_case reads the MANIFEST line by line (name, rtol, atol, ops). ref_run_case compiles
 * a case's model.nnd through the public runtime with the given options (an -O level, a
 * backend), runs it on the case's inputs and compares every output with the reference:
 * the shapes must be equal and every element must satisfy |got - want| <= atol + rtol * |want|
 * (numpy.allclose), NaN matching NaN and infinities matching exactly. It returns false after
 * printing why, the message starting with the case's name and `label`. */
#ifndef NND_UNIT_REFERENCE_H
#define NND_UNIT_REFERENCE_H

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "nnd.h"
#include "npy.h"

#define REF_CASES NND_SOURCE_DIR "/tests/ref/cases"

typedef struct RefCase {
    char name[128];
    double rtol, atol;
    char ops[512];
} RefCase;

enum { REF_MAX_TENSORS = 16 };

/* The next case of the MANIFEST f; false at its end. */
static inline bool ref_next_case(FILE *f, RefCase *c) {
    char line[1024];
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "%127s %lf %lf %511s", c->name, &c->rtol, &c->atol, c->ops) == 4)
            return true;
    return false;
}

static inline bool ref_close_enough(float got, float want, double rtol, double atol) {
    if (isnan(want) || isnan(got))
        return isnan(want) && isnan(got);
    if (isinf(want) || isinf(got))
        return got == want;
    return fabs((double)got - (double)want) <= atol + rtol * fabs((double)want);
}

/* The case's tensors: inputs, references and output buffers. */
typedef struct RefData {
    size_t nin, nout;
    NpyArray in[REF_MAX_TENSORS], want[REF_MAX_TENSORS];
    nnd_tensor tin[REF_MAX_TENSORS], tout[REF_MAX_TENSORS];
} RefData;

static inline bool ref_load(const RefCase *c, const nnd_model *m, RefData *d) {
    char path[1024], msg[512];
    d->nin = nnd_model_num_inputs(m);
    d->nout = nnd_model_num_outputs(m);
    if (d->nin > REF_MAX_TENSORS || d->nout > REF_MAX_TENSORS)
        return false;
    for (size_t i = 0; i < d->nin; i++) {
        snprintf(path, sizeof path, "%s/%s/in_%s.npy", REF_CASES, c->name,
                 nnd_model_input(m, i)->name);
        if (!npy_read(path, &d->in[i], msg, sizeof msg)) {
            fprintf(stderr, "%s: %s: %s\n", c->name, path, msg);
            return false;
        }
        d->tin[i] = (nnd_tensor){d->in[i].data, (size_t)d->in[i].numel, (size_t)d->in[i].rank,
                                 d->in[i].shape, {0}};
    }
    for (size_t i = 0; i < d->nout; i++) {
        snprintf(path, sizeof path, "%s/%s/out_%s.npy", REF_CASES, c->name,
                 nnd_model_output(m, i)->name);
        if (!npy_read(path, &d->want[i], msg, sizeof msg)) {
            fprintf(stderr, "%s: %s: %s\n", c->name, path, msg);
            return false;
        }
        d->tout[i].count = (size_t)d->want[i].numel;
        d->tout[i].data = calloc((size_t)d->want[i].numel + 1, sizeof(float));
        if (!d->tout[i].data)
            return false;
    }
    return true;
}

static inline void ref_free(RefData *d) {
    for (size_t i = 0; i < REF_MAX_TENSORS; i++) {
        npy_free(&d->in[i]);
        npy_free(&d->want[i]);
        free(d->tout[i].data);
    }
}

/* Output i against its reference; false after printing the first difference. */
static inline bool ref_compare(const RefCase *c, const char *label, const nnd_model *m,
                        const RefData *d, size_t i) {
    const nnd_tensor *got = &d->tout[i];
    const NpyArray *want = &d->want[i];
    bool shape_ok = got->rank == (size_t)want->rank;
    for (size_t k = 0; shape_ok && k < got->rank; k++)
        shape_ok = got->out_shape[k] == want->shape[k];
    if (!shape_ok) {
        fprintf(stderr, "%s %s: output %zu has the wrong shape\n", c->name, label, i);
        return false;
    }
    int64_t bad = 0, first = -1;
    for (int64_t k = 0; k < want->numel; k++)
        if (!ref_close_enough(got->data[k], want->data[k], c->rtol, c->atol) && bad++ == 0)
            first = k;
    if (bad)
        fprintf(stderr, "%s %s: output '%s': %lld of %lld elements differ; first at %lld: "
                "got %.9g, want %.9g\n", c->name, label, nnd_model_output(m, i)->name,
                (long long)bad, (long long)want->numel, (long long)first, got->data[first],
                want->data[first]);
    return bad == 0;
}

/* Compiles and runs case c with options o; false (after printing why) on any mismatch. */
static inline bool ref_run_case(const RefCase *c, const nnd_options *o, const char *label) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s/model.nnd", REF_CASES, c->name);
    nnd_model *m;
    char *err;
    if (nnd_model_compile_file(path, o, &m, &err) != NND_OK) {
        fprintf(stderr, "%s %s: compile failed:\n%s", c->name, label, err);
        nnd_string_free(err);
        return false;
    }
    RefData d = {0};
    bool ok = ref_load(c, m, &d);
    nnd_context *ctx = NULL;
    if (ok && (nnd_context_create(m, &ctx) != NND_OK ||
               nnd_run(ctx, d.tin, d.nin, d.tout, d.nout) != NND_OK)) {
        fprintf(stderr, "%s %s: run failed: %s\n", c->name, label, nnd_context_error(ctx));
        ok = false;
    }
    for (size_t i = 0; ok && i < d.nout; i++)
        ok = ref_compare(c, label, m, &d, i);
    ref_free(&d);
    nnd_context_destroy(ctx);
    nnd_model_destroy(m);
    return ok;
}

#endif
