/* test_onnx_conformance.c: ONNX's own conformance data through the importer and the runtime.
 *
 * In: every case directory under the four directories of Debian's libonnx-testdata (node,
 * pytorch-converted, pytorch-operator, simple; NND_ONNX_TESTDATA overrides the root), each a
 * model.onnx with test_data_set_N/input_K.pb and output_K.pb (TensorProto files). Out: per
 * directory, how many cases ran, passed, failed and were skipped, with the skip reasons
 * counted, and a CUnit failure naming the case and its first mismatch for every case that
 * compiled but gives wrong answers or cannot run, or that fails to compile for any reason
 * other than an honest "not supported".
 *
 * A case is compiled through the public runtime (nnd_model_compile_file on model.onnx).
 * It is skipped, with the importer's first message as the reason, when compilation fails
 * with NND_ERR_UNSUPPORTED or with one of the importer's "cannot be expressed" messages (an
 * ONNX operator outside SPEC 1.4, a non-float dtype, a dynamic shape). When the importer
 * says an input "('NAME') must be an initializer or a constant" (weights, or a Reshape's
 * shape, Unsqueeze's axes, Clip's bounds, given as graph inputs, as ONNX's node tests
 * do), the case is imported again with those inputs bound to
 * the data set's values (onnx_import_file_bound; one import per data set), written out as
 * .nnd + .safetensors in a temporary directory, compiled and run on its other inputs, and
 * counted as run. Otherwise each data set's input_K.pb is fed to the model's K-th input (input_0 is
 * the first graph input that is not an initializer; a tensor whose name is an input's name
 * goes to that input), and each output_K.pb is compared with the K-th output the way ONNX's
 * backend tests do: shapes equal, |got - want| <= 1e-7 + 1e-3 |want| (numpy's
 * assert_allclose with rtol=1e-3, atol=1e-7), NaN matching NaN and infinities matching
 * infinities of the same sign.
 *
 * Each case runs in a child process with a time limit, so that a crash or a hang in one case
 * is reported as that case's failure and the rest still run. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nnd.h"
#include "onnx.pb-c.h"
#include "onnx_import.h"
#include "unit_harness.h"

#define DEFAULT_ROOT "/usr/share/libonnx-testdata/data"
#define RTOL 1e-3
#define ATOL 1e-7
#define CASE_SECONDS 60 /* a case still running after this long is a failure (a hang) */
#define MSG_MAX 2048

/* --- small string and directory helpers ------------------------------------------------------ */

typedef struct StrList {
    char **s;
    int n, cap;
} StrList;

static void strlist_add(StrList *l, const char *s) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->s = realloc(l->s, (size_t)l->cap * sizeof *l->s);
        if (!l->s)
            abort(); /* test code: running out of memory here is not a finding */
    }
    l->s[l->n++] = strdup(s);
}

