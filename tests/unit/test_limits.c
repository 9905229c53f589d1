/* test_limits.c: inputs at the limits of size (issue 7): every one is a located error or a
 * result in time and memory proportional to the input, never a crash, a hang or a huge
 * allocation.
 *
 * Models with tens of thousands of unknown names or ONNX nodes (each was quadratic before;
 * the suite has a ctest TIMEOUT), a weights file whose tensor of an unknown dtype claims a
 * 2^32-element shape (checked in a child process under an address-space limit), and a
 * workspace summed for a huge batch live here (the runtime's sizes are in
 * test_runtime_args); the per-module limits (dims, headers, nesting) are in the modules' own
 * suites. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compile.h"
#include "onnx.pb-c.h"
#include "onnx_import.h"
#include "passes.h"
#include "safetensors.h"
#include "unit_harness.h"

/* Appends to a growing string (test scaffolding: aborts the test on out of memory). */
typedef struct Text {
    char *s;
    size_t len, cap;
} Text;

static void add(Text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(Text *t, const char *fmt, ...) {
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (t->len + (size_t)n + 1 > t->cap) {
        t->cap = (t->cap + (size_t)n + 1) * 2;
        t->s = realloc(t->s, t->cap);
        CU_ASSERT_PTR_NOT_NULL_FATAL(t->s);
    }
    memcpy(t->s + t->len, buf, (size_t)n + 1);
    t->len += (size_t)n;
}

/* 30000 statements naming 30000 unknown names: each "did you mean" used to scan every name in
 * scope (and copy them all), minutes of work; now the first 100 errors get suggestions and
 * the rest, which are not shown, cost nothing. */
static void test_limits_many_unknown_names(void) {
    Text t = {0};
    add(&t, "model big {\n  input x : f32[N, 4]\n  unknown0 = relu(x)\n");
    for (int i = 1; i < 30000; i++)
        add(&t, "  a%d = relu(unknownn%d)\n", i, i);
    add(&t, "  output y = relu(x)\n}\n");
    Compilation *c = compilation_new();
    compile_set_source(c, "big.nnd", t.s, t.len);
    CU_ASSERT_FALSE(compile_to(c, STAGE_GRAPH, NULL));
    CU_ASSERT_EQUAL(diag_count(c->diag), DIAG_MAX_ERRORS);
    CU_ASSERT_STRING_EQUAL(diag_message(c->diag, 0),
                           "unknown name 'unknownn1'; did you mean 'unknown0'?");
    CU_ASSERT(strstr(diag_text(c->diag), "too many errors") != NULL);
    compilation_free(c);
    free(t.s);
}

/* "v17": a plain name. */
static void plain_name(char *buf, int i) { snprintf(buf, 32, "v%d", i); }

/* "x" and i in binary spelled with '#' and '!': distinct names that all sanitize to "x". */
static void clashing_name(char *buf, int i) {
    int k = 0;
    buf[k++] = 'x';
    do {
        buf[k++] = i & 1 ? '!' : '#';
        i >>= 1;
    } while (i);
    buf[k] = 0;
}

/* An ONNX model of `n` Relu nodes in a chain, value i named by name(buf, i), serialized into
 * *len bytes (free them). */
static uint8_t *relu_chain(int n, void (*name)(char *, int), size_t *len) {
    char **names = calloc((size_t)n + 1, sizeof *names);
    Onnx__NodeProto *nodes = calloc((size_t)n, sizeof *nodes);
    Onnx__NodeProto **np = calloc((size_t)n, sizeof *np);
    CU_ASSERT_FATAL(names && nodes && np);
    for (int i = 0; i <= n; i++) {
        names[i] = malloc(32);
        CU_ASSERT_PTR_NOT_NULL_FATAL(names[i]);
        name(names[i], i);
    }
    for (int i = 0; i < n; i++) {
        onnx__node_proto__init(&nodes[i]);
        nodes[i].op_type = "Relu";
        nodes[i].name = names[i + 1];
        nodes[i].n_input = nodes[i].n_output = 1;
        nodes[i].input = &names[i];
        nodes[i].output = &names[i + 1];
        np[i] = &nodes[i];
    }
    Onnx__TensorShapeProto__Dimension d[2], *dp[2] = {&d[0], &d[1]};
    for (int i = 0; i < 2; i++) {
        onnx__tensor_shape_proto__dimension__init(&d[i]);
        d[i].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
        d[i].dim_value = 2 + i;
    }
    Onnx__TensorShapeProto shape = ONNX__TENSOR_SHAPE_PROTO__INIT;
    shape.n_dim = 2, shape.dim = dp;
    Onnx__TypeProto__Tensor tt = ONNX__TYPE_PROTO__TENSOR__INIT;
    tt.has_elem_type = true, tt.elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, tt.shape = &shape;
    Onnx__TypeProto ty = ONNX__TYPE_PROTO__INIT;
    ty.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE, ty.tensor_type = &tt;
    Onnx__ValueInfoProto in = ONNX__VALUE_INFO_PROTO__INIT, out = ONNX__VALUE_INFO_PROTO__INIT;
    in.name = names[0], in.type = &ty;
    out.name = names[n], out.type = &ty;
    Onnx__ValueInfoProto *gin[1] = {&in}, *gout[1] = {&out};
    Onnx__GraphProto g = ONNX__GRAPH_PROTO__INIT;
    g.name = "chain", g.n_node = (size_t)n, g.node = np;
    g.n_input = 1, g.input = gin, g.n_output = 1, g.output = gout;
    Onnx__OperatorSetIdProto op = ONNX__OPERATOR_SET_ID_PROTO__INIT, *ops[1] = {&op};
    op.domain = "", op.has_version = true, op.version = 13;
    Onnx__ModelProto m = ONNX__MODEL_PROTO__INIT;
    m.has_ir_version = true, m.ir_version = 8;
    m.n_opset_import = 1, m.opset_import = ops, m.graph = &g;
    *len = onnx__model_proto__get_packed_size(&m);
    uint8_t *buf = malloc(*len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    onnx__model_proto__pack(&m, buf);
    for (int i = 0; i <= n; i++)
        free(names[i]);
    free(names);
    free(nodes);
    free(np);
    return buf;
}

/* Imports the bytes and compiles the text to a checked graph; returns the .nnd text's
 * length (0 on failure). */
static size_t import_and_check(const uint8_t *bytes, size_t len, const char *expect) {
    Compilation *c = compilation_new();
    bool ok = compile_read_onnx_bytes(c, "chain.onnx", bytes, len) &&
              compile_to(c, STAGE_GRAPH, NULL);
    if (!ok)
        fprintf(stderr, "%.2000s", diag_text(c->diag));
    size_t n = ok ? c->len : 0;
    CU_ASSERT(ok && strstr(c->text, expect) != NULL);
    compilation_free(c);
    return n;
}

/* Value lookups and identifier uniqueness were linear scans: 80000 nodes took a minute. */
static void test_limits_long_onnx_chain(void) {
    size_t len;
    uint8_t *bytes = relu_chain(80000, plain_name, &len);
    CU_ASSERT(import_and_check(bytes, len, "  v80000 = relu(v79999)\n") > 0);
    free(bytes);
}

/* Names that all sanitize to the same identifier ("x") get suffixes _2, _3, ...: the search
 * for a free one resumes where it stopped instead of starting again at _2. */
static void test_limits_onnx_names_that_collide(void) {
    size_t len;
    uint8_t *bytes = relu_chain(40000, clashing_name, &len);
    CU_ASSERT(import_and_check(bytes, len, "  x_40001 = relu(x_40000)\n") > 0);
    free(bytes);
}

/* The weights file of a model whose dense weight is [65536, 65536] (2^32 elements, the most
 * a tensor may have) holds that tensor with an unknown dtype and no bytes: the dtype is
 * reported without allocating the 16 GiB its shape would take as f32. */
static const char big_dense[] = "model big {\n"
                                "  input x : f32[N, 65536]\n"
                                "  weights \"big.safetensors\"\n"
                                "  output y = dense(x, 65536, bias=false)\n"
                                "}\n";

static bool unknown_dtype_reported(void) {
    Arena *a = arena_new();
    Diag *d = diag_new(a);
    const char *json = "{\"y.weight\":{\"dtype\":\"X9\",\"shape\":[65536,65536],"
                       "\"data_offsets\":[0,0]}}";
    uint8_t bytes[128] = {(uint8_t)strlen(json)};
    memcpy(bytes + 8, json, strlen(json));
    size_t size = 8 + strlen(json);
    StFile f;
    bool parsed = st_parse(a, d, (SrcLoc){0}, "big.safetensors", bytes, size, &f);
    Compilation *c = compilation_new();
    compile_set_source(c, "big.nnd", big_dense, sizeof big_dense - 1);
    c->preloaded_weights = &f;
    bool ok = parsed && !compile_to(c, STAGE_WEIGHTS, NULL) && !c->out_of_memory &&
              diag_count(c->diag) == 1 &&
              strcmp(diag_message(c->diag, 0), "dense 'y': tensor 'y.weight' has dtype X9; "
                                               "expected F32, F64, F16 or BF16") == 0;
    if (!ok)
        fprintf(stderr, "\n%s%s", diag_text(d), diag_text(c->diag));
    compilation_free(c);
    arena_free(a);
    return ok;
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif

static void test_limits_unknown_dtype_allocates_nothing(void) {
#ifdef SANITIZED
    /* Sanitizers reserve terabytes of address space: no limit can be set here. */
    CU_ASSERT_TRUE(unknown_dtype_reported());
#else
    /* In a child limited to 2 GiB of address space, where the old order ran out of memory. */
    fflush(NULL);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        struct rlimit r = {(rlim_t)2 << 30, (rlim_t)2 << 30};
        setrlimit(RLIMIT_AS, &r);
        _exit(unknown_dtype_reported() ? 0 : 1);
    }
    int st;
    CU_ASSERT_EQUAL(waitpid(pid, &st, 0), pid);
    CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
#endif
}

/* `nndc emit opt --batch 1048576` of a model with an N x N x 2^22 intermediate: its workspace
 * is 2^64 bytes at that batch, and summing it overflowed int64_t (undefined). */
static void test_limits_dump_opt_workspace_overflow(void) {
    static const char src[] = "model big {\n"
                              "  input a : f32[N, 1, 1]\n"
                              "  input b : f32[1, N, 4194304]\n"
                              "  input c : f32[4194304, 1]\n"
                              "  t = add(a, b)\n"
                              "  output y = matmul(t, c)\n"
                              "}\n";
    Compilation *c = compilation_new();
    compile_set_source(c, "big.nnd", src, sizeof src - 1);
    CU_ASSERT_FATAL(compile_to(c, STAGE_OPT, NULL));
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    graph_dump_opt(out, c->graph, (int64_t)1 << 20);
    fclose(out);
    CU_ASSERT(strstr(text, "workspace: 16777216*N^2 bytes = more than 2^63 bytes at batch "
                           "1048576") != NULL);
    free(text);
    compilation_free(c);
}

NND_SUITE("limits", test_limits_many_unknown_names, test_limits_long_onnx_chain,
          test_limits_onnx_names_that_collide, test_limits_unknown_dtype_allocates_nothing,
          test_limits_dump_opt_workspace_overflow)
