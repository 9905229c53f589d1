/* test_safetensors.c: the safetensors reader and writer (compiler/weights/safetensors.c).
 *
 * Files are built in memory, each in a malloc'd block of exactly its size so that a sanitizer
 * build catches any read past the end; the I/O tests use a mkdtemp directory. */
#define _POSIX_C_SOURCE 200809L
#include "safetensors.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unit_harness.h"

static const SrcLoc AT = {"m.nnd", 3, 3, 10};

typedef struct Fx {
    Arena *a;
    Diag *d;
    uint8_t *buf;
    StFile f;
    bool ok;
} Fx;

static void put_le(uint8_t *p, uint64_t v, int n) {
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> 8 * i);
}

static void put_f32(uint8_t *p, float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    put_le(p, u, 4);
}

static void put_f64(uint8_t *p, double x) {
    uint64_t u;
    memcpy(&u, &x, 8);
    put_le(p, u, 8);
}

static uint32_t f32_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}

/* The file: 8-byte length, the header text, then dlen bytes of data. */
static uint8_t *build(const char *json, const void *data, size_t dlen, size_t *size) {
    size_t h = strlen(json);
    *size = 8 + h + dlen;
    uint8_t *b = malloc(*size ? *size : 1);
    put_le(b, h, 8);
    memcpy(b + 8, json, h);
    if (dlen)
        memcpy(b + 8 + h, data, dlen);
    return b;
}

static Fx parse_buf(uint8_t *buf, size_t size) {
    Fx x = {0};
    x.a = arena_new();
    x.d = diag_new(x.a);
    x.buf = buf;
    x.ok = st_parse(x.a, x.d, AT, "w.safetensors", buf, size, &x.f);
    return x;
}

static Fx parse(const char *json, const void *data, size_t dlen) {
    size_t size;
    uint8_t *b = build(json, data, dlen, &size);
    return parse_buf(b, size);
}

static void done(Fx *x) {
    arena_free(x->a);
    free(x->buf);
}

/* Every diagnostic is an error at the weights statement. */
static bool all_at_weights(const Diag *d) {
    const char *t = diag_text(d);
    int errors = 0;
    for (const char *line = t; *line;) {
        const char *nl = strchr(line, '\n');
        if (strncmp(line, "m.nnd:3:3: error: ", 18) == 0)
            errors++;
        else if (strncmp(line, "error: too many errors", 22) != 0)
            return false;
        line = nl ? nl + 1 : line + strlen(line);
    }
    return errors == diag_count(d);
}

static bool has_msg(const Diag *d, const char *part) {
    for (int i = 0; i < diag_count(d); i++)
        if (strstr(diag_message(d, i), part))
            return true;
    return false;
}

/* One tensor of `n` elements of dtype `dt` occupying the whole data block of dlen bytes. */
static Fx one_tensor(const char *dt, const char *shape, const void *data, size_t dlen) {
    char json[256];
    snprintf(json, sizeof json, "{\"t\":{\"dtype\":\"%s\",\"shape\":%s,\"data_offsets\":[0,%zu]}}",
             dt, shape, dlen);
    return parse(json, data, dlen);
}

static void expect_one_error(const char *json, size_t dlen, const char *part) {
    uint8_t *data = calloc(1, dlen ? dlen : 1);
    Fx x = parse(json, data, dlen);
    CU_ASSERT_FALSE(x.ok);
    CU_ASSERT_EQUAL(diag_count(x.d), 1);
    if (!has_msg(x.d, part))
        fprintf(stderr, "\nheader %s: wanted '%s', got:\n%s", json, part, diag_text(x.d));
    CU_ASSERT_TRUE(has_msg(x.d, part));
    CU_ASSERT_TRUE(all_at_weights(x.d));
    done(&x);
    free(data);
}

/* ---- valid files ------------------------------------------------------------------------ */

static void test_safetensors_f32_values(void) {
    const float v[6] = {1.5f, -0.0f, INFINITY, -INFINITY, FLT_MIN / 8, FLT_MAX};
    uint8_t data[28];
    for (int i = 0; i < 6; i++)
        put_f32(data + 4 * i, v[i]);
    put_le(data + 24, 0x7fc00123u, 4); /* a nan with a payload */
    Fx x = parse("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[24,28]}}",
                 data, sizeof data);
    CU_ASSERT_TRUE_FATAL(x.ok);
    CU_ASSERT_EQUAL(diag_count(x.d), 0);
    CU_ASSERT_EQUAL_FATAL(x.f.ntensors, 2);
    const StTensor *a = &x.f.tensors[0], *b = &x.f.tensors[1];
    CU_ASSERT_STRING_EQUAL(a->name, "a");
    CU_ASSERT_EQUAL(a->dtype, ST_F32);
    CU_ASSERT_STRING_EQUAL(a->dtype_name, "F32");
    CU_ASSERT_EQUAL(a->rank, 2);
    CU_ASSERT_EQUAL(a->shape[0], 2);
    CU_ASSERT_EQUAL(a->shape[1], 3);
    CU_ASSERT_EQUAL(a->numel, 6);
    CU_ASSERT_EQUAL(a->nbytes, 24);
    CU_ASSERT_FALSE(a->used);
    CU_ASSERT_PTR_EQUAL(a->data, x.buf + x.f.size - 28);
    float out[6];
    CU_ASSERT_TRUE(st_to_f32(a, out));
    for (int i = 0; i < 6; i++)
        CU_ASSERT_EQUAL(f32_bits(out[i]), f32_bits(v[i]));
    CU_ASSERT_TRUE(st_to_f32(b, out));
    CU_ASSERT_EQUAL(f32_bits(out[0]), 0x7fc00123u);
    CU_ASSERT_PTR_EQUAL(b->data, a->data + 24);
    done(&x);
}