static void strlist_free(StrList *l) {
    for (int i = 0; i < l->n; i++)
        free(l->s[i]);
    free(l->s);
    *l = (StrList){0};
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The entries of dir whose names start with prefix, sorted (false: no such directory). */
static bool list_dir(const char *dir, const char *prefix, StrList *out) {
    DIR *d = opendir(dir);
    if (!d)
        return false;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.' && strncmp(e->d_name, prefix, strlen(prefix)) == 0)
            strlist_add(out, e->d_name);
    closedir(d);
    if (out->n)
        qsort(out->s, (size_t)out->n, sizeof *out->s, cmp_str);
    return true;
}

/* out = a/b; false (and out empty) when it does not fit. */
static bool path_join(char *out, size_t cap, const char *a, const char *b) {
    int n = snprintf(out, cap, "%s/%s", a, b);
    if (n < 0 || (size_t)n >= cap) {
        out[0] = '\0';
        return false;
    }
    return true;
}

static bool is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* How many of dir/PREFIX0.pb, PREFIX1.pb, ... exist, counting up from 0. */
static int count_numbered(const char *dir, const char *prefix) {
    char path[4096];
    int n = 0;
    for (;; n++) {
        snprintf(path, sizeof path, "%s/%s%d.pb", dir, prefix, n);
        if (!is_file(path))
            return n;
    }
}

/* The first line of the first "error: " in a compiler's diagnostics (the whole text when it
 * has none), without trailing blanks. */
static void first_error(const char *text, char *out, size_t cap) {
    const char *p = text ? strstr(text, "error: ") : NULL;
    p = p ? p + 7 : (text ? text : "(no message)");
    size_t n = strcspn(p, "\n");
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\r'))
        n--;
    if (n >= cap)
        n = cap - 1;
    memcpy(out, p, n);
    out[n] = '\0';
}

/* --- what one case does (in the child) ------------------------------------------------------- */

/* The importer's words for ONNX that the SPEC's language cannot express: an operator, an
 * attribute value, an opset or IR version outside what it maps ("unsupported ...", "... is not
 * supported", "only ... are supported"), a non-float dtype, a dynamic shape, a sequence or
 * optional value, weights or attributes given as graph inputs instead of constants. */
static const char *const unsupported_markers[] = {
    "supported", "dtype", "dynamic", "is not a tensor", "must be an initializer or a constant",
    "must be a constant", "must be scalar constants", "not tracked",
    "weights given as graph inputs",
};

/* Whether a failed compilation is an honest "cannot express this": NND_ERR_UNSUPPORTED, or
 * the importer's own first diagnostic (located at the .onnx file itself, where the compiler's
 * diagnostics on the imported text carry a line) in its "cannot express" words. Anything
 * else (imported text the compiler rejects, an unreadable file) is the case failing. */
static bool is_unsupported(nnd_status st, const char *path, const char *text, const char *msg) {
    if (st == NND_ERR_UNSUPPORTED)
        return true;
    size_t n = strlen(path);
    if (!text || strncmp(text, path, n) != 0 || strncmp(text + n, ": error: ", 9) != 0)
        return false;
    for (size_t i = 0; i < sizeof unsupported_markers / sizeof *unsupported_markers; i++)
        if (strstr(msg, unsupported_markers[i]))
            return true;
    return false;
}

static bool ends_with(const char *s, size_t n, const char *suffix) {
    size_t k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* A skip reason as it is counted: the message without what only names this case's graph, so
 * that "unsupported ONNX operator 'Pow'" from twelve cases is counted once. A leading
 * "node 'NAME': " goes, as do the quoted name after "input", "output", "node", "tensor",
 * "initializer" or "value" and every parenthesized remark (node names, allowed ranges). */
static void skip_reason(const char *msg, char *out, size_t cap) {
    static const char *const nouns[] = {"input ", "output ", "node ", "tensor ", "initializer ",
                                        "value "};
    if (strncmp(msg, "node '", 6) == 0 && strstr(msg + 6, "': "))
        msg = strstr(msg + 6, "': ") + 3;
    size_t n = 0;
    for (const char *p = msg; *p && n + 1 < cap;) {
        if (*p == '\'') {
            bool named = false;
            for (size_t i = 0; i < sizeof nouns / sizeof *nouns && !named; i++)
                named = ends_with(out, n, nouns[i]);
            const char *close = strchr(p + 1, '\'');
            if (named && close) {
                p = close + 1;
                n--; /* the blank before the name */
                continue;
            }
        }
        if (*p == ' ' && p[1] == '(' && strchr(p, ')')) {
            int depth = 0;
            for (p++; *p; p++) {
                depth += *p == '(' ? 1 : *p == ')' ? -1 : 0;
                if (depth == 0) {
                    p++;
                    break;
                }
            }
            continue;
        }
        out[n++] = *p++;
    }
    out[n] = '\0';
}

typedef enum Outcome { OUT_PASS, OUT_SKIP, OUT_FAIL } Outcome;

typedef struct CaseResult {
    Outcome outcome;
    char msg[MSG_MAX]; /* the skip reason, or what failed first */
} CaseResult;

static Outcome set_result(CaseResult *r, Outcome o, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static Outcome set_result(CaseResult *r, Outcome o, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof r->msg, fmt, ap);
    va_end(ap);
    r->outcome = o;
    return o;
}

static void format_shape(char *buf, size_t cap, size_t rank, const int64_t *dims) {
    size_t k = (size_t)snprintf(buf, cap, "[");
    for (size_t i = 0; i < rank && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%lld", i ? ", " : "", (long long)dims[i]);
    if (k < cap)
        snprintf(buf + k, cap - k, "]");
}

/* Whether got matches want under numpy.testing.assert_allclose(got, want, rtol, atol). */
static bool allclose(float got, float want) {
    if (isnan(want) || isnan(got))
        return isnan(want) && isnan(got);
    if (isinf(want) || isinf(got))
        return got == want;
    return fabs((double)got - (double)want) <= ATOL + RTOL * fabs((double)want);
}

/* Compares output k of one data set; false after describing the first mismatch. */
static bool compare_output(const char *set, int k, const nnd_tensor *out, const OnnxTensor *want,
                           CaseResult *r) {
    char gs[160], ws[160];
    format_shape(gs, sizeof gs, out->rank, out->out_shape);
    format_shape(ws, sizeof ws, (size_t)want->rank, want->shape);
    if (strcmp(gs, ws) != 0) {
        set_result(r, OUT_FAIL, "%s: output %d has shape %s, want %s", set, k, gs, ws);
        return false;
    }
    int64_t bad = 0, first = -1;
    for (int64_t i = 0; i < want->numel; i++)
        if (!allclose(out->data[i], want->data[i]) && bad++ == 0)
            first = i;
    if (bad) {
        double g = out->data[first], w = want->data[first];
        set_result(r, OUT_FAIL,
                   "%s: output %d %s: %lld of %lld elements differ; first at flat index %lld: "
                   "got %.9g, want %.9g (|diff| %.3g > %.3g)",
                   set, k, ws, (long long)bad, (long long)want->numel, (long long)first, g, w,
                   fabs(g - w), ATOL + RTOL * fabs(w));
        return false;
    }
    return true;
}

/* Reads dir/PREFIXk.pb for k < n into t; false after describing the first problem. */
static bool read_tensors(Arena *a, const char *dir, const char *prefix, int n, OnnxTensor *t,
                         CaseResult *r) {
    for (int k = 0; k < n; k++) {
        char path[4096], msg[MSG_MAX / 2];
        snprintf(path, sizeof path, "%s/%s%d.pb", dir, prefix, k);
        Diag *d = diag_new(a);
        if (!onnx_read_tensor_file(a, d, path, &t[k])) {
            first_error(diag_text(d), msg, sizeof msg);
            set_result(r, OUT_FAIL, "cannot read %s%d.pb: %s", prefix, k, msg);
            return false;
        }
    }
    return true;
}

/* Gives the data set's unnamed input files (pytorch-operator's are) the names of the graph
 * inputs they stand for: input_K.pb is the K-th graph input that is not an initializer, as
 * in ONNX's backend tests. The model is setdir/../model.onnx. */
static void name_inputs(Arena *a, const char *setdir, OnnxTensor *t, int n) {
    char path[4096];
    snprintf(path, sizeof path, "%s/../model.onnx", setdir);
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    static uint8_t buf[1 << 26];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    Onnx__ModelProto *m = len < sizeof buf ? onnx__model_proto__unpack(NULL, len, buf) : NULL;
    int k = 0;
    for (size_t i = 0; m && m->graph && i < m->graph->n_input && k < n; i++) {
        const char *name = m->graph->input[i]->name ? m->graph->input[i]->name : "";
        bool init = false;
        for (size_t j = 0; j < m->graph->n_initializer && !init; j++)
            init = m->graph->initializer[j]->name &&
                   strcmp(m->graph->initializer[j]->name, name) == 0;
        if (init)
            continue;
        if (!t[k].name || !t[k].name[0])
            t[k].name = arena_strdup(a, name);
        k++;
    }
    if (m)
        onnx__model_proto__free_unpacked(m, NULL);
}

/* Binds data set input k to a model input: the one with the tensor's name, else the k-th. */
static int input_slot(const nnd_model *m, const OnnxTensor *t, int k) {
    int i = t->name && t->name[0] ? nnd_model_input_index(m, t->name) : -1;
    return i >= 0 ? i : k;
}

static int output_slot(const nnd_model *m, const OnnxTensor *t, int k) {
    int i = t->name && t->name[0] ? nnd_model_output_index(m, t->name) : -1;
    return i >= 0 ? i : k;
}

/* Runs one data set directory through the compiled model. */
static bool is_bound(const StrList *bound, const char *name) {
    for (int i = 0; bound && name && i < bound->n; i++)
        if (strcmp(bound->s[i], name) == 0)
            return true;
    return false;
}

/* Runs one data set directory through the compiled model; the inputs named in bound (NULL:
 * none) were made constants of the model, so their files are not fed. */
static Outcome run_data_set(nnd_model *m, nnd_context *ctx, const char *dir, const char *set,
                            const StrList *bound, CaseResult *r) {
    int nfiles = count_numbered(dir, "input_"), nout = count_numbered(dir, "output_");
    int nin = nfiles - (bound ? bound->n : 0);
    size_t want_in = nnd_model_num_inputs(m), want_out = nnd_model_num_outputs(m);
    if (nin < 0 || (size_t)nin != want_in || (size_t)nout != want_out)
        return set_result(r, OUT_FAIL,
                          "%s has %d inputs (%d bound as constants) and %d outputs; the compiled "
                          "model takes %zu and gives %zu",
                          set, nfiles, bound ? bound->n : 0, nout, want_in, want_out);
    Arena *a = arena_new();
    OnnxTensor *tin = calloc((size_t)nfiles + 1, sizeof *tin);
    OnnxTensor *tout = calloc((size_t)nout + 1, sizeof *tout);
    nnd_tensor *in = calloc((size_t)nin + 1, sizeof *in);
    nnd_tensor *out = calloc((size_t)nout + 1, sizeof *out);
    float **bufs = calloc((size_t)nout + 1, sizeof *bufs);
    Outcome o = OUT_PASS;
    if (!a || !tin || !tout || !in || !out || !bufs) {
        o = set_result(r, OUT_FAIL, "out of memory");
        goto done;
    }
    if (!read_tensors(a, dir, "input_", nfiles, tin, r) ||
        !read_tensors(a, dir, "output_", nout, tout, r)) {
        o = OUT_FAIL;
        goto done;
    }
    if (bound)
        name_inputs(a, dir, tin, nfiles);
    /* the files of the inputs still fed, in order */
    int kept = 0;
    for (int k = 0; k < nfiles; k++)
        if (!is_bound(bound, tin[k].name))
            tin[kept++] = tin[k];
    if (kept != nin) {
        o = set_result(r, OUT_FAIL, "%s: the bound inputs' files are not all named", set);
        goto done;
    }
    for (int k = 0; k < nin; k++) {
        int s = input_slot(m, &tin[k], k);
        if (s < 0 || (size_t)s >= want_in) {
            o = set_result(r, OUT_FAIL, "%s: input_%d.pb binds no model input", set, k);
            goto done;
        }
        if (in[s].data) {
            o = set_result(r, OUT_FAIL, "%s: input_%d.pb and another file bind input %d", set, k,
                           s);
            goto done;
        }
        static float empty[1]; /* an empty tensor still needs a pointer */
        in[s] = (nnd_tensor){tin[k].data ? tin[k].data : empty, (size_t)tin[k].numel,
                             (size_t)tin[k].rank, tin[k].shape, {0}};
    }
    for (int k = 0; k < nout; k++) {
        int s = output_slot(m, &tout[k], k);
        if (out[s].data) {
            o = set_result(r, OUT_FAIL, "%s: output_%d.pb and another file bind output %d", set,
                           k, s);
            goto done;
        }
        bufs[s] = calloc((size_t)tout[k].numel + 1, sizeof(float));
        out[s] = (nnd_tensor){bufs[s], (size_t)tout[k].numel, 0, NULL, {0}};
    }
    nnd_status st = nnd_run(ctx, in, (size_t)nin, out, (size_t)nout);
    if (st != NND_OK) {
        o = set_result(r, OUT_FAIL, "%s: nnd_run: %s: %s", set, nnd_status_name(st),
                       nnd_context_error(ctx));
        goto done;
    }
    for (int k = 0; k < nout; k++)
        if (!compare_output(set, k, &out[output_slot(m, &tout[k], k)], &tout[k], r)) {
            o = OUT_FAIL;
            break;
        }
done:
    for (int k = 0; bufs && k < nout; k++)
        free(bufs[k]);
    free(bufs);
    free(out);
    free(in);
    free(tout);
    free(tin);
    arena_free(a);
    return o;
}

/* --- weights given as graph inputs ------------------------------------------------------------ */

#define CONST_MARKER "') must be an initializer or a constant"

/* The input an importer message names as needing to be constant ("... ('W') must be an
 * initializer or a constant"), into out; false when the message is not that one. */
static bool needs_constant(const char *msg, char *out, size_t cap) {
    const char *end = strstr(msg, CONST_MARKER);
    if (!end)
        return false;
    const char *p = end;
    while (p > msg && !(p[-1] == '\'' && p - 1 > msg && p[-2] == '('))
        p--;
    if (p == msg || (size_t)(end - p) >= cap || end == p)
        return false;
    memcpy(out, p, (size_t)(end - p));
    out[end - p] = '\0';
    return true;
}

/* The data set's input tensor named name (NULL: none). */
static const OnnxTensor *find_tensor(const OnnxTensor *t, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (t[i].name && strcmp(t[i].name, name) == 0)
            return &t[i];
    return NULL;
}

/* Imports model with the inputs in names bound to the data set's values. False with r set
 * (a skip or a failure) when it cannot; *first_msg gets the first error when the import
 * reports one (for finding more inputs to bind). */
static bool import_bound(Arena *a, const char *model, const char *setdir, const StrList *names,
                         OnnxImport *im, char *first_msg, size_t cap, CaseResult *r) {
    int nfiles = count_numbered(setdir, "input_");
    OnnxTensor *t = arena_array(a, (size_t)nfiles + 1, sizeof *t);
    if (!read_tensors(a, setdir, "input_", nfiles, t, r))
        return false;
    name_inputs(a, setdir, t, nfiles);
    OnnxTensor *b = arena_array(a, (size_t)names->n + 1, sizeof *b);
    for (int i = 0; i < names->n; i++) {
        const OnnxTensor *v = find_tensor(t, nfiles, names->s[i]);
        if (!v) {
            set_result(r, OUT_SKIP, "weights given as graph inputs without named values");
            return false;
        }
        b[i] = *v;
    }
    Diag *d = diag_new(a);
    first_msg[0] = '\0';
    if (onnx_import_file_bound(a, d, model, "conformance", b, names->n, im))
        return true;
    first_error(diag_text(d), first_msg, cap);
    if (is_unsupported(NND_ERR_MODEL, model, diag_text(d), first_msg)) {
        char reason[MSG_MAX];
        skip_reason(first_msg, reason, sizeof reason);
        set_result(r, OUT_SKIP, "%s", reason);
    } else {
        set_result(r, OUT_FAIL, "does not import with weights bound: %s", first_msg);
    }
    return false;
}

/* Writes the import into dir as model.nnd and its weights file; the .nnd path into path. */
static bool write_import(const char *dir, const OnnxImport *im, char *path,
                         size_t cap, CaseResult *r) {
    if (im->weights_name) {
        path_join(path, cap, dir, im->weights_name);
        if (!st_write_file(path, &im->weights)) {
            set_result(r, OUT_FAIL, "cannot write %s: %s", path, strerror(errno));
            return false;
        }
    }
    path_join(path, cap, dir, "model.nnd");
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(im->nnd_text, 1, im->nnd_len, f) != im->nnd_len) {
        if (f)
            fclose(f);
        set_result(r, OUT_FAIL, "cannot write %s", path);
        return false;
    }
    fclose(f);
    return true;
}

/* Removes what write_import wrote, and the directory. */
static void remove_import(const char *dir, const OnnxImport *im) {
    char path[4096];
    if (im->weights_name && path_join(path, sizeof path, dir, im->weights_name))
        unlink(path);
    if (path_join(path, sizeof path, dir, "model.nnd"))
        unlink(path);
    rmdir(dir);
}

/* Compiles the .nnd at path and runs one data set through it. */
static Outcome compile_and_run(const char *path, const char *setdir, const char *set,
                               const StrList *bound, CaseResult *r) {
    char msg[MSG_MAX];
    nnd_options opt;
    nnd_options_init(&opt);
    nnd_model *m = NULL;
    char *err = NULL;
    nnd_status st = nnd_model_compile_file(path, &opt, &m, &err);
    if (st != NND_OK) {
        first_error(err, msg, sizeof msg);
        nnd_string_free(err);
        if (st == NND_ERR_UNSUPPORTED) {
            char reason[MSG_MAX];
            skip_reason(msg, reason, sizeof reason);
            return set_result(r, OUT_SKIP, "%s", reason);
        }
        return set_result(r, OUT_FAIL, "does not compile (weights bound): %s: %s",
                          nnd_status_name(st), msg);
    }
    nnd_string_free(err);
    nnd_context *ctx = NULL;
    if ((st = nnd_context_create(m, &ctx)) != NND_OK) {
        nnd_model_destroy(m);
        return set_result(r, OUT_FAIL, "nnd_context_create: %s", nnd_status_name(st));
    }
    Outcome o = run_data_set(m, ctx, setdir, set, bound, r);
    nnd_context_destroy(ctx);
    nnd_model_destroy(m);
    return o;
}

/* The case whose weights are graph inputs: the inputs the importer names as needing to be
 * constant are found with test_data_set_0's values (one at a time, as the importer names
 * them), then each data set is imported with its own values for them, written to a
 * temporary directory as .nnd and .safetensors, compiled and run on its other inputs. */
static Outcome run_case_bound(const char *dir, const char *model, const char *first,
                              CaseResult *r) {
    StrList sets = {0}, names = {0};
    list_dir(dir, "test_data_set_", &sets);
    if (!sets.n) {
        strlist_free(&sets);
        return set_result(r, OUT_FAIL, "no test_data_set_* directory");
    }
    Arena *a = arena_new();
    if (!a)
        abort();
    char setdir[4096], name[512], msg[MSG_MAX];
    Outcome o = OUT_PASS;
    snprintf(msg, sizeof msg, "%s", first);
    path_join(setdir, sizeof setdir, dir, sets.s[0]);
    for (;;) {
        if (!needs_constant(msg, name, sizeof name) || is_bound(&names, name) ||
            names.n >= 64) {
            o = set_result(r, OUT_SKIP, "%s", "weights given as graph inputs");
            goto done;
        }
        strlist_add(&names, name);
        OnnxImport im;
        if (import_bound(a, model, setdir, &names, &im, msg, sizeof msg, r))
            break;
        if (!strstr(msg, CONST_MARKER)) {
            o = r->outcome;
            goto done;
        }
    }
    for (int i = 0; i < sets.n && o == OUT_PASS; i++) {
        path_join(setdir, sizeof setdir, dir, sets.s[i]);
        OnnxImport im;
        if (!import_bound(a, model, setdir, &names, &im, msg, sizeof msg, r)) {
            o = r->outcome == OUT_SKIP ? OUT_FAIL : r->outcome;
            if (r->outcome == OUT_SKIP)
                set_result(r, OUT_FAIL, "%s: does not import: %s", sets.s[i], r->msg);
            break;
        }
        char tmp[] = "/tmp/nnd_onnx_conf_XXXXXX", path[4096];
        if (!mkdtemp(tmp)) {
            o = set_result(r, OUT_FAIL, "mkdtemp: %s", strerror(errno));
            break;
        }
        if (write_import(tmp, &im, path, sizeof path, r))
            o = compile_and_run(path, setdir, sets.s[i], &names, r);
        else
            o = OUT_FAIL;
        remove_import(tmp, &im);
    }
    if (o == OUT_PASS)
        r->msg[0] = '\0';
done:
    arena_free(a);
    strlist_free(&names);
    strlist_free(&sets);
    r->outcome = o;
    return o;
}

/* Compiles dir/model.onnx and runs every data set beside it. */
static Outcome run_case(const char *dir, CaseResult *r) {
    char path[4096], msg[MSG_MAX];
    path_join(path, sizeof path, dir, "model.onnx");
    nnd_options opt;
    nnd_options_init(&opt);
    nnd_model *m = NULL;
    char *err = NULL;
    nnd_status st = nnd_model_compile_file(path, &opt, &m, &err);
    if (st != NND_OK) {
        first_error(err, msg, sizeof msg);
        bool skip = is_unsupported(st, path, err, msg);
        nnd_string_free(err);
        if (skip && strstr(msg, CONST_MARKER))
            return run_case_bound(dir, path, msg, r);
        if (skip) {
            char reason[MSG_MAX];
            skip_reason(msg, reason, sizeof reason);
            return set_result(r, OUT_SKIP, "%s", reason);
        }
        return set_result(r, OUT_FAIL, "does not compile: %s: %s", nnd_status_name(st), msg);
    }
    nnd_string_free(err);
    nnd_context *ctx = NULL;
    if ((st = nnd_context_create(m, &ctx)) != NND_OK) {
        nnd_model_destroy(m);
        return set_result(r, OUT_FAIL, "nnd_context_create: %s", nnd_status_name(st));
    }
    StrList sets = {0};
    list_dir(dir, "test_data_set_", &sets);
    Outcome o = sets.n ? OUT_PASS : set_result(r, OUT_FAIL, "no test_data_set_* directory");
    for (int i = 0; i < sets.n && o == OUT_PASS; i++) {
        path_join(path, sizeof path, dir, sets.s[i]);
        o = run_data_set(m, ctx, path, sets.s[i], NULL, r);
    }
    strlist_free(&sets);
    nnd_context_destroy(ctx);
    nnd_model_destroy(m);
    r->outcome = o;
    return o;
}

/* --- running a case in a child process ------------------------------------------------------- */

static void write_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

/* Runs the case in a child, which reports "P", "S reason" or "F message" through a pipe. */
static void run_case_isolated(const char *dir, CaseResult *r) {
    int fds[2];
    fflush(NULL);
    if (pipe(fds) != 0) {
        set_result(r, OUT_FAIL, "pipe: %s", strerror(errno));
        return;
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        set_result(r, OUT_FAIL, "fork: %s", strerror(errno));
        return;
    }
    if (pid == 0) {
        close(fds[0]);
        alarm(CASE_SECONDS);
        CaseResult cr = {OUT_FAIL, ""};
        Outcome o = run_case(dir, &cr);
        char head = o == OUT_PASS ? 'P' : o == OUT_SKIP ? 'S' : 'F';
        write_all(fds[1], &head, 1);
        write_all(fds[1], cr.msg, strlen(cr.msg));
        close(fds[1]);
        _exit(0);
    }
    close(fds[1]);
    char buf[MSG_MAX + 1];
    size_t n = 0;
    for (;;) {
        ssize_t got = read(fds[0], buf + n, sizeof buf - 1 - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        n += (size_t)got;
        if (n == sizeof buf - 1) { /* drain the rest; the message is already long enough */
            char sink[512];
            while (read(fds[0], sink, sizeof sink) > 0) {
            }
            break;
        }
    }
    buf[n] = '\0';
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) != 0) || n == 0) {
        if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
            set_result(r, OUT_FAIL, "still running after %d s", CASE_SECONDS);
        else if (WIFSIGNALED(status))
            set_result(r, OUT_FAIL, "crashed (signal %d, %s)", WTERMSIG(status),
                       strsignal(WTERMSIG(status)));
        else
            set_result(r, OUT_FAIL, "the case's process exited with status %d",
                       WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return;
    }
    set_result(r, buf[0] == 'P' ? OUT_PASS : buf[0] == 'S' ? OUT_SKIP : OUT_FAIL, "%s", buf + 1);
}

/* --- per-directory tallies and tables -------------------------------------------------------- */

typedef struct Reason {
    char *text;
    int count;
} Reason;

typedef struct DirStats {
    const char *name;
    bool present;
    int cases, passed, failed, skipped;
    Reason *reasons;
    int nreasons;
    double seconds;
} DirStats;

static DirStats dir_stats[4] = {
    {.name = "node"}, {.name = "pytorch-converted"}, {.name = "pytorch-operator"},
    {.name = "simple"}};

static void count_reason(DirStats *s, const char *text) {
    for (int i = 0; i < s->nreasons; i++)
        if (strcmp(s->reasons[i].text, text) == 0) {
            s->reasons[i].count++;
            return;
        }
    s->reasons = realloc(s->reasons, (size_t)(s->nreasons + 1) * sizeof *s->reasons);
    if (!s->reasons)
        abort();
    s->reasons[s->nreasons++] = (Reason){strdup(text), 1};
}

static int cmp_reason(const void *a, const void *b) {
    const Reason *x = a, *y = b;
    return x->count != y->count ? y->count - x->count : strcmp(x->text, y->text);
}

static const char *data_root(void) {
    const char *r = getenv("NND_ONNX_TESTDATA");
    return r && r[0] ? r : DEFAULT_ROOT;
}

static bool verbose(void) {
    const char *v = getenv("NND_ONNX_VERBOSE");
    return v && v[0] && strcmp(v, "0") != 0;
}

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void print_dir_table(const DirStats *s) {
    int run = s->passed + s->failed;
    printf("\n\nONNX conformance, %s: %d cases, %d run (%.0f%%), %d passed, %d failed, %d skipped "
           "(%.1f s)\n",
           s->name, s->cases, run, s->cases ? 100.0 * run / s->cases : 0.0, s->passed, s->failed,
           s->skipped, s->seconds);
    if (s->nreasons)
        printf("  skipped:\n");
    for (int i = 0; i < s->nreasons; i++)
        printf("    %s x%d\n", s->reasons[i].text, s->reasons[i].count);
}

/* Runs every case of one data directory and tallies it into dir_stats[which]. */
static void run_directory(int which) {
    DirStats *s = &dir_stats[which];
    char dir[4096], casedir[4096], model[4200];
    snprintf(dir, sizeof dir, "%s/%s", data_root(), s->name);
    StrList cases = {0};
    if (!list_dir(dir, "", &cases)) {
        printf("\n  %s: not found (install libonnx-testdata, as scripts/deps.sh does, or set "
               "NND_ONNX_TESTDATA)\n",
               dir);
        CU_FAIL("ONNX conformance data not found");
        return;
    }
    s->present = true;
    double t0 = now_seconds();
    for (int i = 0; i < cases.n; i++) {
        if (!path_join(casedir, sizeof casedir, dir, cases.s[i]) ||
            !path_join(model, sizeof model, casedir, "model.onnx") || !is_file(model))
            continue; /* not a case directory */
        CaseResult r = {OUT_FAIL, ""};
        run_case_isolated(casedir, &r);
        s->cases++;
        if (verbose())
            printf("\n  %s/%s: %s %s", s->name, cases.s[i],
                   r.outcome == OUT_PASS ? "pass" : r.outcome == OUT_SKIP ? "skip" : "FAIL", r.msg);
        if (r.outcome == OUT_PASS) {
            s->passed++;
        } else if (r.outcome == OUT_SKIP) {
            s->skipped++;
            count_reason(s, r.msg);
        } else {
            char what[MSG_MAX + 512];
            snprintf(what, sizeof what, "%s/%s: %s", s->name, cases.s[i], r.msg);
            s->failed++;
            CU_assertImplementation(CU_FALSE, __LINE__, what, __FILE__, "", CU_FALSE);
        }
    }
    s->seconds = now_seconds() - t0;
    if (s->nreasons)
        qsort(s->reasons, (size_t)s->nreasons, sizeof *s->reasons, cmp_reason);
    strlist_free(&cases);
    print_dir_table(s);
}

static void test_onnx_conformance_node(void) { run_directory(0); }
static void test_onnx_conformance_pytorch_converted(void) { run_directory(1); }
static void test_onnx_conformance_pytorch_operator(void) { run_directory(2); }
static void test_onnx_conformance_simple(void) { run_directory(3); }

/* The four directories as one Markdown table, for the README. */
static void test_onnx_conformance_summary(void) {
    printf("\n\n| ONNX test data | cases | run | passed | failed | skipped |\n"
           "|---|---:|---:|---:|---:|---:|\n");
    int tot[5] = {0};
    for (int i = 0; i < 4; i++) {
        const DirStats *s = &dir_stats[i];
        if (!s->present) {
            printf("| %s | not installed | | | | |\n", s->name);
            continue;
        }
        int run = s->passed + s->failed;
        printf("| %s | %d | %d (%.0f%%) | %d | %d | %d |\n", s->name, s->cases, run,
               s->cases ? 100.0 * run / s->cases : 0.0, s->passed, s->failed, s->skipped);
        int v[5] = {s->cases, run, s->passed, s->failed, s->skipped};
        for (int k = 0; k < 5; k++)
            tot[k] += v[k];
    }
    printf("| all | %d | %d (%.0f%%) | %d | %d | %d |\n", tot[0], tot[1],
           tot[0] ? 100.0 * tot[1] / tot[0] : 0.0, tot[2], tot[3], tot[4]);
    for (int i = 0; i < 4; i++) {
        DirStats *s = &dir_stats[i];
        for (int k = 0; k < s->nreasons; k++)
            free(s->reasons[k].text);
        free(s->reasons);
        s->reasons = NULL;
        s->nreasons = 0;
    }
    fflush(stdout);
}

NND_SUITE("onnx_conformance", test_onnx_conformance_node, test_onnx_conformance_pytorch_converted,
          test_onnx_conformance_pytorch_operator, test_onnx_conformance_simple,
          test_onnx_conformance_summary)
