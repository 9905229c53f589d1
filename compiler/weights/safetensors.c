/* safetensors.c: reading, checking and writing safetensors files; see safetensors.h.
 *
 * In: a file's bytes. Out: StTensors pointing into those bytes, or one diagnostic per problem
 * at the `weights` statement. Every size taken from the file (header length, offsets, shape)
 * is checked against the real size before it is used, with overflow-checked arithmetic, and
 * every multi-byte value is read through memcpy and assembled little-endian by hand, so
 * neither alignment nor host byte order matter. */
#define _POSIX_C_SOURCE 200809L
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- dtypes ---------------------------------------------------------------------------- */

static const struct {
    const char *name;
    StDtype dtype;
    int size;
} dtypes[] = {
    {"F32", ST_F32, 4}, {"F64", ST_F64, 8},   {"F16", ST_F16, 2}, {"BF16", ST_BF16, 2},
    {"I64", ST_I64, 8}, {"I32", ST_I32, 4},   {"I16", ST_I16, 2}, {"I8", ST_I8, 1},
    {"U8", ST_U8, 1},   {"BOOL", ST_BOOL, 1},
};

static StDtype dtype_of(const char *name, int *size) {
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (strcmp(name, dtypes[i].name) == 0) {
            *size = dtypes[i].size;
            return dtypes[i].dtype;
        }
    *size = 0;
    return ST_OTHER;
}

/* ---- little-endian loads and float conversions ------------------------------------------ */

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }

static float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* IEEE half to single: every half value, subnormals included, is exactly representable. */
static float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    if (exp == 0x1f) /* inf, or nan keeping its payload (and so its quiet bit) */
        return bits_f32(sign | 0x7f800000u | man << 13);
    if (exp)
        return bits_f32(sign | (exp + 112) << 23 | man << 13);
    if (!man)
        return bits_f32(sign);
    /* Subnormal man * 2^-24: normalise so the leading one becomes the implicit bit. */
    uint32_t e = 113; /* biased exponent of 2^-14 */
    while (!(man & 0x400u)) {
        man <<= 1;
        e--;
    }
    return bits_f32(sign | e << 23 | (man & 0x3ffu) << 13);
}

/* Rounds to nearest like IEEE (a value past the rounding boundary of FLT_MAX becomes inf)
 * without relying on the out-of-range conversion, which C leaves undefined. */
static float f64_to_f32(double x) {
    const double limit = 340282356779733661637539395458142568448.0; /* 2^128 - 2^103 */
    if (x >= limit)
        return HUGE_VALF;
    if (x <= -limit)
        return -HUGE_VALF;
    return (float)x; /* nan stays nan */
}

bool st_is_float(const StTensor *t) {
    return t->dtype == ST_F32 || t->dtype == ST_F64 || t->dtype == ST_F16 || t->dtype == ST_BF16;
}

bool st_to_f32(const StTensor *t, float *dst) {
    const uint8_t *p = t->data;
    int64_t n = t->numel;
    switch (t->dtype) {
    case ST_F32:
        for (int64_t i = 0; i < n; i++)
            dst[i] = bits_f32(le32(p + 4 * i));
        return true;
    case ST_F64:
        for (int64_t i = 0; i < n; i++) {
            uint64_t u = le64(p + 8 * i);
            double x;
            memcpy(&x, &u, sizeof x);
            dst[i] = f64_to_f32(x);
        }
        return true;
    case ST_F16:
        for (int64_t i = 0; i < n; i++)
            dst[i] = f16_to_f32(le16(p + 2 * i));
        return true;
    case ST_BF16:
        for (int64_t i = 0; i < n; i++)
            dst[i] = bits_f32((uint32_t)le16(p + 2 * i) << 16);
        return true;
    default:
        return false;
    }
}

const StTensor *st_find(const StFile *f, const char *name) {
    for (int i = 0; i < f->ntensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0)
            return &f->tensors[i];
    return NULL;
}

/* ---- checking the header ----------------------------------------------------------------- */

typedef struct Check {
    Diag *d;
    SrcLoc at;
    const char *file;
    uint64_t data_size; /* bytes after the header */
    int errors;
} Check;

#define REPORT(c, fmt, ...)                                                                        \
    ((c)->errors++, diag_error((c)->d, (c)->at, "weights file '%s': " fmt, (c)->file, __VA_ARGS__))