static void test_safetensors_f64_converted(void) {
    const double limit = ldexp(1, 128) - ldexp(1, 103); /* halfway from FLT_MAX to 2^128 */
    const double v[10] = {
        0.1, -2.5, 1e300, -1e300, ldexp(1, -1074), FLT_MAX, limit - ldexp(1, 80), limit, -0.0, NAN};
    uint8_t data[80];
    for (int i = 0; i < 10; i++)
        put_f64(data + 8 * i, v[i]);
    Fx x = one_tensor("F64", "[10]", data, sizeof data);
    CU_ASSERT_TRUE_FATAL(x.ok);
    CU_ASSERT_EQUAL(x.f.tensors[0].dtype, ST_F64);
    float out[10];
    CU_ASSERT_TRUE_FATAL(st_to_f32(&x.f.tensors[0], out));
    CU_ASSERT_EQUAL(out[0], 0.1f);
    CU_ASSERT_EQUAL(out[1], -2.5f);
    CU_ASSERT_TRUE(isinf(out[2]) && out[2] > 0);
    CU_ASSERT_TRUE(isinf(out[3]) && out[3] < 0);
    CU_ASSERT_EQUAL(f32_bits(out[4]), 0u);
    CU_ASSERT_EQUAL(out[5], FLT_MAX);
    CU_ASSERT_EQUAL(out[6], FLT_MAX); /* just under the rounding boundary */
    CU_ASSERT_TRUE(isinf(out[7]));    /* on it: ties to even rounds up */
    CU_ASSERT_EQUAL(f32_bits(out[8]), 0x80000000u);
    CU_ASSERT_TRUE(isnan(out[9]));
    done(&x);
}

/* Every half value, against a reference built from the definition with ldexp. */
static void test_safetensors_f16_exhaustive(void) {
    uint8_t *data = malloc(2 * 65536);
    for (uint32_t h = 0; h < 65536; h++)
        put_le(data + 2 * h, h, 2);
    Fx x = one_tensor("F16", "[256, 256]", data, 2 * 65536);
    CU_ASSERT_TRUE_FATAL(x.ok);
    float *out = malloc(sizeof(float) * 65536);
    CU_ASSERT_TRUE_FATAL(st_to_f32(&x.f.tensors[0], out));
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        uint32_t s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
        uint32_t want;
        if (e == 31)
            want = s << 31 | 0x7f800000u | m << 13; /* inf, or nan with its payload */
        else {
            double mag = e ? ldexp(1024 + m, (int)e - 25) : ldexp(m, -24);
            want = f32_bits((float)(s ? -mag : mag));
        }
        bad += f32_bits(out[h]) != want;
    }
    CU_ASSERT_EQUAL(bad, 0);
    /* A few by value. */
    CU_ASSERT_EQUAL(out[0x3c00], 1.0f);
    CU_ASSERT_EQUAL(out[0xc000], -2.0f);
    CU_ASSERT_EQUAL(out[0x7bff], 65504.0f);
    CU_ASSERT_EQUAL(out[0x0001], ldexpf(1, -24)); /* smallest subnormal */
    CU_ASSERT_EQUAL(out[0x03ff], ldexpf(1023, -24));
    CU_ASSERT_EQUAL(out[0x0400], ldexpf(1, -14));
    CU_ASSERT_TRUE(isinf(out[0x7c00]) && out[0x7c00] > 0);
    CU_ASSERT_TRUE(isinf(out[0xfc00]) && out[0xfc00] < 0);
    CU_ASSERT_TRUE(isnan(out[0x7e00]));
    CU_ASSERT_EQUAL(f32_bits(out[0x8000]), 0x80000000u);
    free(out);
    free(data);
    done(&x);
}

