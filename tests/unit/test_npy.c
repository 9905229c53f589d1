/* test_npy.c: the .npy reader and writer (compiler/weights/npy.c).
 *
 * Files are built in memory in blocks of exactly their size (so a sanitizer build catches a
 * read past the end), written to a mkdtemp directory for the I/O paths, and compared with the
 * files NumPy wrote under tests/data/npy/ (tests/data/make_npy_samples.py). */
#define _POSIX_C_SOURCE 200809L
#include "npy.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unit_harness.h"

#define SAMPLES NND_SOURCE_DIR "/tests/data/npy/"

static uint32_t f32_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}

static void put_be(uint8_t *p, uint64_t v, int n) {
    for (int i = 0; i < n; i++)
        p[n - 1 - i] = (uint8_t)(v >> 8 * i);
}

static void put_le(uint8_t *p, uint64_t v, int n) {
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> 8 * i);
}

/* A .npy of format version `major`.0 with exactly this header text and data. */
static uint8_t *make(int major, const char *header, const void *data, size_t dlen, size_t *size) {
    size_t pre = major == 1 ? 10 : 12, h = strlen(header);
    *size = pre + h + dlen;
    uint8_t *b = malloc(*size);
    memcpy(b, "\x93NUMPY", 6);
    b[6] = (uint8_t)major;
    b[7] = 0;
    put_le(b + 8, h, major == 1 ? 2 : 4);
    memcpy(b + pre, header, h);
    if (dlen)
        memcpy(b + pre + h, data, dlen);
    return b;
}

/* Parses and returns whether it worked; the message lands in err. */
static bool parse_with(int major, const char *header, const void *data, size_t dlen, NpyArray *out,
                       char *err, size_t errlen) {
    size_t size;
    uint8_t *b = make(major, header, data, dlen, &size);
    bool ok = npy_parse(b, size, out, err, errlen);
    free(b);
    return ok;
}

static void f32_data(uint8_t *p, const float *v, int n) {
    for (int i = 0; i < n; i++)
        put_le(p + 4 * i, f32_bits(v[i]), 4);
}

static void expect_error(const char *header, size_t dlen, const char *want) {
    uint8_t *data = calloc(1, dlen ? dlen : 1);
    NpyArray a;
    char err[256] = "";
    bool ok = parse_with(1, header, data, dlen, &a, err, sizeof err);
    CU_ASSERT_FALSE(ok);
    CU_ASSERT_PTR_NULL(a.data);
    if (!strstr(err, want))
        fprintf(stderr, "\nheader %s: wanted '%s', got '%s'\n", header, want, err);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, want));
    npy_free(&a);
    free(data);
}

static const char *H23 = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
static const float V6[6] = {1.5f, -2.0f, 0.25f, 3.0f, 1e-3f, -0.0f};

/* ---- valid arrays ---------------------------------------------------------------------- */

static void test_npy_f32_each_version(void) {
    uint8_t data[24];
    f32_data(data, V6, 6);
    for (int major = 1; major <= 3; major++) {
        NpyArray a;
        char err[128] = "";
        CU_ASSERT_TRUE_FATAL(parse_with(major, H23, data, 24, &a, err, sizeof err));
        CU_ASSERT_STRING_EQUAL(err, "");
        CU_ASSERT_EQUAL(a.rank, 2);
        CU_ASSERT_EQUAL(a.shape[0], 2);
        CU_ASSERT_EQUAL(a.shape[1], 3);
        CU_ASSERT_EQUAL(a.numel, 6);
        for (int i = 0; i < 6; i++)
            CU_ASSERT_EQUAL(f32_bits(a.data[i]), f32_bits(V6[i]));
        npy_free(&a);
        CU_ASSERT_PTR_NULL(a.data);
    }
}