/* A name as it can be shown in a message: control bytes escaped, long names shortened. */
static const char *shown(char *buf, size_t cap, const char *s) {
    size_t n = 0;
    for (; *s && n + 8 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if (n > 120) {
            memcpy(buf + n, "...", 3);
            n += 3;
            break;
        }
        if (ch < 0x20 || ch == 0x7f)
            n += (size_t)snprintf(buf + n, cap - n, "\\x%02x", ch);
        else
            buf[n++] = (char)ch;
    }
    buf[n] = 0;
    return buf;
}

/* A JSON number as written (integers exactly up to 2^53; %.17g round-trips any double). */
static const char *num_str(char *buf, size_t cap, const cJSON *v) {
    if (cJSON_IsNumber(v))
        snprintf(buf, cap, "%.17g", v->valuedouble);
    else
        snprintf(buf, cap, "%s", cJSON_IsString(v) ? "a string" : "not a number");
    return buf;
}

/* Integers the header may use for sizes: exactly representable, non-negative. */
static bool as_size(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v))
        return false;
    double x = v->valuedouble;
    if (!(x >= 0 && x <= 9007199254740992.0) || x != floor(x)) /* 2^53; rejects nan */
        return false;
    *out = (uint64_t)x;
    return true;
}

/* Past 2^53 every double is an integer, but not necessarily the one written. */
static bool too_big(const cJSON *v) {
    return cJSON_IsNumber(v) && v->valuedouble > 9007199254740992.0;
}

static void shape_text(char *buf, size_t cap, const StTensor *t) {
    if (t->rank == 0) {
        snprintf(buf, cap, "scalar");
        return;
    }
    size_t n = 0;
    buf[0] = 0;
    for (int i = 0; i < t->rank && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? " x " : "", (long long)t->shape[i]);
}

static bool check_shape(Check *c, const char *nm, const cJSON *shape, StTensor *t) {
    char vb[64];
    if (!shape) {
        REPORT(c, "tensor '%s' has no \"shape\"", nm);
        return false;
    }
    if (!cJSON_IsArray(shape)) {
        REPORT(c, "tensor '%s': \"shape\" is not a list", nm);
        return false;
    }
    int rank = cJSON_GetArraySize(shape);
    if (rank > MAX_RANK) {
        REPORT(c, "tensor '%s' has %d dimensions (at most %d are supported)", nm, rank, MAX_RANK);
        return false;
    }
    t->rank = rank;
    int i = 0;
    for (const cJSON *v = shape->child; v; v = v->next, i++) {
        uint64_t dim;
        if (!as_size(v, &dim)) {
            const char *why = too_big(v) ? "too large" : "not a non-negative integer";
            REPORT(c, "tensor '%s': dimension %d of its shape (%s) is %s", nm, i,
                   num_str(vb, sizeof vb, v), why);
            return false;
        }
        t->shape[i] = (int64_t)dim;
    }
    /* The true product: any zero dimension makes it zero, wherever it comes. */
    int64_t numel = 1;
    for (i = 0; i < rank; i++)
        if (t->shape[i] == 0)
            numel = 0;
    for (i = 0; numel && i < rank; i++)
        if (__builtin_mul_overflow(numel, t->shape[i], &numel)) {
            char sb[256];
            shape_text(sb, sizeof sb, t);
            REPORT(c, "tensor '%s': shape %s has too many elements", nm, sb);
            return false;
        }
    t->numel = numel;
    return true;
}

static bool check_offsets(Check *c, const char *nm, const cJSON *offs, uint64_t *begin,
                          uint64_t *end) {
    char b0[64], b1[64];
    if (!offs) {
        REPORT(c, "tensor '%s' has no \"data_offsets\"", nm);
        return false;
    }
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2) {
        REPORT(c, "tensor '%s': \"data_offsets\" is not a list [begin, end]", nm);
        return false;
    }
    const cJSON *vb = offs->child, *ve = vb->next;
    bool ok_b = as_size(vb, begin), ok_e = as_size(ve, end);
    if ((!ok_b && !too_big(vb)) || (!ok_e && !too_big(ve))) {
        REPORT(c, "tensor '%s' data_offsets [%s, %s] are not non-negative integers", nm,
               num_str(b0, sizeof b0, vb), num_str(b1, sizeof b1, ve));
        return false;
    }
    if (!ok_b || !ok_e || *begin > c->data_size || *end > c->data_size) {
        REPORT(c, "tensor '%s' data_offsets [%s, %s] are outside the data block (%llu bytes)", nm,
               num_str(b0, sizeof b0, vb), num_str(b1, sizeof b1, ve),
               (unsigned long long)c->data_size);
        return false;
    }
    if (*begin > *end) {
        REPORT(c, "tensor '%s' data_offsets [%llu, %llu] end before they begin", nm,
               (unsigned long long)*begin, (unsigned long long)*end);
        return false;
    }
    return true;
}