static void test_safetensors_bf16_exhaustive(void) {
    uint8_t *data = malloc(2 * 65536);
    for (uint32_t h = 0; h < 65536; h++)
        put_le(data + 2 * h, h, 2);
    Fx x = one_tensor("BF16", "[65536]", data, 2 * 65536);
    CU_ASSERT_TRUE_FATAL(x.ok);
    CU_ASSERT_EQUAL(x.f.tensors[0].dtype, ST_BF16);
    float *out = malloc(sizeof(float) * 65536);
    CU_ASSERT_TRUE_FATAL(st_to_f32(&x.f.tensors[0], out));
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++)
        bad += f32_bits(out[h]) != h << 16;
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(out[0x3f80], 1.0f);
    CU_ASSERT_EQUAL(out[0x4049], 3.140625f);
    CU_ASSERT_EQUAL(out[0x0001], ldexpf(1, -133)); /* subnormal */
    CU_ASSERT_TRUE(isinf(out[0x7f80]) && out[0x7f80] > 0);
    CU_ASSERT_TRUE(isinf(out[0xff80]) && out[0xff80] < 0);
    CU_ASSERT_TRUE(isnan(out[0x7fc0]));
    CU_ASSERT_EQUAL(f32_bits(out[0x8000]), 0x80000000u);
    free(out);
    free(data);
    done(&x);
}

static void test_safetensors_empty_header(void) {
    Fx x = parse("{}", NULL, 0);
    CU_ASSERT_TRUE(x.ok);
    CU_ASSERT_EQUAL(x.f.ntensors, 0);
    CU_ASSERT_EQUAL(diag_count(x.d), 0);
    CU_ASSERT_PTR_NULL(st_find(&x.f, "a"));
    done(&x);
    x = parse("  {  }      \n", NULL, 0); /* the reference pads headers with spaces */
    CU_ASSERT_TRUE(x.ok);
    done(&x);
}

static void test_safetensors_metadata(void) {
    uint8_t data[4] = {0};
    Fx x = parse("{\"__metadata__\":{\"format\":\"pt\",\"x\":\"y\"},"
                 "\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}",
                 data, 4);
    CU_ASSERT_TRUE(x.ok);
    CU_ASSERT_EQUAL(x.f.ntensors, 1);
    CU_ASSERT_PTR_NULL(st_find(&x.f, "__metadata__"));
    done(&x);
    expect_one_error("{\"__metadata__\":[1]}", 0, "\"__metadata__\" must be an object of strings");
    expect_one_error("{\"__metadata__\":{\"n\":1}}", 0, "\"__metadata__\" must be an object");
    expect_one_error("{\"__metadata__\":{},\"__metadata__\":{}}", 0,
                     "\"__metadata__\" appears 2 times");
}

static void test_safetensors_scalar_and_empty_tensors(void) {
    uint8_t data[8];
    put_f32(data, 7.5f);
    put_f32(data + 4, -1.0f);
    Fx x = parse("{\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
                 "\"e\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[2,2]},"
                 "\"z\":{\"dtype\":\"F16\",\"shape\":[5,0],\"data_offsets\":[8,8]},"
                 "\"t\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1],\"data_offsets\":[4,8]}}",
                 data, 8);
    CU_ASSERT_TRUE_FATAL(x.ok);
    const StTensor *s = st_find(&x.f, "s"), *e = st_find(&x.f, "e"), *t = st_find(&x.f, "t");
    CU_ASSERT_TRUE_FATAL(s && e && t);
    CU_ASSERT_EQUAL(s->rank, 0);
    CU_ASSERT_EQUAL(s->numel, 1);
    CU_ASSERT_EQUAL(e->numel, 0);
    CU_ASSERT_EQUAL(e->nbytes, 0);
    CU_ASSERT_EQUAL(t->rank, 8);
    float f;
    CU_ASSERT_TRUE(st_to_f32(s, &f));
    CU_ASSERT_EQUAL(f, 7.5f);
    CU_ASSERT_TRUE(st_to_f32(t, &f));
    CU_ASSERT_EQUAL(f, -1.0f);
    CU_ASSERT_TRUE(st_to_f32(e, &f)); /* writes nothing */
    done(&x);
    /* A zero dimension makes the product zero wherever it is: empty, not an overflow. */
    x = parse("{\"h\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,0],"
              "\"data_offsets\":[0,0]}}",
              NULL, 0);
    CU_ASSERT_TRUE(x.ok);
    CU_ASSERT_EQUAL(x.f.tensors[0].numel, 0);
    done(&x);
}

static void test_safetensors_other_dtypes(void) {
    uint8_t data[16] = {0};
    Fx x = parse("{\"n.num_batches_tracked\":"
                 "{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]},"
                 "\"m\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[8,10]},"
                 "\"q\":{\"dtype\":\"F8_E4M3\",\"shape\":[2,2],\"data_offsets\":[10,16]}}",
                 data, 16);
    CU_ASSERT_TRUE_FATAL(x.ok); /* the binder decides what it accepts */
    CU_ASSERT_EQUAL(x.f.tensors[0].dtype, ST_I64);
    CU_ASSERT_EQUAL(x.f.tensors[1].dtype, ST_BOOL);
    CU_ASSERT_EQUAL(x.f.tensors[2].dtype, ST_OTHER);
    CU_ASSERT_STRING_EQUAL(x.f.tensors[2].dtype_name, "F8_E4M3");
    float out[8];
    for (int i = 0; i < 3; i++)
        CU_ASSERT_FALSE(st_to_f32(&x.f.tensors[i], out));
    done(&x);
    const char *names[] = {"I32", "I16", "I8", "U8"};
    const StDtype want[] = {ST_I32, ST_I16, ST_I8, ST_U8};
    const size_t size[] = {4, 2, 1, 1};
    for (int i = 0; i < 4; i++) {
        x = one_tensor(names[i], "[3]", data, 3 * size[i]);
        CU_ASSERT_TRUE(x.ok);
        CU_ASSERT_EQUAL(x.f.tensors[0].dtype, want[i]);
        done(&x);
    }
    /* Known integer dtypes have their byte counts checked too. */
    expect_one_error("{\"t\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
                     "do not match 2 I64 (expected 16 bytes, got 8)");
}