static void test_npy_f64_converted(void) {
    const double limit = ldexp(1, 128) - ldexp(1, 103);
    const double v[9] = {0.1,   -2.5, 1e300, -1e300, ldexp(1, -1074), FLT_MAX, limit - ldexp(1, 80),
                         limit, NAN};
    uint8_t data[72];
    for (int i = 0; i < 9; i++) {
        uint64_t u;
        memcpy(&u, &v[i], 8);
        put_le(data + 8 * i, u, 8);
    }
    NpyArray a;
    char err[128];
    CU_ASSERT_TRUE_FATAL(parse_with(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (9,), }",
                                    data, sizeof data, &a, err, sizeof err));
    CU_ASSERT_EQUAL(a.rank, 1);
    CU_ASSERT_EQUAL(a.numel, 9);
    CU_ASSERT_EQUAL(a.data[0], 0.1f);
    CU_ASSERT_EQUAL(a.data[1], -2.5f);
    CU_ASSERT_TRUE(isinf(a.data[2]) && a.data[2] > 0);
    CU_ASSERT_TRUE(isinf(a.data[3]) && a.data[3] < 0);
    CU_ASSERT_EQUAL(f32_bits(a.data[4]), 0u);
    CU_ASSERT_EQUAL(a.data[5], FLT_MAX);
    CU_ASSERT_EQUAL(a.data[6], FLT_MAX);
    CU_ASSERT_TRUE(isinf(a.data[7]));
    CU_ASSERT_TRUE(isnan(a.data[8]));
    npy_free(&a);
}

static void test_npy_big_endian(void) {
    uint8_t data[24];
    for (int i = 0; i < 6; i++)
        put_be(data + 4 * i, f32_bits(V6[i]), 4);
    NpyArray a;
    char err[128];
    CU_ASSERT_TRUE_FATAL(parse_with(1, "{'descr': '>f4', 'fortran_order': False, 'shape': (6,), }",
                                    data, 24, &a, err, sizeof err));
    for (int i = 0; i < 6; i++)
        CU_ASSERT_EQUAL(f32_bits(a.data[i]), f32_bits(V6[i]));
    npy_free(&a);
    uint64_t u;
    double x = -1234.5;
    memcpy(&u, &x, 8);
    put_be(data, u, 8);
    CU_ASSERT_TRUE_FATAL(parse_with(2, "{'descr': '>f8', 'fortran_order': False, 'shape': (), }",
                                    data, 8, &a, err, sizeof err));
    CU_ASSERT_EQUAL(a.data[0], -1234.5f);
    npy_free(&a);
}

static void test_npy_native_order_markers(void) {
    /* '=', '|' and no marker mean this machine's order. */
    uint8_t data[4];
    float one = 1.0f;
    memcpy(data, &one, 4);
    const char *headers[] = {
        "{'descr': '=f4', 'fortran_order': False, 'shape': (1,), }",
        "{'descr': '|f4', 'fortran_order': False, 'shape': (1,), }",
        "{'descr': 'f4', 'fortran_order': False, 'shape': (1,), }",
    };
    for (int i = 0; i < 3; i++) {
        NpyArray a;
        char err[128] = "";
        CU_ASSERT_TRUE(parse_with(1, headers[i], data, 4, &a, err, sizeof err));
        CU_ASSERT_STRING_EQUAL(err, "");
        CU_ASSERT_EQUAL(a.numel, 1);
        if (a.data)
            CU_ASSERT_EQUAL(a.data[0], 1.0f);
        npy_free(&a);
    }
}

static void test_npy_scalar_and_empty(void) {
    uint8_t data[4];
    float v = 7.5f;
    f32_data(data, &v, 1);
    NpyArray a;
    char err[128];
    CU_ASSERT_TRUE_FATAL(parse_with(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }",
                                    data, 4, &a, err, sizeof err));
    CU_ASSERT_EQUAL(a.rank, 0);
    CU_ASSERT_EQUAL(a.numel, 1);
    CU_ASSERT_EQUAL(a.data[0], 7.5f);
    npy_free(&a);
    CU_ASSERT_TRUE_FATAL(parse_with(1,
                                    "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }",
                                    NULL, 0, &a, err, sizeof err));
    CU_ASSERT_EQUAL(a.rank, 2);
    CU_ASSERT_EQUAL(a.numel, 0);
    CU_ASSERT_PTR_NOT_NULL(a.data);
    npy_free(&a);
}