/* Fills t from one header entry; false (after reporting) when it is malformed. */
static bool check_entry(Check *c, Arena *a, const cJSON *e, const uint8_t *data, StTensor *t) {
    char nb[160];
    const char *nm = shown(nb, sizeof nb, e->string);
    t->name = arena_strdup(a, e->string);
    if (!cJSON_IsObject(e)) {
        REPORT(c,
               "tensor '%s' is not an object (expected {\"dtype\", \"shape\", "
               "\"data_offsets\"})",
               nm);
        return false;
    }
    bool ok = true;
    int size = 0;
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    if (!dt) {
        REPORT(c, "tensor '%s' has no \"dtype\"", nm);
        ok = false;
    } else if (!cJSON_IsString(dt)) {
        REPORT(c, "tensor '%s': \"dtype\" is not a string", nm);
        ok = false;
    } else {
        t->dtype_name = arena_strdup(a, dt->valuestring);
        t->dtype = dtype_of(dt->valuestring, &size);
    }
    ok &= check_shape(c, nm, cJSON_GetObjectItemCaseSensitive(e, "shape"), t);
    uint64_t begin = 0, end = 0;
    ok &= check_offsets(c, nm, cJSON_GetObjectItemCaseSensitive(e, "data_offsets"), &begin, &end);
    if (!ok)
        return false;
    t->data = data + begin;
    t->nbytes = (size_t)(end - begin);
    int64_t expect = 0;
    bool overflow = size && __builtin_mul_overflow(t->numel, (int64_t)size, &expect);
    if (size && (overflow || (uint64_t)expect != end - begin)) {
        char sb[256], db[32];
        shape_text(sb, sizeof sb, t);
        if (overflow)
            snprintf(db, sizeof db, "more than 2^63");
        else
            snprintf(db, sizeof db, "%lld", (long long)expect);
        REPORT(c,
               "tensor '%s' data_offsets [%llu, %llu] do not match %s %s "
               "(expected %s bytes, got %llu)",
               nm, (unsigned long long)begin, (unsigned long long)end, sb, t->dtype_name, db,
               (unsigned long long)(end - begin));
        return false;
    }
    return true;
}

static bool check_metadata(Check *c, const cJSON *m) {
    bool ok = cJSON_IsObject(m);
    for (const cJSON *v = ok ? m->child : NULL; v; v = v->next)
        ok &= cJSON_IsString(v);
    if (!ok)
        REPORT(c, "%s", "\"__metadata__\" must be an object of strings");
    return ok;
}

static int by_name(const void *x, const void *y) {
    const StTensor *a = *(const StTensor *const *)x, *b = *(const StTensor *const *)y;
    int r = strcmp(a->name, b->name);
    return r ? r : (a > b) - (a < b); /* equal names stay in header order */
}

static int by_offset(const void *x, const void *y) {
    const StTensor *a = *(const StTensor *const *)x, *b = *(const StTensor *const *)y;
    if (a->data != b->data)
        return a->data < b->data ? -1 : 1;
    if (a->nbytes != b->nbytes)
        return a->nbytes < b->nbytes ? -1 : 1;
    return (a > b) - (a < b); /* header order, so messages do not depend on qsort */
}

/* Reports names used more than once (cJSON keeps every copy); marks the later copies. */
static void check_duplicates(Check *c, Arena *a, StTensor *ts, int n, int meta_count, bool *dup) {
    char nb[160];
    if (meta_count > 1)
        REPORT(c, "\"__metadata__\" appears %d times in the header", meta_count);
    if (n < 2)
        return;
    const StTensor **sorted = arena_array(a, (size_t)n, sizeof *sorted);
    int *count = arena_array(a, (size_t)n, sizeof *count);
    for (int i = 0; i < n; i++)
        sorted[i] = &ts[i];
    qsort(sorted, (size_t)n, sizeof *sorted, by_name);
    for (int i = 0, j; i < n; i = j) {
        for (j = i + 1; j < n && strcmp(sorted[i]->name, sorted[j]->name) == 0; j++)
            dup[sorted[j] - ts] = true;
        count[sorted[i] - ts] = j - i;
    }
    for (int i = 0; i < n; i++)
        if (count[i] > 1)
            REPORT(c, "tensor '%s' appears %d times in the header",
                   shown(nb, sizeof nb, ts[i].name), count[i]);
}