static void test_safetensors_unaligned_data(void) {
    /* A 13-byte header puts the data at offset 21, and the buffer itself is misaligned. */
    const char *json = "{\"a\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]},"
                       "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[16,20]}}";
    uint8_t data[20];
    put_f64(data, 3.25);
    put_f64(data + 8, -1e-3);
    put_f32(data + 16, 42.0f);
    size_t size;
    uint8_t *b = build(json, data, sizeof data, &size);
    uint8_t *odd = malloc(size + 1);
    memcpy(odd + 1, b, size);
    free(b);
    Arena *a = arena_new();
    Diag *d = diag_new(a);
    StFile f;
    CU_ASSERT_TRUE_FATAL(st_parse(a, d, AT, "w", odd + 1, size, &f));
    float out[2];
    CU_ASSERT_TRUE(st_to_f32(st_find(&f, "a"), out));
    CU_ASSERT_EQUAL(out[0], 3.25f);
    CU_ASSERT_EQUAL(out[1], (float)-1e-3);
    CU_ASSERT_TRUE(st_to_f32(st_find(&f, "b"), out));
    CU_ASSERT_EQUAL(out[0], 42.0f);
    arena_free(a);
    free(odd);
}

static void test_safetensors_gaps_allowed(void) {
    uint8_t data[32] = {0};
    Fx x = parse("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]}}",
                 data, 32); /* unused bytes before, between (none) and after */
    CU_ASSERT_TRUE(x.ok);
    done(&x);
}

/* ---- truncation and header length ---------------------------------------------------------- */

static void test_safetensors_truncated_everywhere(void) {
    uint8_t data[24];
    for (int i = 0; i < 6; i++)
        put_f32(data + 4 * i, (float)i);
    size_t size;
    uint8_t *full = build("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}",
                          data, sizeof data, &size);
    for (size_t cut = 0; cut < size; cut++) {
        uint8_t *b = malloc(cut ? cut : 1);
        memcpy(b, full, cut);
        Fx x = parse_buf(b, cut);
        CU_ASSERT_FALSE(x.ok);
        CU_ASSERT_TRUE(diag_count(x.d) >= 1);
        CU_ASSERT_TRUE(all_at_weights(x.d));
        const char *want = cut < 8                    ? "is too short to be a safetensors file"
                           : cut < size - sizeof data ? "runs past the end of the file"
                                                      : "are outside the data block";
        CU_ASSERT_TRUE(has_msg(x.d, want));
        done(&x);
    }
    Fx x = parse_buf(full, size);
    CU_ASSERT_TRUE(x.ok);
    done(&x);
}

static void test_safetensors_header_length_huge(void) {
    uint8_t *b = malloc(16);
    put_le(b, (uint64_t)1 << 60, 8);
    memcpy(b + 8, "{}{}{}{}", 8);
    Fx x = parse_buf(b, 16);
    CU_ASSERT_FALSE(x.ok);
    CU_ASSERT_EQUAL(diag_count(x.d), 1);
    CU_ASSERT_STRING_EQUAL(diag_message(x.d, 0),
                           "weights file 'w.safetensors': header length 1152921504606846976 runs "
                           "past the end of the file (16 bytes): the file is truncated or not a "
                           "safetensors file");
    done(&x);
    b = malloc(16);
    put_le(b, UINT64_MAX, 8);
    memset(b + 8, ' ', 8);
    x = parse_buf(b, 16);
    CU_ASSERT_FALSE(x.ok);
    CU_ASSERT_EQUAL(diag_count(x.d), 1);
    done(&x);
}

static void test_safetensors_header_past_eof(void) {
    size_t size;
    uint8_t *b = build("{}", NULL, 0, &size);
    put_le(b, 3, 8); /* one byte more than there is */
    Fx x = parse_buf(b, size);
    CU_ASSERT_FALSE(x.ok);
    CU_ASSERT_EQUAL(diag_count(x.d), 1);
    CU_ASSERT_TRUE(has_msg(x.d, "header length 3 runs past the end of the file (10 bytes)"));
    done(&x);
}

static void test_safetensors_header_over_limit(void) {
    size_t size = 8 + ST_MAX_HEADER + 1;
    uint8_t *b = calloc(1, size);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    put_le(b, ST_MAX_HEADER + 1, 8);
    Fx x = parse_buf(b, size);
    CU_ASSERT_FALSE(x.ok);
    CU_ASSERT_EQUAL(diag_count(x.d), 1);
    CU_ASSERT_TRUE(has_msg(x.d, "header length 100000001 is over the limit of 100000000 bytes"));
    done(&x);
}