static void test_npy_header_variants(void) {
    uint8_t data[24];
    f32_data(data, V6, 6);
    const char *ok6[] = {
        "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2, 3)}",
        "{'shape': (2, 3), 'descr': '<f4', 'fortran_order': False}",
        "{'fortran_order':False,'shape':(2,3),'descr':'<f4',}",
        "  {  'descr' :  '<f4' ,\n 'fortran_order' : False , 'shape' : ( 2 , 3 , ) , }  \n",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }         \n",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (6), }\n",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }\n\0\0",
    };
    for (size_t i = 0; i < sizeof ok6 / sizeof ok6[0]; i++) {
        NpyArray a;
        char err[128] = "";
        bool ok = parse_with(1, ok6[i], data, 24, &a, err, sizeof err);
        if (!ok)
            fprintf(stderr, "\nheader %zu: %s\n", i, err);
        CU_ASSERT_TRUE(ok);
        CU_ASSERT_EQUAL(a.numel, 6);
        for (int k = 0; ok && k < 6; k++)
            CU_ASSERT_EQUAL(f32_bits(a.data[k]), f32_bits(V6[k]));
        npy_free(&a);
    }
}

/* ---- errors ---------------------------------------------------------------------------- */

static void test_npy_fortran_order_rejected(void) {
    NpyArray a;
    char err[128];
    uint8_t data[24] = {0};
    CU_ASSERT_FALSE(parse_with(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
                               data, 24, &a, err, sizeof err));
    CU_ASSERT_STRING_EQUAL(err, "Fortran-order arrays are not supported");
}

static void test_npy_unsupported_dtypes(void) {
    NpyArray a;
    char err[128];
    uint8_t data[32] = {0};
    CU_ASSERT_FALSE(parse_with(1, "{'descr': '<i8', 'fortran_order': False, 'shape': (4,), }", data,
                               32, &a, err, sizeof err));
    CU_ASSERT_STRING_EQUAL(err, "unsupported dtype '<i8' (expected float32 or float64)");
    expect_error("{'descr': '<f2', 'fortran_order': False, 'shape': (4,), }", 8,
                 "unsupported dtype '<f2'");
    expect_error("{'descr': '<c8', 'fortran_order': False, 'shape': (4,), }", 32,
                 "unsupported dtype '<c8'");
    expect_error("{'descr': '|u1', 'fortran_order': False, 'shape': (4,), }", 4,
                 "unsupported dtype '|u1'");
    expect_error("{'descr': '<f4 ', 'fortran_order': False, 'shape': (4,), }", 16,
                 "unsupported dtype '<f4 '");
    expect_error("{'descr': '', 'fortran_order': False, 'shape': (4,), }", 16,
                 "unsupported dtype ''");
    expect_error("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (4,), }", 16,
                 "unsupported dtype: structured arrays are not supported");
    expect_error("{'descr': 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\x01', "
                 "'fortran_order': False, 'shape': (4,), }",
                 16, "unsupported dtype 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...'");
}

static void test_npy_bad_magic_and_version(void) {
    NpyArray a;
    char err[128];
    size_t size;
    uint8_t *b = make(1, H23, V6, 24, &size);
    b[1] = 'n';
    CU_ASSERT_FALSE(npy_parse(b, size, &a, err, sizeof err));
    CU_ASSERT_STRING_EQUAL(err, "not a .npy file (bad magic bytes)");
    b[1] = 'N';
    b[6] = 4;
    CU_ASSERT_FALSE(npy_parse(b, size, &a, err, sizeof err));
    CU_ASSERT_STRING_EQUAL(err, "unsupported .npy format version 4.0");
    b[6] = 1;
    b[7] = 1;
    CU_ASSERT_FALSE(npy_parse(b, size, &a, err, sizeof err));
    CU_ASSERT_STRING_EQUAL(err, "unsupported .npy format version 1.1");
    b[6] = 0;
    b[7] = 0;
    CU_ASSERT_FALSE(npy_parse(b, size, &a, err, sizeof err));
    CU_ASSERT_STRING_EQUAL(err, "unsupported .npy format version 0.0");
    free(b);
    CU_ASSERT_FALSE(npy_parse((const uint8_t *)"PK\3\4", 4, &a, err, sizeof err));
    CU_ASSERT_STRING_EQUAL(err, "not a .npy file (bad magic bytes)");
    CU_ASSERT_FALSE(npy_parse(NULL, 0, &a, err, sizeof err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "truncated"));
}

