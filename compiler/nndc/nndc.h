/* nndc.h: the command-line driver's shared pieces (SPEC section 4).
 *
 * Exit statuses: 0 success, 1 errors in the user's model, weights or tensors, 2 usage
 * errors, 3 internal errors. Each command is a file: check.c, emit.c, run.c, bench.c, build.c. */
#ifndef NND_NNDC_H
#define NND_NNDC_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "compile.h"

enum { EXIT_OK = 0, EXIT_USER = 1, EXIT_USAGE = 2, EXIT_INTERNAL = 3 };

/* Options every command takes, plus the per-command ones collected by the parser. */
typedef struct Options {
    const char *model;
    const char *stage;          /* emit */
    const char *output;         /* -o */
    int opt_level;
    bool init_random;
    uint64_t seed;
    const char *cpu;
    const char *after;          /* emit opt --after PASS */
    /* build */
    const char *header, *shared, *name, *target; /* --header, --shared, --name, --target */
    int batch, threads, iterations;
    /* run */
    const char *inputs[64], *outputs[64]; /* NAME=FILE */
    int ninputs, noutputs;
    int backend;                /* --backend jit|interp: an nnd_backend */
} Options;

/* Parses argv (after the command word). Prints a usage error and returns false. */
bool options_parse(const char *command, int argc, char **argv, Options *o);
void options_to_compile(const Options *o, CompileOptions *co);
/* The same options for the public runtime (run and bench compile through nnd.h). */
struct nnd_options;
void options_to_runtime(const Options *o, struct nnd_options *ro);
/* Prints the diagnostics and returns the exit status a failed compilation means. */
int report_failure(Compilation *c);
/* o->model compiled up to stage with co; NULL after printing why, with *status set to the
 * exit status (the compilation is freed then). */
Compilation *compile_model(const Options *o, const CompileOptions *co, Stage stage, int *status);
/* Opens -o FILE (or stdout); NULL after printing why. */
FILE *open_output(const char *path);
void close_output(FILE *f);

int cmd_check(const Options *o);
int cmd_emit(const Options *o);
int cmd_run(const Options *o);
int cmd_bench(const Options *o);
int cmd_import(const Options *o);
int cmd_build(const Options *o);

#endif