/* Sorted by offset, a tensor overlaps an earlier one exactly when it starts before the
 * furthest end seen so far. Empty tensors occupy no bytes and overlap nothing. */
static void check_overlaps(Check *c, Arena *a, StTensor *ts, int n, const bool *valid,
                           const uint8_t *data) {
    char n1[160], n2[160];
    const StTensor **sorted = arena_array(a, (size_t)(n ? n : 1), sizeof *sorted);
    int m = 0;
    for (int i = 0; i < n; i++)
        if (valid[i] && ts[i].nbytes)
            sorted[m++] = &ts[i];
    qsort(sorted, (size_t)m, sizeof *sorted, by_offset);
    const StTensor *far = NULL;
    for (int i = 0; i < m; i++) {
        const StTensor *t = sorted[i];
        if (far && t->data < far->data + far->nbytes) {
            unsigned long long fb = (unsigned long long)(far->data - data);
            unsigned long long tb = (unsigned long long)(t->data - data);
            REPORT(c, "tensors '%s' [%llu, %llu] and '%s' [%llu, %llu] overlap",
                   shown(n1, sizeof n1, far->name), fb, fb + far->nbytes,
                   shown(n2, sizeof n2, t->name), tb, tb + t->nbytes);
        }
        if (!far || t->data + t->nbytes > far->data + far->nbytes)
            far = t;
    }
}

static bool only_space(const char *p, const char *end) {
    for (; p < end; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
            return false;
    return true;
}

/* Parses the header JSON. cJSON may look one byte past the length it is given, so it gets
 * a NUL-terminated copy. NULL after reporting. */
static cJSON *parse_json(Check *c, const uint8_t *bytes, size_t hlen) {
    const void *nul = memchr(bytes, 0, hlen);
    if (nul) {
        REPORT(c, "header contains a NUL byte (at byte %zu of the header)",
               (size_t)((const uint8_t *)nul - bytes));
        return NULL;
    }
    char *copy = malloc(hlen + 1);
    if (!copy) {
        REPORT(c, "out of memory reading a %zu-byte header", hlen);
        return NULL;
    }
    memcpy(copy, bytes, hlen);
    copy[hlen] = 0;
    const char *stop = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(copy, hlen, &stop, false);
    size_t at = stop && stop >= copy && stop <= copy + hlen ? (size_t)(stop - copy) : 0;
    bool trailing = root && !only_space(copy + at, copy + hlen);
    free(copy);
    if (!root)
        REPORT(c, "header is not valid JSON (error at byte %zu of the header)", at);
    else if (trailing)
        REPORT(c, "unexpected text after the JSON header (at byte %zu of the header)", at);
    else if (!cJSON_IsObject(root))
        REPORT(c, "%s", "header is not a JSON object");
    else
        return root;
    cJSON_Delete(root);
    return NULL;
}

typedef struct Entries {
    StTensor *ts;
    bool *valid;
    int nt, meta_count;
} Entries;

/* Checks every entry of the header into tensors (and whether each is valid). */
static Entries read_entries(Check *c, Arena *a, const cJSON *root, const uint8_t *data) {
    Entries en = {0};
    int n = 0;
    for (const cJSON *e = root->child; e; e = e->next)
        n++;
    en.ts = arena_array(a, (size_t)(n ? n : 1), sizeof *en.ts);
    en.valid = arena_array(a, (size_t)(n ? n : 1), sizeof *en.valid);
    for (const cJSON *e = root->child; e; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0) {
            en.meta_count++;
            check_metadata(c, e);
            continue;
        }
        en.valid[en.nt] = check_entry(c, a, e, data, &en.ts[en.nt]);
        en.nt++;
    }
    return en;
}