static void test_npy_malformed_headers(void) {
    expect_error("{'descr': '<f4', 'shape': (4,), }", 16, "no 'fortran_order' key");
    expect_error("{'fortran_order': False, 'shape': (4,), }", 16, "no 'descr' key");
    expect_error("{'descr': '<f4', 'fortran_order': False}", 16, "no 'shape' key");
    expect_error("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", 16,
                 "'descr' appears twice");
    expect_error("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), 'shape': (4,)}", 16,
                 "'shape' appears twice");
    expect_error("{'descr': '<f4', 'fortran_order': False, 'fortran_order': False, "
                 "'shape': (4,)}",
                 16, "'fortran_order' appears twice");
    expect_error("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), 'extra': 1}", 16,
                 "unexpected key 'extra'");
    expect_error("{'descr': '<f4', 'fortran_order': 0, 'shape': (4,), }", 16,
                 "'fortran_order' is not True or False");
    expect_error("{'descr': '<f4', 'fortran_order': Falsey, 'shape': (4,), }", 16,
                 "'fortran_order' is not True or False");
    expect_error("{'descr': '<f4', 'fortran_order': False, 'shape': [4], }", 16,
                 "'shape' is not a tuple");
    expect_error("{'descr': '<f4', 'fortran_order': False, 'shape': (-4,), }", 16,
                 "bad dimension in 'shape'");
    expect_error("{'descr': '<f4', 'fortran_order': False, 'shape': (4,,), }", 16,
                 "bad dimension in 'shape'");
    expect_error("{'descr': '<f4', 'fortran_order': False, 'shape': (4 4), }", 16,
                 "bad 'shape' tuple");
    expect_error("{'descr': '<f4', 'fortran_order': False, 'shape': (4,", 16, "malformed header");
    expect_error("{'descr': '<f4, 'fortran_order': False, 'shape': (4,), }", 16,
                 "malformed header");
    expect_error("{'descr': '<f4' 'fortran_order': False, 'shape': (4,), }", 16,
                 "expected ',' or '}'");
    expect_error("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), } x", 16,
                 "unexpected text after the dict");
    expect_error("'descr': '<f4', 'fortran_order': False, 'shape': (4,)", 16, "not a Python dict");
    expect_error("", 16, "not a Python dict");
    expect_error("{descr: '<f4', 'fortran_order': False, 'shape': (4,), }", 16,
                 "expected a quoted key");
}

static void test_npy_data_size_mismatch(void) {
    uint8_t data[28];
    f32_data(data, V6, 6);
    NpyArray a;
    char err[128];
    CU_ASSERT_FALSE(parse_with(1, H23, data, 20, &a, err, sizeof err));
    CU_ASSERT_STRING_EQUAL(err, "truncated: expected 24 bytes of data, found 20");
    CU_ASSERT_FALSE(parse_with(1, H23, data, 28, &a, err, sizeof err));
    CU_ASSERT_STRING_EQUAL(err, "expected 24 bytes of data, found 28 (extra bytes after the "
                                "array)");
    CU_ASSERT_FALSE(parse_with(1, H23, data, 0, &a, err, sizeof err));
    CU_ASSERT_STRING_EQUAL(err, "truncated: expected 24 bytes of data, found 0");
}

static bool every_prefix_fails(const uint8_t *full, size_t size) {
    bool all = true;
    for (size_t cut = 0; cut < size; cut++) {
        uint8_t *b = malloc(cut ? cut : 1);
        memcpy(b, full, cut);
        NpyArray a;
        char err[128] = "";
        bool ok = npy_parse(b, cut, &a, err, sizeof err);
        all &= !ok && a.data == NULL && err[0] != 0;
        free(b);
    }
    return all;
}