/* ---- bad headers ------------------------------------------------------------------------- */

static void test_safetensors_invalid_json(void) {
    expect_one_error("{\"a\":", 0, "header is not valid JSON");
    expect_one_error("not json", 0, "header is not valid JSON");
    expect_one_error("", 0, "header is not valid JSON");
    expect_one_error("{\"a\":{\"dtype\":\"F32\",}}", 0, "header is not valid JSON");
    expect_one_error("{}}", 0, "unexpected text after the JSON header (at byte 2");
    expect_one_error("[1, 2]", 0, "header is not a JSON object");
    expect_one_error("\"str\"", 0, "header is not a JSON object");
    expect_one_error("null", 0, "header is not a JSON object");
    /* A NUL inside the header. */
    size_t size;
    uint8_t *b = build("{\"a\":1}", NULL, 0, &size);
    b[10] = 0;
    Fx x = parse_buf(b, size);
    CU_ASSERT_FALSE(x.ok);
    CU_ASSERT_TRUE(has_msg(x.d, "header contains a NUL byte (at byte 2 of the header)"));
    done(&x);
    /* Deep nesting is refused by cJSON's nesting limit, not by the stack. */
    char *deep = malloc(200003);
    memset(deep, '[', 100000);
    memset(deep + 100000, ']', 100000);
    strcpy(deep + 200000, "");
    expect_one_error(deep, 0, "header is not valid JSON");
    free(deep);
}

static void test_safetensors_offsets_out_of_range(void) {
    expect_one_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[100],\"data_offsets\":[0,400]}}", 16,
                     "weights file 'w.safetensors': tensor 't' data_offsets [0, 400] are outside "
                     "the data block (16 bytes)");
    expect_one_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[20,24]}}", 16,
                     "are outside the data block");
    expect_one_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,1e30]}}", 16,
                     "[0, 1e+30] are outside the data block");
    expect_one_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 16,
                     "data_offsets [-4, 0] are not non-negative integers");
    expect_one_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,3.5]}}", 16,
                     "are not non-negative integers");
    expect_one_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[\"0\",4]}}", 16,
                     "data_offsets [a string, 4] are not non-negative integers");
    expect_one_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 16,
                     "data_offsets [8, 4] end before they begin");
    expect_one_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 16,
                     "\"data_offsets\" is not a list [begin, end]");
    expect_one_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 16,
                     "\"data_offsets\" is not a list [begin, end]");
    expect_one_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":{}}}", 16,
                     "\"data_offsets\" is not a list [begin, end]");
}

static void test_safetensors_overlapping_offsets(void) {
    uint8_t data[32] = {0};
    Fx x = parse("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}",
                 data, 32);
    CU_ASSERT_FALSE(x.ok);
    CU_ASSERT_EQUAL(diag_count(x.d), 1);
    CU_ASSERT_STRING_EQUAL(diag_message(x.d, 0), "weights file 'w.safetensors': tensors 'a' "
                                                 "[0, 16] and 'b' [8, 24] overlap");
    CU_ASSERT_TRUE(all_at_weights(x.d));
    done(&x);
    /* Listed out of order, one inside another, one identical: three overlaps. */
    x = parse("{\"c\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[28,32]},"
              "\"big\":{\"dtype\":\"F32\",\"shape\":[8],\"data_offsets\":[0,32]},"
              "\"in\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]},"
              "\"same\":{\"dtype\":\"F32\",\"shape\":[8],\"data_offsets\":[0,32]},"
              "\"empty\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]}}",
              data, 32);
    CU_ASSERT_FALSE(x.ok);
    CU_ASSERT_EQUAL(diag_count(x.d), 3);
    CU_ASSERT_TRUE(has_msg(x.d, "'c' [28, 32] overlap"));
    CU_ASSERT_TRUE(has_msg(x.d, "'in' [4, 12] overlap"));
    done(&x);
    /* Adjacent tensors touch but do not overlap. */
    x = parse("{\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[16,32]},"
              "\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
              data, 32);
    CU_ASSERT_TRUE(x.ok);
    done(&x);
}

static void test_safetensors_wrong_byte_count(void) {
    expect_one_error(
        "{\"fc.weight\":{\"dtype\":\"F32\",\"shape\":[10,10],\"data_offsets\":[0,396]}}", 400,
        "weights file 'w.safetensors': tensor 'fc.weight' data_offsets [0, 396] do not "
        "match 10 x 10 F32 (expected 400 bytes, got 396)");
    expect_one_error("{\"s\":{\"dtype\":\"F16\",\"shape\":[],\"data_offsets\":[0,4]}}", 4,
                     "data_offsets [0, 4] do not match scalar F16 (expected 2 bytes, got 4)");
    expect_one_error("{\"s\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,0]}}", 4,
                     "do not match 3 BF16 (expected 6 bytes, got 0)");
}

