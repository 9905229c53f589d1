/* peer.c: the line protocol of peer.h and the reader of NAME.layers / NAME.params. */
#define _POSIX_C_SOURCE 200809L
#include "peer.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int fail(char *err, size_t len, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
    return -1;
}

static int parse_layer(const char *line, Layer *l) {
    char kind[32] = "";
    memset(l, 0, sizeof *l);
    if (sscanf(line, "%31s", kind) != 1)
        return -1;
    if (strcmp(kind, "input") == 0) {
        l->kind = L_INPUT;
        l->out_h = l->out_w = 1;
        int n = sscanf(line, "%*s %d %d %d", &l->out_c, &l->out_h, &l->out_w);
        l->out_flat = n == 1;
        return n == 1 || n == 3 ? 0 : -1;
    }
    if (strcmp(kind, "dense") == 0) {
        l->kind = L_DENSE;
        return sscanf(line, "%*s %31s %d", l->name, &l->units) == 2 ? 0 : -1;
    }
    if (strcmp(kind, "conv") == 0) {
        l->kind = L_CONV;
        return sscanf(line, "%*s %31s %d %d %d", l->name, &l->units, &l->kernel, &l->padding) == 4
                   ? 0 : -1;
    }
    if (strcmp(kind, "maxpool") == 0) {
        l->kind = L_MAXPOOL;
        return sscanf(line, "%*s %d", &l->kernel) == 1 ? 0 : -1;
    }
    static const struct { const char *s; LayerKind k; } plain[] = {
        {"relu", L_RELU}, {"softmax", L_SOFTMAX}, {"flatten", L_FLATTEN},
        {"save", L_SAVE}, {"add_saved", L_ADD_SAVED}};
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
        if (strcmp(kind, plain[i].s) == 0) {
            l->kind = plain[i].k;
            return 0;
        }
    return -1;
}

/* Fills in each layer's input and output shapes and its parameter count. */
static size_t shape_layer(Layer *l, const Layer *prev) {
    l->in_c = prev->out_c, l->in_h = prev->out_h, l->in_w = prev->out_w;
    l->in_flat = prev->out_flat;
    l->out_c = l->in_c, l->out_h = l->in_h, l->out_w = l->in_w, l->out_flat = l->in_flat;
    size_t k = (size_t)l->in_c * (size_t)l->in_h * (size_t)l->in_w;
    switch (l->kind) {
    case L_DENSE:
        l->out_c = l->units, l->out_h = l->out_w = 1, l->out_flat = 1;
        return k * (size_t)l->units + (size_t)l->units;
    case L_CONV:
        l->out_c = l->units;
        l->out_h = l->in_h + 2 * l->padding - l->kernel + 1;
        l->out_w = l->in_w + 2 * l->padding - l->kernel + 1;
        return (size_t)l->units * (size_t)l->in_c * (size_t)(l->kernel * l->kernel) +
               (size_t)l->units;
    case L_MAXPOOL:
        l->out_h = l->in_h / l->kernel, l->out_w = l->in_w / l->kernel;
        return 0;
    case L_FLATTEN:
        l->out_c = (int)k, l->out_h = l->out_w = 1, l->out_flat = 1;
        return 0;
    default: return 0;
    }
}

int peer_model_read(const char *dir, const char *name, PeerModel *m, char *err, size_t errlen) {
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", name);
    char path[4096], line[256];
    snprintf(path, sizeof path, "%s/%s.layers", dir, name);
    FILE *f = fopen(path, "r");
    if (!f)
        return fail(err, errlen, "cannot open %s", path);
    size_t nparams = 0;
    while (fgets(line, sizeof line, f)) {
        if (m->nlayers == PEER_MAX_LAYERS || parse_layer(line, &m->layers[m->nlayers]) != 0) {
            fclose(f);
            return fail(err, errlen, "%s: bad layer line '%s'", path, strtok(line, "\n"));
        }
        Layer *l = &m->layers[m->nlayers];
        if ((m->nlayers == 0) != (l->kind == L_INPUT)) {
            fclose(f);
            return fail(err, errlen, "%s: the first line, and only it, is 'input'", path);
        }
        if (m->nlayers > 0)
            nparams += shape_layer(l, &m->layers[m->nlayers - 1]);
        m->nlayers++;
    }
    fclose(f);
    if (m->nlayers < 2)
        return fail(err, errlen, "%s: no layers", path);
    const Layer *first = &m->layers[0], *last = &m->layers[m->nlayers - 1];
    m->in_elems = (size_t)first->out_c * (size_t)first->out_h * (size_t)first->out_w;
    m->out_elems = (size_t)last->out_c * (size_t)last->out_h * (size_t)last->out_w;

    snprintf(path, sizeof path, "%s/%s.params", dir, name);
    f = fopen(path, "rb");
    if (!f)
        return fail(err, errlen, "cannot open %s", path);
    m->params = malloc(nparams * sizeof(float) + 1);
    size_t got = m->params ? fread(m->params, sizeof(float), nparams, f) : 0;
    int extra = fgetc(f) != EOF;
    fclose(f);
    if (got != nparams || extra)
        return fail(err, errlen, "%s: expected exactly %zu floats", path, nparams);
    const float *p = m->params;
    for (int i = 1; i < m->nlayers; i++) {
        Layer *l = &m->layers[i];
        if (l->kind != L_DENSE && l->kind != L_CONV)
            continue;
        size_t n = shape_layer(l, &m->layers[i - 1]);
        l->weight = p;
        l->bias = p + n - (size_t)l->units;
        p += n;
    }
    return 0;
}