static void test_npy_every_prefix_fails(void) {
    uint8_t data[24];
    f32_data(data, V6, 6);
    for (int major = 1; major <= 3; major++) {
        size_t size;
        uint8_t *full = make(major, H23, data, 24, &size);
        CU_ASSERT_TRUE(every_prefix_fails(full, size));
        NpyArray a;
        char err[128];
        CU_ASSERT_TRUE(npy_parse(full, size, &a, err, sizeof err));
        npy_free(&a);
        free(full);
    }
}

static void test_npy_header_length_past_end(void) {
    NpyArray a;
    char err[160];
    size_t size;
    uint8_t *b = make(1, H23, V6, 24, &size);
    put_le(b + 8, 0xffff, 2);
    CU_ASSERT_FALSE(npy_parse(b, size, &a, err, sizeof err));
    CU_ASSERT_STRING_EQUAL(err, "truncated: header length 65535 runs past the end of the file "
                                "(93 bytes)");
    free(b);
    b = make(2, H23, V6, 24, &size);
    put_le(b + 8, 0xffffffffu, 4);
    CU_ASSERT_FALSE(npy_parse(b, size, &a, err, sizeof err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "header length 4294967295 runs past the end"));
    /* In range but over the header limit. */
    size_t big = 12 + (2u << 20);
    uint8_t *h = calloc(1, big);
    memcpy(h, b, 12);
    put_le(h + 8, 2u << 20, 4);
    CU_ASSERT_FALSE(npy_parse(h, big, &a, err, sizeof err));
    CU_ASSERT_STRING_EQUAL(err, "header is too large (2097152 bytes)");
    free(h);
    free(b);
}

static void test_npy_shape_overflow(void) {
    expect_error("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4), }",
                 0, "shape has too many elements");
    expect_error("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", 0,
                 "shape dimension is too large");
    expect_error("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967297,), }", 0,
                 "array is too large (4294967297 elements; the limit is 17179869184 bytes)");
    expect_error("{'descr': '<f8', 'fortran_order': False, 'shape': (2147483649,), }", 0,
                 "array is too large");
    /* A zero dimension makes the product zero wherever it is: an empty array, not overflow. */
    NpyArray a;
    char err[128];
    CU_ASSERT_TRUE(parse_with(1,
                              "{'descr': '<f4', 'fortran_order': False, "
                              "'shape': (4294967296, 4294967296, 0), }",
                              NULL, 0, &a, err, sizeof err));
    CU_ASSERT_EQUAL(a.numel, 0);
    npy_free(&a);
}

static void test_npy_rank_limit(void) {
    expect_error("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1, 1, 1), }",
                 4, "arrays with more than 8 dimensions are not supported");
    NpyArray a;
    char err[128];
    float v = 2.0f;
    uint8_t data[4];
    f32_data(data, &v, 1);
    CU_ASSERT_TRUE(parse_with(1,
                              "{'descr': '<f4', 'fortran_order': False, "
                              "'shape': (1, 1, 1, 1, 1, 1, 1, 1), }",
                              data, 4, &a, err, sizeof err));
    CU_ASSERT_EQUAL(a.rank, 8);
    npy_free(&a);
}

static void test_npy_small_error_buffer(void) {
    NpyArray a;
    char err[8];
    memset(err, 'x', sizeof err);
    CU_ASSERT_FALSE(npy_parse((const uint8_t *)"junk", 4, &a, err, sizeof err));
    CU_ASSERT_EQUAL(err[7], 0);
    CU_ASSERT_STRING_EQUAL(err, "not a .");
    CU_ASSERT_FALSE(npy_parse((const uint8_t *)"junk", 4, &a, NULL, 0));
    npy_free(&a);
    npy_free(&a);
    npy_free(NULL);
}