static void test_safetensors_bad_dims(void) {
    expect_one_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[2,-3],\"data_offsets\":[0,0]}}", 0,
                     "tensor 't': dimension 1 of its shape (-3) is not a non-negative integer");
    expect_one_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,0]}}", 0,
                     "dimension 0 of its shape (2.5) is not a non-negative integer");
    expect_one_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[\"4\"],\"data_offsets\":[0,0]}}", 0,
                     "dimension 0 of its shape (a string) is not a non-negative integer");
    expect_one_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[null],\"data_offsets\":[0,0]}}", 0,
                     "(not a number) is not a non-negative integer");
    expect_one_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[1e20],\"data_offsets\":[0,0]}}", 0,
                     "dimension 0 of its shape (1e+20) is too large");
    expect_one_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[1e999],\"data_offsets\":[0,0]}}", 0,
                     "is too large");
}

static void test_safetensors_dims_overflow(void) {
    expect_one_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4],"
                     "\"data_offsets\":[0,0]}}",
                     0, "tensor 't': shape 4294967296 x 4294967296 x 4 has too many elements");
    /* numel fits in 64 bits but the byte count does not. */
    expect_one_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[2147483648,2147483648],"
                     "\"data_offsets\":[0,0]}}",
                     0,
                     "do not match 2147483648 x 2147483648 F32 (expected more than 2^63 bytes, "
                     "got 0)");
}

static void test_safetensors_rank_limit(void) {
    expect_one_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],"
                     "\"data_offsets\":[0,4]}}",
                     4, "tensor 't' has 9 dimensions (at most 8 are supported)");
}

static void test_safetensors_duplicate_names(void) {
    uint8_t data[16] = {0};
    Fx x = parse("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]},"
                 "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                 "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                 data, 16);
    CU_ASSERT_FALSE(x.ok);
    /* One report for the name, none for the copies' overlapping bytes. */
    CU_ASSERT_EQUAL(diag_count(x.d), 1);
    CU_ASSERT_STRING_EQUAL(
        diag_message(x.d, 0),
        "weights file 'w.safetensors': tensor 'a' appears 3 times in the header");
    done(&x);
}

static void test_safetensors_non_object_entry(void) {
    expect_one_error("{\"a\":5}", 0,
                     "tensor 'a' is not an object (expected {\"dtype\", \"shape\", "
                     "\"data_offsets\"})");
    expect_one_error("{\"a\":[1,2]}", 0, "tensor 'a' is not an object");
    expect_one_error("{\"a\":\"F32\"}", 0, "tensor 'a' is not an object");
}

static void test_safetensors_missing_fields(void) {
    expect_one_error("{\"t\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                     "tensor 't' has no \"dtype\"");
    expect_one_error("{\"t\":{\"dtype\":32,\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                     "tensor 't': \"dtype\" is not a string");
    expect_one_error("{\"t\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4,
                     "tensor 't' has no \"shape\"");
    expect_one_error("{\"t\":{\"dtype\":\"F32\",\"shape\":4,\"data_offsets\":[0,4]}}", 4,
                     "tensor 't': \"shape\" is not a list");
    expect_one_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4,
                     "tensor 't' has no \"data_offsets\"");
    /* Keys are case-sensitive. */
    expect_one_error("{\"t\":{\"DTYPE\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                     "tensor 't' has no \"dtype\"");
}

static void test_safetensors_multiple_problems(void) {
    uint8_t data[64] = {0};
    Fx x = parse("{\"ok\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                 "\"neg\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[8,12]},"
                 "\"far\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[100,104]},"
                 "\"count\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[16,24]},"
                 "\"lap\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]},"
                 "\"nodt\":{\"shape\":[1],\"data_offsets\":[\"x\",4]},"
                 "\"dup\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[32,36]},"
                 "\"dup\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[36,40]},"
                 "\"__metadata__\":{\"v\":1}}",
                 data, 64);
    CU_ASSERT_FALSE(x.ok);
    /* neg, far, count, nodt (dtype and offsets), metadata, dup, ok/lap overlap. */
    CU_ASSERT_EQUAL(diag_count(x.d), 8);
    CU_ASSERT_TRUE(has_msg(x.d, "tensor 'neg': dimension 0"));
    CU_ASSERT_TRUE(has_msg(x.d, "tensor 'far' data_offsets [100, 104] are outside"));
    CU_ASSERT_TRUE(has_msg(x.d, "tensor 'count' data_offsets [16, 24] do not match 3 F32"));
    CU_ASSERT_TRUE(has_msg(x.d, "tensor 'nodt' has no \"dtype\""));
    CU_ASSERT_TRUE(has_msg(x.d, "tensor 'nodt' data_offsets [a string, 4]"));
    CU_ASSERT_TRUE(has_msg(x.d, "\"__metadata__\" must be an object of strings"));
    CU_ASSERT_TRUE(has_msg(x.d, "tensor 'dup' appears 2 times"));
    CU_ASSERT_TRUE(has_msg(x.d, "tensors 'ok' [0, 8] and 'lap' [4, 12] overlap"));
    CU_ASSERT_TRUE(all_at_weights(x.d));
    done(&x);
}

