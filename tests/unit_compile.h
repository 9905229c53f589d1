/* unit_compile.h: a model from source text, for suites that test passes on real graphs.
 *
 * unit_compile(src) runs the pipeline on src (named "t.nnd") up to STAGE_WEIGHTS with
 * parameters from --init random:0 (unit_compile_to: up to any stage, any seed;
 * unit_compile_with: a compilation from unit_source or a file, any options), failing the
 * test (and printing the diagnostics) if the model does not compile. Free the result with
 * compilation_free. unit_jit JIT-compiles an optimized compilation to its entry points,
 * failing the test when it cannot (release the result with jit_dispose). */
#ifndef NND_UNIT_COMPILE_H
#define NND_UNIT_COMPILE_H

#include <CUnit/CUnit.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"
#include "jit.h"

/* A new compilation of src, named "t.nnd". */
static Compilation *unit_source(const char *src) __attribute__((unused));
static Compilation *unit_source(const char *src) {
    Compilation *c = compilation_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    compile_set_source(c, "t.nnd", src, strlen(src));
    return c;
}

/* c compiled up to `stage` with options o. */
static Compilation *unit_compile_with(Compilation *c, Stage stage, const CompileOptions *o)
    __attribute__((unused));
static Compilation *unit_compile_with(Compilation *c, Stage stage, const CompileOptions *o) {
    bool ok = compile_to(c, stage, o);
    if (!ok)
        fprintf(stderr, "\n%s", diag_text(c->diag));
    CU_ASSERT_FATAL(ok);
    return c;
}

/* src compiled up to `stage` with parameters from --init random:seed. */
static Compilation *unit_compile_to(const char *src, Stage stage, uint64_t seed)
    __attribute__((unused));
static Compilation *unit_compile_to(const char *src, Stage stage, uint64_t seed) {
    CompileOptions o;
    compile_options_init(&o);
    o.init_random = true;
    o.seed = seed;
    return unit_compile_with(unit_source(src), stage, &o);
}

static Compilation *unit_compile(const char *src) __attribute__((unused));
static Compilation *unit_compile(const char *src) { return unit_compile_to(src, STAGE_WEIGHTS, 0); }

static Jit *unit_jit(Compilation *c, int opt_level, CgForwardFn *forward, CgWorkspaceFn *wsize)
    __attribute__((unused));
static Jit *unit_jit(Compilation *c, int opt_level, CgForwardFn *forward, CgWorkspaceFn *wsize) {
    char *err = NULL;
    Jit *j = compile_jit(c, opt_level, 0, forward, NULL, wsize, &err);
    if (!j)
        fprintf(stderr, "\nJIT: %s\n", err ? err : "?");
    free(err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    return j;
}

#endif