/* Random corruptions: any outcome but a crash, a leak or an out-of-bounds read. */
static void test_npy_mutations_never_crash(void) {
    uint8_t data[24];
    f32_data(data, V6, 6);
    size_t size;
    uint8_t *orig = make(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }   \n",
                         data, 24, &size);
    uint32_t seed = 99;
    for (int iter = 0; iter < 5000; iter++) {
        uint8_t *b = malloc(size);
        memcpy(b, orig, size);
        for (int k = 0; k <= iter % 3; k++) {
            seed ^= seed << 13, seed ^= seed >> 17, seed ^= seed << 5;
            static const char pool[] = "0123456789(),:'\"<>=|f48 {}TrueFalsL\n\xff";
            uint8_t pick = (uint8_t)pool[(seed >> 8) % (sizeof pool - 1)];
            b[seed % size] = iter % 2 ? (uint8_t)(seed >> 8) : pick;
        }
        NpyArray a;
        char err[128] = "";
        if (npy_parse(b, size, &a, err, sizeof err)) {
            CU_ASSERT_TRUE(a.numel <= 6);
            npy_free(&a);
        } else {
            CU_ASSERT_TRUE(err[0] != 0);
        }
        free(b);
    }
    free(orig);
}

/* ---- files ------------------------------------------------------------------------------ */

static void test_npy_round_trip(void) {
    char dir[] = "/tmp/nnd_npy_XXXXXX";
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/x.npy", dir);
    const float v[8] = {1, -0.0f, INFINITY, -INFINITY, NAN, FLT_MIN / 4, FLT_MAX, 0.1f};
    const int64_t shapes[][MAX_RANK] = {{0}, {8}, {2, 4}, {2, 1, 2, 1, 2, 1, 1, 1}, {0, 5}};
    const int ranks[] = {0, 1, 2, 8, 2};
    for (int s = 0; s < 5; s++) {
        char err[128] = "";
        CU_ASSERT_TRUE_FATAL(npy_write(path, ranks[s], shapes[s], v, err, sizeof err));
        /* Version 1.0, data 64-byte aligned, header ending in a newline. */
        FILE *f = fopen(path, "rb");
        uint8_t pre[10];
        CU_ASSERT_EQUAL_FATAL(fread(pre, 1, 10, f), 10);
        fclose(f);
        CU_ASSERT_EQUAL(memcmp(pre, "\x93NUMPY\x01\x00", 8), 0);
        size_t hlen = (size_t)(pre[8] | pre[9] << 8);
        CU_ASSERT_EQUAL((10 + hlen) % 64, 0);
        NpyArray a;
        CU_ASSERT_TRUE_FATAL(npy_read(path, &a, err, sizeof err));
        CU_ASSERT_EQUAL(a.rank, ranks[s]);
        int64_t numel = 1;
        for (int k = 0; k < ranks[s]; k++) {
            CU_ASSERT_EQUAL(a.shape[k], shapes[s][k]);
            numel *= shapes[s][k];
        }
        CU_ASSERT_EQUAL(a.numel, numel);
        for (int64_t k = 0; k < numel; k++)
            CU_ASSERT_EQUAL(f32_bits(a.data[k]), f32_bits(v[k]));
        npy_free(&a);
    }
    CU_ASSERT_EQUAL(unlink(path), 0);
    CU_ASSERT_EQUAL(rmdir(dir), 0);
}