static void test_safetensors_many_errors_capped(void) {
    size_t cap = 200 * 64 + 16, n = 0;
    char *json = malloc(cap);
    n += (size_t)snprintf(json + n, cap - n, "{");
    for (int i = 0; i < 200; i++)
        n += (size_t)snprintf(json + n, cap - n, "%s\"t%d\":%d", i ? "," : "", i, i);
    snprintf(json + n, cap - n, "}");
    Fx x = parse(json, NULL, 0);
    CU_ASSERT_FALSE(x.ok);
    CU_ASSERT_EQUAL(diag_count(x.d), DIAG_MAX_ERRORS);
    CU_ASSERT_PTR_NOT_NULL(strstr(diag_text(x.d), "too many errors"));
    done(&x);
    free(json);
}

static void test_safetensors_unprintable_name(void) {
    expect_one_error("{\"a\\u0001\\nb\":7}", 0, "tensor 'a\\x01\\x0ab' is not an object");
}

/* Random corruptions of a valid file: any outcome but a crash or an out-of-bounds read. */
static void test_safetensors_mutations_never_crash(void) {
    uint8_t data[40];
    for (int i = 0; i < 10; i++)
        put_f32(data + 4 * i, (float)i);
    size_t size;
    uint8_t *orig = build("{\"a\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[0,12]},"
                          "\"b\":{\"dtype\":\"F32\",\"shape\":[7],\"data_offsets\":[12,40]}}",
                          data, sizeof data, &size);
    uint32_t seed = 12345;
    for (int iter = 0; iter < 3000; iter++) {
        uint8_t *b = malloc(size);
        memcpy(b, orig, size);
        int flips = 1 + iter % 4;
        for (int k = 0; k < flips; k++) {
            seed ^= seed << 13, seed ^= seed >> 17, seed ^= seed << 5;
            size_t pos = seed % size;
            static const char pool[] = "0123456789[]{},:\"-.eE \x00\xff";
            uint8_t pick = (uint8_t)pool[(seed >> 8) % (sizeof pool - 1)];
            b[pos] = iter % 2 ? (uint8_t)(seed >> 8) : pick;
        }
        Fx x = parse_buf(b, size);
        CU_ASSERT_EQUAL(x.ok, diag_count(x.d) == 0);
        CU_ASSERT_TRUE(all_at_weights(x.d));
        for (int i = 0; x.ok && i < x.f.ntensors; i++) {
            float *out = malloc(sizeof(float) * (size_t)(x.f.tensors[i].numel + 1));
            st_to_f32(&x.f.tensors[i], out);
            free(out);
        }
        done(&x);
    }
    free(orig);
}

/* ---- files ------------------------------------------------------------------------------ */

static void test_safetensors_nonexistent_path(void) {
    Arena *a = arena_new();
    Diag *d = diag_new(a);
    StFile f;
    CU_ASSERT_FALSE(st_load(a, d, AT, "/nonexistent/x.safetensors", &f));
    CU_ASSERT_EQUAL(diag_count(d), 1);
    CU_ASSERT_STRING_EQUAL(diag_message(d, 0), "cannot read weights file "
                                               "'/nonexistent/x.safetensors': No such file or "
                                               "directory");
    CU_ASSERT_TRUE(all_at_weights(d));
    CU_ASSERT_FALSE(st_load(a, d, AT, "/tmp", &f));
    CU_ASSERT_TRUE(has_msg(d, "cannot read weights file '/tmp': it is a directory"));
    arena_free(a);
}

static void test_safetensors_round_trip(void) {
    char dir[] = "/tmp/nnd_st_XXXXXX";
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/w.safetensors", dir);
    const float w[6] = {1, -2, 0.5f, INFINITY, -0.0f, 1e-40f}, b[3] = {3, 4, 5}, s = 9;
    const char *names[] = {"fc.weight", "fc.bias", "we\"ird\\name\x01", "scalar", "empty"};
    const int ranks[] = {2, 1, 1, 0, 2};
    const int64_t shapes[][MAX_RANK] = {{2, 3}, {3}, {3}, {0}, {0, 4}};
    const float *data[] = {w, b, b, &s, NULL};
    CU_ASSERT_TRUE_FATAL(st_write_f32(path, 5, names, ranks, shapes, data));

    Arena *a = arena_new();
    Diag *d = diag_new(a);
    StFile f;
    CU_ASSERT_TRUE_FATAL(st_load(a, d, AT, path, &f));
    CU_ASSERT_EQUAL(diag_count(d), 0);
    CU_ASSERT_EQUAL_FATAL(f.ntensors, 5);
    CU_ASSERT_STRING_EQUAL(f.path, path);
    /* The header is padded to a multiple of 8 so the f32 data is aligned in the file. */
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++)
        hlen |= (uint64_t)f.bytes[i] << 8 * i;
    CU_ASSERT_EQUAL(hlen % 8, 0);
    CU_ASSERT_EQUAL(f.size, 8 + hlen + 4 * (6 + 3 + 3 + 1));
    for (int i = 0; i < 5; i++) {
        const StTensor *t = st_find(&f, names[i]);
        CU_ASSERT_PTR_EQUAL_FATAL(t, &f.tensors[i]);
        CU_ASSERT_EQUAL(t->dtype, ST_F32);
        CU_ASSERT_EQUAL(t->rank, ranks[i]);
        int64_t numel = 1;
        for (int k = 0; k < ranks[i]; k++) {
            CU_ASSERT_EQUAL(t->shape[k], shapes[i][k]);
            numel *= shapes[i][k];
        }
        CU_ASSERT_EQUAL(t->numel, numel);
        float out[6];
        CU_ASSERT_TRUE(st_to_f32(t, out));
        for (int64_t k = 0; k < numel; k++)
            CU_ASSERT_EQUAL(f32_bits(out[k]), f32_bits(data[i][k]));
    }
    arena_free(a);
    CU_ASSERT_EQUAL(unlink(path), 0);
    CU_ASSERT_EQUAL(rmdir(dir), 0);
}