void peer_model_free(PeerModel *m) {
    free(m->params);
    m->params = NULL;
}

static float *read_f32(const char *path, size_t n) {
    FILE *f = fopen(path, "rb");
    float *p = f ? malloc(n * sizeof(float) + 1) : NULL;
    size_t got = p ? fread(p, sizeof(float), n, f) : 0;
    int extra = f ? fgetc(f) != EOF : 1;
    if (f)
        fclose(f);
    if (got != n || extra) {
        free(p);
        return NULL;
    }
    return p;
}

static int write_f32(const char *path, const float *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t put = fwrite(p, sizeof(float), n, f);
    return fclose(f) == 0 && put == n ? 0 : -1;
}

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* One reply line; flushed at once since the driver waits for it. */
static void reply(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

int peer_main_named(const PeerNamedOps *ops) {
    char line[8192], msg[1024];
    float *in = NULL, *out = NULL;
    size_t in_n = 0, out_n = 0;
    int loaded = 0, have_input = 0;
    while (fgets(line, sizeof line, stdin)) {
        char cmd[32] = "", a[4096] = "", b[4096] = "";
        int batch = 0, threads = 0;
        long calls = 0, warmup = 0;
        line[strcspn(line, "\n")] = 0;
        sscanf(line, "%31s", cmd);
        msg[0] = 0;
        if (strcmp(cmd, "quit") == 0)
            break;
        if (strcmp(cmd, "info") == 0) {
            reply("ok %s", ops->info());
        } else if (strcmp(cmd, "load") == 0 &&
                   sscanf(line, "%*s %4095s %d %d", a, &batch, &threads) == 3 && batch > 0) {
            size_t ie = 0, oe = 0;
            free(in), free(out);
            in = out = NULL;
            loaded = have_input = 0;
            if (ops->load(a, batch, threads, &ie, &oe, msg, sizeof msg) != 0) {
                reply("error %s", msg);
                continue;
            }
            in_n = ie * (size_t)batch, out_n = oe * (size_t)batch;
            out = calloc(out_n, sizeof(float));
            loaded = out != NULL;
            reply(loaded ? "ok %s" : "error out of memory", msg);
        } else if (strcmp(cmd, "run") == 0 && sscanf(line, "%*s %4095s %4095s", a, b) == 2) {
            if (!loaded) {
                reply("error run before load");
                continue;
            }
            free(in);
            if (!(in = read_f32(a, in_n))) {
                have_input = 0;
                reply("error %s: cannot read exactly %zu floats", a, in_n);
            } else if (ops->run(in, out, msg, sizeof msg) != 0) {
                have_input = 0;
                reply("error %s", msg);
            } else {
                have_input = 1;
                reply(write_f32(b, out, out_n) == 0 ? "ok" : "error cannot write %s", b);
            }
        } else if (strcmp(cmd, "time") == 0 &&
                   sscanf(line, "%*s %ld %ld", &calls, &warmup) >= 1 && calls > 0 &&
                   calls <= 1000000 && warmup >= 0 && warmup <= 1000000) {
            if (!have_input) {
                reply("error time before a successful run");
                continue;
            }
            int64_t *t = malloc(sizeof(int64_t) * (size_t)calls);
            int ok = t != NULL;
            for (long i = 0; ok && i < warmup; i++)
                ok = ops->run(in, out, msg, sizeof msg) == 0;
            for (long i = 0; ok && i < calls; i++) {
                int64_t t0 = now_ns();
                ok = ops->run(in, out, msg, sizeof msg) == 0;
                t[i] = now_ns() - t0;
            }
            if (!ok) {
                reply("error %s", t ? msg : "out of memory");
            } else {
                fputs("ok", stdout);
                for (long i = 0; i < calls; i++)
                    printf(" %lld", (long long)t[i]);
                reply("");
            }
            free(t);
        } else {
            reply("error bad command '%s'", line);
        }
    }
    free(in), free(out);
    return 0;
}

/* peer_main: the named loop over a PeerModel read from the folder in argv[1]. */
static const PeerOps *model_ops;
static const char *model_dir;
static PeerModel current;

static int load_model(const char *model, int batch, int threads, size_t *in_elems,
                      size_t *out_elems, char *msg, size_t len) {
    if (strcmp(current.name, model) != 0 || !current.params) {
        peer_model_free(&current);
        if (peer_model_read(model_dir, model, &current, msg, len) != 0) {
            current.name[0] = 0;
            return -1;
        }
    }
    *in_elems = current.in_elems, *out_elems = current.out_elems;
    return model_ops->load(&current, batch, threads, msg, len);
}

int peer_main(int argc, char **argv, const PeerOps *ops) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s MODELS_DIR  (then the protocol of bench/peers/peer.h)\n",
                argv[0]);
        return 2;
    }
    model_ops = ops, model_dir = argv[1];
    PeerNamedOps named = {ops->info, load_model, ops->run};
    int rc = peer_main_named(&named);
    peer_model_free(&current);
    return rc;
}