static void test_npy_read_errors(void) {
    NpyArray a;
    char err[160];
    CU_ASSERT_FALSE(npy_read("/nonexistent/x.npy", &a, err, sizeof err));
    CU_ASSERT_STRING_EQUAL(err, "cannot open: No such file or directory");
    CU_ASSERT_FALSE(npy_read("/tmp", &a, err, sizeof err));
    CU_ASSERT_STRING_EQUAL(err, "cannot read: it is a directory");
    /* Every prefix of a file on disk fails too, through the streaming reader. */
    char dir[] = "/tmp/nnd_npy_XXXXXX";
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/x.npy", dir);
    CU_ASSERT_TRUE_FATAL(npy_write(path, 1, (const int64_t[]){6}, V6, err, sizeof err));
    FILE *f = fopen(path, "rb");
    uint8_t full[256];
    size_t size = fread(full, 1, sizeof full, f);
    fclose(f);
    CU_ASSERT_EQUAL_FATAL(size, 128 + 24);
    bool all = true;
    for (size_t cut = 0; cut < size; cut++) {
        f = fopen(path, "wb");
        fwrite(full, 1, cut, f);
        fclose(f);
        err[0] = 0;
        all &= !npy_read(path, &a, err, sizeof err) && a.data == NULL && err[0];
    }
    CU_ASSERT_TRUE(all);
    f = fopen(path, "wb");
    fwrite(full, 1, size, f);
    fwrite("extra", 1, 5, f);
    fclose(f);
    CU_ASSERT_FALSE(npy_read(path, &a, err, sizeof err));
    CU_ASSERT_STRING_EQUAL(err, "expected 24 bytes of data, found 29 (extra bytes after the "
                                "array)");
    CU_ASSERT_EQUAL(unlink(path), 0);
    CU_ASSERT_EQUAL(rmdir(dir), 0);
}

static void test_npy_write_errors(void) {
    char err[160];
    const int64_t neg[] = {-1}, ok[] = {2};
    CU_ASSERT_FALSE(npy_write("/nonexistent/x.npy", 1, ok, V6, err, sizeof err));
    CU_ASSERT_STRING_EQUAL(err, "cannot write: No such file or directory");
    CU_ASSERT_FALSE(npy_write("/tmp/unused.npy", 1, neg, V6, err, sizeof err));
    CU_ASSERT_STRING_EQUAL(err, "cannot write: invalid shape");
    CU_ASSERT_FALSE(npy_write("/tmp/unused.npy", 9, ok, V6, err, sizeof err));
    CU_ASSERT_STRING_EQUAL(err, "cannot write: rank 9 is not supported");
    CU_ASSERT_FALSE(npy_write("/tmp/unused.npy", 1, ok, NULL, err, sizeof err));
    CU_ASSERT_STRING_EQUAL(err, "cannot write: no data");
}

/* ---- against NumPy ------------------------------------------------------------------------ */

static void test_npy_reads_numpy_files(void) {
    NpyArray a;
    char err[160] = "";
    CU_ASSERT_TRUE_FATAL(npy_read(SAMPLES "f32_2x3.npy", &a, err, sizeof err));
    CU_ASSERT_EQUAL(a.rank, 2);
    CU_ASSERT_EQUAL(a.shape[0], 2);
    CU_ASSERT_EQUAL(a.shape[1], 3);
    for (int i = 0; i < 6; i++)
        CU_ASSERT_EQUAL(f32_bits(a.data[i]), f32_bits(V6[i]));
    npy_free(&a);

    CU_ASSERT_TRUE_FATAL(npy_read(SAMPLES "f64_vec.npy", &a, err, sizeof err));
    CU_ASSERT_EQUAL(a.rank, 1);
    CU_ASSERT_EQUAL(a.numel, 5);
    CU_ASSERT_EQUAL(a.data[0], 0.1f);
    CU_ASSERT_EQUAL(a.data[1], -2.5f);
    CU_ASSERT_TRUE(isinf(a.data[2]) && a.data[2] > 0);
    CU_ASSERT_EQUAL(f32_bits(a.data[3]), 0u);
    CU_ASSERT_TRUE(isinf(a.data[4]) && a.data[4] < 0);
    npy_free(&a);

    CU_ASSERT_TRUE_FATAL(npy_read(SAMPLES "be_f4.npy", &a, err, sizeof err));
    CU_ASSERT_EQUAL(a.numel, 4);
    CU_ASSERT_EQUAL(a.data[0], 1.0f);
    CU_ASSERT_EQUAL(a.data[1], -0.5f);
    CU_ASSERT_EQUAL(a.data[2], 65504.0f);
    CU_ASSERT_EQUAL(a.data[3], 3.4028235e38f);
    npy_free(&a);

    CU_ASSERT_TRUE_FATAL(npy_read(SAMPLES "scalar.npy", &a, err, sizeof err));
    CU_ASSERT_EQUAL(a.rank, 0);
    CU_ASSERT_EQUAL(a.numel, 1);
    CU_ASSERT_EQUAL(a.data[0], 7.5f);
    npy_free(&a);

    CU_ASSERT_TRUE_FATAL(npy_read(SAMPLES "v2_f32.npy", &a, err, sizeof err));
    CU_ASSERT_EQUAL(a.numel, 3);
    CU_ASSERT_EQUAL(a.data[2], 3.0f);
    npy_free(&a);

    CU_ASSERT_TRUE_FATAL(npy_read(SAMPLES "v3_f32.npy", &a, err, sizeof err));
    CU_ASSERT_EQUAL(a.rank, 2);
    CU_ASSERT_EQUAL(a.shape[0], 2);
    CU_ASSERT_EQUAL(a.shape[1], 1);
    CU_ASSERT_EQUAL(a.data[1], 5.0f);
    npy_free(&a);

    CU_ASSERT_FALSE(npy_read(SAMPLES "fortran.npy", &a, err, sizeof err));
    CU_ASSERT_STRING_EQUAL(err, "Fortran-order arrays are not supported");
    CU_ASSERT_FALSE(npy_read(SAMPLES "i64.npy", &a, err, sizeof err));
    CU_ASSERT_STRING_EQUAL(err, "unsupported dtype '<i8' (expected float32 or float64)");
}

