/* options.c: nndc's command-line options and the helpers every command shares. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nnd.h"
#include "nndc.h"

static bool bad(const char *fmt, const char *arg) {
    fprintf(stderr, "nndc: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'nndc --help'.\n");
    return false;
}

static bool parse_int(const char *s, long lo, long hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return false;
    *out = (int)v;
    return true;
}

/* The value of an option that takes one: the next argument. */
static const char *value(int argc, char **argv, int *i) {
    if (*i + 1 >= argc)
        return NULL;
    return argv[++*i];
}

bool options_parse(const char *command, int argc, char **argv, Options *o) {
    memset(o, 0, sizeof *o);
    o->opt_level = 2;
    o->batch = 1;
    o->threads = 1;
    bool is_emit = strcmp(command, "emit") == 0;
    bool is_run = strcmp(command, "run") == 0;
    bool is_bench = strcmp(command, "bench") == 0;
    bool is_build = strcmp(command, "build") == 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v;
        if (strlen(a) == 3 && a[0] == '-' && a[1] == 'O' && a[2] >= '0' && a[2] <= '3') {
            o->opt_level = a[2] - '0';
        } else if (strcmp(a, "--init") == 0) {
            if (!(v = value(argc, argv, &i)))
                return bad("%s needs a value (random:SEED)", a);
            char *end;
            errno = 0;
            if (strncmp(v, "random:", 7) != 0 || !v[7] ||
                ((o->seed = strtoull(v + 7, &end, 10)), errno || *end))
                return bad("--init takes random:SEED with a decimal SEED, not '%s'", v);
            o->init_random = true;
        } else if (strcmp(a, "-o") == 0) {
            if (!(v = value(argc, argv, &i)))
                return bad("%s needs a file name", a);
            o->output = v;
        } else if (strcmp(a, "--cpu") == 0) {
            if (!(v = value(argc, argv, &i)))
                return bad("%s needs a CPU name", a);
            o->cpu = v;
        } else if (is_run && (strcmp(a, "--input") == 0 || strcmp(a, "--output") == 0)) {
            bool in = a[2] == 'i';
            if (!(v = value(argc, argv, &i)) || !strchr(v, '=') || v[0] == '=')
                return bad("%s takes NAME=FILE.npy", a);
            if ((in ? o->ninputs : o->noutputs) == 64)
                return bad("too many %s options (64 at most)", a);
            if (in)
                o->inputs[o->ninputs++] = v;
            else
                o->outputs[o->noutputs++] = v;
        } else if (is_run && strcmp(a, "--backend") == 0) {
            if (!(v = value(argc, argv, &i)) ||
                (strcmp(v, "jit") != 0 && strcmp(v, "interp") != 0))
                return bad("--backend takes jit or interp, not '%s'", v ? v : "");
            o->backend = strcmp(v, "interp") == 0 ? NND_BACKEND_INTERP : NND_BACKEND_JIT;
        } else if (is_build && (strcmp(a, "--header") == 0 || strcmp(a, "--shared") == 0)) {
            if (!(v = value(argc, argv, &i)) || !*v)
                return bad("%s needs a file name", a);
            *(a[2] == 'h' ? &o->header : &o->shared) = v;
        } else if (is_build && strcmp(a, "--name") == 0) {
            if (!(v = value(argc, argv, &i)))
                return bad("%s needs a C identifier", a);
            o->name = v;
        } else if (is_build && strcmp(a, "--target") == 0) {
            if (!(v = value(argc, argv, &i)) || !*v)
                return bad("%s needs a target triple", a);
            o->target = v;
        } else if (is_emit && strcmp(a, "--after") == 0) {
            if (!(v = value(argc, argv, &i)))
                return bad("%s needs a pass name", a);
            o->after = v;
        } else if ((is_bench || is_emit) && strcmp(a, "--batch") == 0) {
            if (!(v = value(argc, argv, &i)) || !parse_int(v, 1, 1 << 20, &o->batch))
                return bad("%s takes a positive integer", a);
        } else if ((is_bench || is_run) && strcmp(a, "--threads") == 0) {
            if (!(v = value(argc, argv, &i)) || !parse_int(v, 1, NND_MAX_THREADS, &o->threads))
                return bad("%s takes an integer from 1 to 64 (NND_MAX_THREADS)", a);
        } else if (is_bench && strcmp(a, "--iterations") == 0) {
            if (!(v = value(argc, argv, &i)) || !parse_int(v, 1, 1 << 24, &o->iterations))
                return bad("%s takes a positive integer", a);
        } else if (a[0] == '-' && a[1]) {
            return bad("unknown option '%s'", a);
        } else if (is_emit && !o->stage) {
            o->stage = a;
        } else if (!o->model) {
            o->model = a;
        } else {
            return bad("unexpected argument '%s'", a);
        }
    }
    if (is_emit && !o->stage)
        return bad("%s", "emit needs a STAGE: ast, graph, opt, llvm, llvm-opt, asm or dot");
    if (!o->model)
        return bad("%s needs a MODEL file", command);
    return true;
}

void options_to_compile(const Options *o, CompileOptions *co) {
    compile_options_init(co);
    co->opt_level = o->opt_level;
    co->init_random = o->init_random;
    co->seed = o->seed;
    co->cpu = o->cpu;
    co->stop_after = o->after;
}

void options_to_runtime(const Options *o, nnd_options *ro) {
    nnd_options_init(ro);
    ro->opt_level = o->opt_level;
    ro->init_random = o->init_random;
    ro->init_seed = o->seed;
    ro->cpu = o->cpu;
    ro->threads = o->threads;
    ro->backend = o->backend;
}

int report_failure(Compilation *c) {
    if (c->out_of_memory) {
        fprintf(stderr, "nndc: out of memory\n");
        return EXIT_INTERNAL;
    }
    fputs(diag_text(c->diag), stderr);
    for (int i = 0; i < diag_count(c->diag); i++)
        if (strstr(diag_message(c->diag, i), "internal error"))
            return EXIT_INTERNAL;
    return EXIT_USER;
}

Compilation *compile_model(const Options *o, const CompileOptions *co, Stage stage, int *status) {
    Compilation *c = compilation_new();
    if (!c) {
        fprintf(stderr, "nndc: out of memory\n");
        *status = EXIT_INTERNAL;
        return NULL;
    }
    if (!compile_read_file(c, o->model) || !compile_to(c, stage, co)) {
        *status = report_failure(c);
        compilation_free(c);
        return NULL;
    }
    *status = EXIT_OK;
    return c;
}

FILE *open_output(const char *path) {
    if (!path || strcmp(path, "-") == 0)
        return stdout;
    FILE *f = fopen(path, "w");
    if (!f)
        fprintf(stderr, "nndc: cannot write '%s': %s\n", path, strerror(errno));
    return f;
}

void close_output(FILE *f) {
    if (f && f != stdout)
        fclose(f);
    else
        fflush(stdout);
}