bool st_parse(Arena *a, Diag *d, SrcLoc at, const char *name, uint8_t *bytes, size_t size,
              StFile *out) {
    memset(out, 0, sizeof *out);
    out->path = arena_strdup(a, name);
    out->bytes = bytes;
    out->size = size;
    Check c = {d, at, name, 0, 0};
    if (size < 8) {
        diag_error(d, at, "weights file '%s' is too short to be a safetensors file (%zu bytes)",
                   name, size);
        return false;
    }
    uint64_t hlen = le64(bytes);
    if (hlen > size - 8) {
        REPORT(&c,
               "header length %llu runs past the end of the file (%zu bytes): the file is "
               "truncated or not a safetensors file",
               (unsigned long long)hlen, size);
        return false;
    }
    if (hlen > ST_MAX_HEADER) {
        REPORT(&c, "header length %llu is over the limit of %llu bytes", (unsigned long long)hlen,
               (unsigned long long)ST_MAX_HEADER);
        return false;
    }
    c.data_size = size - 8 - hlen;
    const uint8_t *data = bytes + 8 + hlen;
    cJSON *root = parse_json(&c, bytes + 8, (size_t)hlen);
    if (!root)
        return false;

    /* The cJSON tree is not in the arena: if memory runs out while it is alive, free it
     * and pass the jump on to the compilation's handler. */
    jmp_buf *outer = arena_oom_handler(a), here;
    cJSON *volatile tree = root;
    if (outer) {
        arena_on_oom(a, &here);
        if (setjmp(here)) {
            cJSON_Delete(tree);
            arena_on_oom(a, outer);
            longjmp(*outer, 1);
        }
    }
    Entries en = read_entries(&c, a, root, data);
    arena_on_oom(a, outer);
    cJSON_Delete(root);
    StTensor *ts = en.ts;
    bool *valid = en.valid;
    int nt = en.nt, meta_count = en.meta_count;

    bool *dup = arena_array(a, (size_t)(nt ? nt : 1), sizeof *dup);
    check_duplicates(&c, a, ts, nt, meta_count, dup);
    for (int i = 0; i < nt; i++)
        valid[i] &= !dup[i];
    check_overlaps(&c, a, ts, nt, valid, data);
    out->tensors = ts;
    out->ntensors = nt;
    return c.errors == 0;
}

bool st_load(Arena *a, Diag *d, SrcLoc at, const char *path, StFile *out) {
    memset(out, 0, sizeof *out);
    out->path = arena_strdup(a, path);
    FILE *f = fopen(path, "rb");
    if (!f) {
        diag_error(d, at, "cannot read weights file '%s': %s", path, strerror(errno));
        return false;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        diag_error(d, at, "cannot read weights file '%s': %s", path, strerror(errno));
        fclose(f);
        return false;
    }
    /* Only regular files: a FIFO or device could block forever or never end. */
    if (!S_ISREG(st.st_mode)) {
        diag_error(d, at, "cannot read weights file '%s': %s", path,
                   S_ISDIR(st.st_mode) ? "it is a directory" : "not a regular file");
        fclose(f);
        return false;
    }
    if (st.st_size < 0 || (uint64_t)st.st_size > ST_MAX_FILE_SIZE ||
        (uint64_t)st.st_size > SIZE_MAX - 16) {
        diag_error(d, at, "weights file '%s' is too large (%lld bytes; the limit is %llu)", path,
                   (long long)st.st_size, (unsigned long long)ST_MAX_FILE_SIZE);
        fclose(f);
        return false;
    }
    size_t size = (size_t)st.st_size;
    uint8_t *bytes = arena_alloc(a, size);
    size_t got = fread(bytes, 1, size, f);
    bool failed = ferror(f);
    int err = errno;
    fclose(f);
    if (got != size) {
        diag_error(d, at, "cannot read weights file '%s': %s", path,
                   failed ? strerror(err) : "the file changed while it was being read");
        return false;
    }
    return st_parse(a, d, at, path, bytes, size, out);
}

/* ---- writing --------------------------------------------------------------------------- */

typedef struct Buf {
    char *s;
    size_t len, cap;
    bool oom;
} Buf;

static void put(Buf *b, const char *s, size_t n) {
    if (b->oom)
        return;
    if (n > SIZE_MAX / 2 - b->len) {
        b->oom = true;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *s2 = realloc(b->s, cap);
        if (!s2) {
            b->oom = true;
            return;
        }
        b->s = s2;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

static void puts_(Buf *b, const char *s) { put(b, s, strlen(s)); }

static void putf(Buf *b, const char *fmt, unsigned long long v) {
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, fmt, v);
    put(b, tmp, (size_t)n);
}

static void put_json_string(Buf *b, const char *s) {
    put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            char esc[2] = {'\\', (char)ch};
            put(b, esc, 2);
        } else if (ch < 0x20) {
            putf(b, "\\u%04llx", ch);
        } else {
            put(b, s, 1);
        }
    }
    put(b, "\"", 1);
}

