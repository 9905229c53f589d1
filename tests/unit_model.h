/* unit_model.h: a model compiled from source text through the public API, for the suites
 * that run models (runtime, threads, memory plan).
 *
 * unit_model(src, o) compiles src (named "t.nnd", no weights directory) with options o and
 * returns the model, or NULL after printing the error to stderr. */
#ifndef NND_UNIT_MODEL_H
#define NND_UNIT_MODEL_H

#include <stdio.h>

#include "nnd.h"

static nnd_model *unit_model(const char *src, const nnd_options *o) __attribute__((unused));
static nnd_model *unit_model(const char *src, const nnd_options *o) {
    nnd_model *m = NULL;
    char *err = NULL;
    if (nnd_model_compile_string(src, "t.nnd", NULL, o, &m, &err) != NND_OK)
        fprintf(stderr, "%s", err ? err : "?");
    nnd_string_free(err);
    return m;
}

#endif