/* npy_write produces the very bytes np.save does. */
static void test_npy_write_matches_numpy(void) {
    char dir[] = "/tmp/nnd_npy_XXXXXX";
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    char path[64], err[128];
    snprintf(path, sizeof path, "%s/x.npy", dir);
    struct {
        const char *sample;
        int rank;
        int64_t shape[2];
        float v[6];
    } cases[] = {
        {SAMPLES "f32_2x3.npy", 2, {2, 3}, {1.5f, -2.0f, 0.25f, 3.0f, 1e-3f, -0.0f}},
        {SAMPLES "scalar.npy", 0, {0}, {7.5f}},
        {SAMPLES "v2_f32.npy", 1, {3}, {1, 2, 3}}, /* same array, but version 1.0 */
    };
    for (int i = 0; i < 3; i++) {
        CU_ASSERT_TRUE_FATAL(
            npy_write(path, cases[i].rank, cases[i].shape, cases[i].v, err, sizeof err));
        uint8_t mine[512], theirs[512];
        FILE *f = fopen(path, "rb");
        size_t n1 = fread(mine, 1, sizeof mine, f);
        fclose(f);
        f = fopen(cases[i].sample, "rb");
        CU_ASSERT_PTR_NOT_NULL_FATAL(f);
        size_t n2 = fread(theirs, 1, sizeof theirs, f);
        fclose(f);
        if (i < 2) {
            CU_ASSERT_EQUAL(n1, n2);
            CU_ASSERT_EQUAL(memcmp(mine, theirs, n1 < n2 ? n1 : n2), 0);
        } else {
            /* Version 2.0 has a 4-byte length: the same dict, 2 bytes less padding. */
            CU_ASSERT_EQUAL(memcmp(mine + n1 - 12, theirs + n2 - 12, 12), 0);
        }
    }
    CU_ASSERT_EQUAL(unlink(path), 0);
    CU_ASSERT_EQUAL(rmdir(dir), 0);
}

NND_SUITE("npy", test_npy_f32_each_version, test_npy_f64_converted, test_npy_big_endian,
          test_npy_native_order_markers, test_npy_scalar_and_empty, test_npy_header_variants,
          test_npy_fortran_order_rejected, test_npy_unsupported_dtypes,
          test_npy_bad_magic_and_version, test_npy_malformed_headers, test_npy_data_size_mismatch,
          test_npy_every_prefix_fails, test_npy_header_length_past_end, test_npy_shape_overflow,
          test_npy_rank_limit, test_npy_small_error_buffer, test_npy_mutations_never_crash,
          test_npy_round_trip, test_npy_read_errors, test_npy_write_errors,
          test_npy_reads_numpy_files, test_npy_write_matches_numpy)