static void put_le32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> 8 * i);
}

static bool write_all(FILE *f, const void *p, size_t n) { return fwrite(p, 1, n, f) == n; }

bool st_write_f32(const char *path, int n, const char *const *names, const int *ranks,
                  const int64_t (*shapes)[MAX_RANK], const float *const *data) {
    if (n < 0 || (n && (!names || !ranks || !shapes || !data))) {
        errno = EINVAL;
        return false;
    }
    Buf h = {0};
    uint64_t offset = 0;
    puts_(&h, "{");
    for (int i = 0; i < n; i++) {
        int64_t numel = 1;
        bool bad = !names[i] || ranks[i] < 0 || ranks[i] > MAX_RANK;
        for (int k = 0; !bad && k < ranks[i]; k++)
            bad = shapes[i][k] < 0 || __builtin_mul_overflow(numel, shapes[i][k], &numel);
        for (int j = 0; !bad && j < i; j++)
            bad = strcmp(names[i], names[j]) == 0;
        if (bad || numel > (int64_t)(ST_MAX_FILE_SIZE / 4) || (numel && !data[i])) {
            free(h.s);
            errno = EINVAL;
            return false;
        }
        puts_(&h, i ? "," : "");
        put_json_string(&h, names[i]);
        puts_(&h, ":{\"dtype\":\"F32\",\"shape\":[");
        for (int k = 0; k < ranks[i]; k++)
            putf(&h, k ? ",%llu" : "%llu", (unsigned long long)shapes[i][k]);
        putf(&h, "],\"data_offsets\":[%llu,", offset);
        offset += (uint64_t)numel * 4;
        putf(&h, "%llu]}", offset);
    }
    puts_(&h, "}");
    while (!h.oom && h.len % 8) /* the reference pads with spaces to keep the data aligned */
        puts_(&h, " ");
    if (h.oom || offset > ST_MAX_FILE_SIZE) {
        free(h.s);
        errno = h.oom ? ENOMEM : EFBIG;
        return false;
    }
    FILE *f = fopen(path, "wb");
    if (!f) {
        int err = errno;
        free(h.s);
        errno = err;
        return false;
    }
    uint8_t len8[8];
    put_le32(len8, (uint32_t)h.len);
    put_le32(len8 + 4, (uint32_t)((uint64_t)h.len >> 32));
    bool ok = write_all(f, len8, 8) && write_all(f, h.s, h.len);
    free(h.s);
    uint8_t chunk[4096];
    for (int i = 0; ok && i < n; i++) {
        int64_t numel = 1;
        for (int k = 0; k < ranks[i]; k++)
            numel *= shapes[i][k];
        for (int64_t j = 0; ok && j < numel;) {
            size_t m = 0;
            for (; m + 4 <= sizeof chunk && j < numel; m += 4, j++) {
                uint32_t u;
                memcpy(&u, &data[i][j], 4);
                put_le32(chunk + m, u);
            }
            ok = write_all(f, chunk, m);
        }
    }
    int err = errno;
    if (fclose(f) != 0 && ok) {
        ok = false;
        err = errno;
    }
    if (!ok) {
        remove(path);
        errno = err ? err : EIO;
    }
    return ok;
}

bool st_write_file(const char *path, const StFile *f) {
    size_t n = (size_t)f->ntensors + 1;
    const char **names = calloc(n, sizeof *names);
    int *ranks = calloc(n, sizeof *ranks);
    int64_t(*shapes)[MAX_RANK] = calloc(n, sizeof *shapes);
    const float **data = calloc(n, sizeof *data);
    bool ok = names && ranks && shapes && data;
    if (!ok)
        errno = ENOMEM;
    for (int i = 0; ok && i < f->ntensors; i++) {
        const StTensor *t = &f->tensors[i];
        if (t->dtype != ST_F32) {
            errno = EINVAL;
            ok = false;
            break;
        }
        names[i] = t->name;
        ranks[i] = t->rank;
        memcpy(shapes[i], t->shape, sizeof shapes[i]);
        data[i] = (const float *)t->data;
    }
    if (ok)
        ok = st_write_f32(path, f->ntensors, names, ranks, (const int64_t(*)[MAX_RANK])shapes,
                          (const float *const *)data);
    int saved = errno;
    free(names);
    free(ranks);
    free(shapes);
    free(data);
    errno = saved;
    return ok;
}