static void test_safetensors_write_rejects_bad_input(void) {
    char dir[] = "/tmp/nnd_st_XXXXXX";
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/w.safetensors", dir);
    const float v[2] = {1, 2};
    const float *data[] = {v, v};
    const int64_t shapes[][MAX_RANK] = {{2}, {2}};
    const int ranks[] = {1, 1}, bad_rank[] = {9, 1};
    const char *dup[] = {"a", "a"};
    const int64_t neg[][MAX_RANK] = {{-2}, {2}};
    errno = 0;
    CU_ASSERT_FALSE(st_write_f32(path, 2, dup, ranks, shapes, data));
    CU_ASSERT_EQUAL(errno, EINVAL);
    const char *names[] = {"a", "b"};
    CU_ASSERT_FALSE(st_write_f32(path, 2, names, ranks, neg, data));
    CU_ASSERT_FALSE(st_write_f32(path, 2, names, bad_rank, shapes, data));
    CU_ASSERT_NOT_EQUAL(access(path, F_OK), 0); /* nothing was written */
    char missing[80];
    snprintf(missing, sizeof missing, "%s/no/such/dir/w.safetensors", dir);
    errno = 0;
    CU_ASSERT_FALSE(st_write_f32(missing, 2, names, ranks, shapes, data));
    CU_ASSERT_EQUAL(errno, ENOENT);
    /* No tensors at all is a valid file. */
    CU_ASSERT_TRUE(st_write_f32(path, 0, NULL, NULL, NULL, NULL));
    Arena *a = arena_new();
    Diag *d = diag_new(a);
    StFile f;
    CU_ASSERT_TRUE(st_load(a, d, AT, path, &f));
    CU_ASSERT_EQUAL(f.ntensors, 0);
    arena_free(a);
    CU_ASSERT_EQUAL(unlink(path), 0);
    CU_ASSERT_EQUAL(rmdir(dir), 0);
}

/* A sparse file just over the limit is refused from its size, before anything is read. */
static void test_safetensors_file_too_large(void) {
    char dir[] = "/tmp/nnd_st_XXXXXX";
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/big.safetensors", dir);
    FILE *fp = fopen(path, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    bool sparse = ftruncate(fileno(fp), (off_t)(ST_MAX_FILE_SIZE + 1)) == 0;
    fclose(fp);
    if (sparse) {
        Arena *a = arena_new();
        Diag *d = diag_new(a);
        StFile f;
        CU_ASSERT_FALSE(st_load(a, d, AT, path, &f));
        CU_ASSERT_EQUAL(diag_count(d), 1);
        CU_ASSERT_TRUE(has_msg(d, "is too large (17179869185 bytes; the limit is 17179869184)"));
        arena_free(a);
    }
    CU_ASSERT_EQUAL(unlink(path), 0);
    CU_ASSERT_EQUAL(rmdir(dir), 0);
}

NND_SUITE("safetensors", test_safetensors_f32_values, test_safetensors_f64_converted,
          test_safetensors_f16_exhaustive, test_safetensors_bf16_exhaustive,
          test_safetensors_empty_header, test_safetensors_metadata,
          test_safetensors_scalar_and_empty_tensors, test_safetensors_other_dtypes,
          test_safetensors_unaligned_data, test_safetensors_gaps_allowed,
          test_safetensors_truncated_everywhere, test_safetensors_header_length_huge,
          test_safetensors_header_past_eof, test_safetensors_header_over_limit,
          test_safetensors_invalid_json, test_safetensors_offsets_out_of_range,
          test_safetensors_overlapping_offsets, test_safetensors_wrong_byte_count,
          test_safetensors_bad_dims, test_safetensors_dims_overflow, test_safetensors_rank_limit,
          test_safetensors_duplicate_names, test_safetensors_non_object_entry,
          test_safetensors_missing_fields, test_safetensors_multiple_problems,
          test_safetensors_many_errors_capped, test_safetensors_unprintable_name,
          test_safetensors_mutations_never_crash, test_safetensors_nonexistent_path,
          test_safetensors_round_trip, test_safetensors_write_rejects_bad_input,
          test_safetensors_file_too_large)
