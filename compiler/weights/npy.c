/* npy.c: NumPy .npy reading and writing; see npy.h.
 *
 * In: a file or bytes. Out: an f32 array, or a message in err. The preamble, the header
 * dict and the data length are each checked against the bytes actually there before
 * anything is allocated; data is decoded byte by byte (no alignment or host byte-order
 * assumptions). npy_read streams the data through a small buffer so a file is never held
 * twice in memory. */
#define _POSIX_C_SOURCE 200809L
#include "npy.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char MAGIC[6] = "\x93NUMPY";

/* Headers beyond this are refused; NumPy itself stops at 10000 bytes. */
enum { NPY_MAX_HEADER = 1 << 20 };

typedef struct Layout {
    int rank;
    int64_t shape[MAX_RANK];
    int64_t numel;
    int itemsize;    /* 4 or 8 */
    bool big;        /* data is big-endian */
    uint64_t nbytes; /* numel * itemsize */
} Layout;

static bool fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool fail(char *err, size_t errlen, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return false;
}

static bool host_is_big_endian(void) {
    uint16_t one = 1;
    uint8_t first;
    memcpy(&first, &one, 1);
    return first == 0;
}

/* ---- preamble: magic, version, header length ------------------------------------------ */

/* b holds the first min(total, 12) bytes of a file of `total` bytes. */
static bool read_preamble(const uint8_t *b, uint64_t total, size_t *hstart, size_t *hlen, char *err,
                          size_t errlen) {
    size_t n = total < sizeof MAGIC ? (size_t)total : sizeof MAGIC;
    if (memcmp(b, MAGIC, n) != 0)
        return fail(err, errlen, "not a .npy file (bad magic bytes)");
    if (total < 8)
        return fail(err, errlen, "truncated: the file ends inside the header (%llu bytes)",
                    (unsigned long long)total);
    int major = b[6], minor = b[7];
    if (major < 1 || major > 3 || minor != 0)
        return fail(err, errlen, "unsupported .npy format version %d.%d", major, minor);
    *hstart = major == 1 ? 10 : 12;
    if (total < *hstart)
        return fail(err, errlen, "truncated: the file ends inside the header (%llu bytes)",
                    (unsigned long long)total);
    uint64_t len = major == 1 ? (uint64_t)b[8] | (uint64_t)b[9] << 8
                              : (uint64_t)b[8] | (uint64_t)b[9] << 8 | (uint64_t)b[10] << 16 |
                                    (uint64_t)b[11] << 24;
    if (len > total - *hstart)
        return fail(err, errlen,
                    "truncated: header length %llu runs past the end of the file (%llu bytes)",
                    (unsigned long long)len, (unsigned long long)total);
    if (len > NPY_MAX_HEADER)
        return fail(err, errlen, "header is too large (%llu bytes)", (unsigned long long)len);
    *hlen = (size_t)len;
    return true;
}

/* ---- the header dict: {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } ------- */

typedef struct Cur {
    const char *p, *end;
} Cur;

static void skip_space(Cur *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static bool eat(Cur *c, char ch) {
    skip_space(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return true;
    }
    return false;
}

static bool peek(Cur *c, char ch) {
    skip_space(c);
    return c->p < c->end && *c->p == ch;
}

/* A Python string literal in single or double quotes (the header never needs escapes). */
static bool string_lit(Cur *c, const char **s, size_t *n) {
    skip_space(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return false;
    char q = *c->p++;
    const char *start = c->p;
    while (c->p < c->end && *c->p != q && *c->p != '\\' && *c->p != '\n')
        c->p++;
    if (c->p >= c->end || *c->p != q)
        return false;
    *s = start;
    *n = (size_t)(c->p - start);
    c->p++;
    return true;
}

static bool word(Cur *c, const char *w) {
    skip_space(c);
    size_t n = strlen(w);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n) != 0)
        return false;
    if ((size_t)(c->end - c->p) > n) {
        char next = c->p[n];
        if ((next >= 'A' && next <= 'Z') || (next >= 'a' && next <= 'z') ||
            (next >= '0' && next <= '9') || next == '_')
            return false;
    }
    c->p += n;
    return true;
}

static bool is_key(const char *s, size_t n, const char *key) {
    return n == strlen(key) && memcmp(s, key, n) == 0;
}

/* A copy of header text safe to quote in a message: printable, at most 40 characters. */
static const char *quoted(char *buf, size_t cap, const char *s, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n && k + 4 < cap; i++) {
        if (i == 40) {
            memcpy(buf + k, "...", 3);
            k += 3;
            break;
        }
        unsigned char ch = (unsigned char)s[i];
        buf[k++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    buf[k] = 0;
    return buf;
}

/* (), (5,), (2, 3) — and (5) or Python 2's 5L, which cost nothing to accept. */
static bool shape_tuple(Cur *c, Layout *L, char *err, size_t errlen) {
    if (!eat(c, '('))
        return fail(err, errlen, "malformed header: 'shape' is not a tuple");
    L->rank = 0;
    if (eat(c, ')'))
        return true;
    for (;;) {
        skip_space(c);
        if (c->p >= c->end || *c->p < '0' || *c->p > '9')
            return fail(err, errlen, "malformed header: bad dimension in 'shape'");
        int64_t v = 0;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
            if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, *c->p - '0', &v))
                return fail(err, errlen, "shape dimension is too large");
            c->p++;
        }
        if (c->p < c->end && *c->p == 'L')
            c->p++;
        if (L->rank == MAX_RANK)
            return fail(err, errlen, "arrays with more than %d dimensions are not supported",
                        MAX_RANK);
        L->shape[L->rank++] = v;
        if (eat(c, ',')) {
            if (eat(c, ')'))
                return true;
            continue;
        }
        if (eat(c, ')'))
            return true;
        return fail(err, errlen, "malformed header: bad 'shape' tuple");
    }
}

/* '<f4', '>f8', '=f4', '|f4', 'f4' ('=', '|' and nothing mean this host's order). */
static bool dtype(const char *s, size_t n, Layout *L, char *err, size_t errlen) {
    const char *t = s;
    bool big = host_is_big_endian();
    if (n == 3 && (s[0] == '<' || s[0] == '>' || s[0] == '=' || s[0] == '|')) {
        big = s[0] == '>' || (s[0] != '<' && big);
        t++;
    }
    if ((size_t)(t - s) + 2 == n && t[0] == 'f' && (t[1] == '4' || t[1] == '8')) {
        L->itemsize = t[1] - '0';
        L->big = big;
        return true;
    }
    char q[64];
    return fail(err, errlen, "unsupported dtype '%s' (expected float32 or float64)",
                quoted(q, sizeof q, s, n));
}

static bool parse_header(const char *h, size_t n, Layout *L, char *err, size_t errlen) {
    Cur c = {h, h + n};
    const char *descr = NULL;
    size_t descr_len = 0;
    bool have_fortran = false, fortran = false, have_shape = false;
    if (!eat(&c, '{'))
        return fail(err, errlen, "malformed header: not a Python dict");
    while (!eat(&c, '}')) {
        const char *key;
        size_t klen;
        char q[64];
        if (!string_lit(&c, &key, &klen) || !eat(&c, ':'))
            return fail(err, errlen, "malformed header: expected a quoted key and ':'");
        if (is_key(key, klen, "descr")) {
            if (descr)
                return fail(err, errlen, "malformed header: 'descr' appears twice");
            if (peek(&c, '['))
                return fail(err, errlen,
                            "unsupported dtype: structured arrays are not "
                            "supported (expected float32 or float64)");
            if (!string_lit(&c, &descr, &descr_len))
                return fail(err, errlen, "malformed header: 'descr' is not a string");
        } else if (is_key(key, klen, "fortran_order")) {
            if (have_fortran)
                return fail(err, errlen, "malformed header: 'fortran_order' appears twice");
            have_fortran = true;
            if (word(&c, "True"))
                fortran = true;
            else if (!word(&c, "False"))
                return fail(err, errlen, "malformed header: 'fortran_order' is not True or False");
        } else if (is_key(key, klen, "shape")) {
            if (have_shape)
                return fail(err, errlen, "malformed header: 'shape' appears twice");
            have_shape = true;
            if (!shape_tuple(&c, L, err, errlen))
                return false;
        } else {
            return fail(err, errlen, "malformed header: unexpected key '%s'",
                        quoted(q, sizeof q, key, klen));
        }
        if (!eat(&c, ',') && !peek(&c, '}'))
            return fail(err, errlen, "malformed header: expected ',' or '}'");
    }
    /* NumPy pads with spaces and a final newline; tolerate NULs from other writers. */
    while (c.p < c.end &&
           (*c.p == ' ' || *c.p == '\t' || *c.p == '\n' || *c.p == '\r' || *c.p == '\0'))
        c.p++;
    if (c.p != c.end)
        return fail(err, errlen, "malformed header: unexpected text after the dict");
    if (!descr || !have_fortran || !have_shape)
        return fail(err, errlen, "malformed header: no '%s' key",
                    !descr          ? "descr"
                    : !have_fortran ? "fortran_order"
                                    : "shape");
    if (!dtype(descr, descr_len, L, err, errlen))
        return false;
    if (fortran)
        return fail(err, errlen, "Fortran-order arrays are not supported");
    /* The true product: any zero dimension makes it zero, wherever it comes. */
    L->numel = 1;
    for (int i = 0; i < L->rank; i++)
        if (L->shape[i] == 0)
            L->numel = 0;
    for (int i = 0; L->numel && i < L->rank; i++)
        if (__builtin_mul_overflow(L->numel, L->shape[i], &L->numel))
            return fail(err, errlen, "shape has too many elements");
    if (L->numel > (int64_t)(NPY_MAX_BYTES / (uint64_t)L->itemsize))
        return fail(err, errlen, "array is too large (%lld elements; the limit is %llu bytes)",
                    (long long)L->numel, (unsigned long long)NPY_MAX_BYTES);
    L->nbytes = (uint64_t)L->numel * (uint64_t)L->itemsize;
    return true;
}

static bool check_data_size(const Layout *L, uint64_t found, char *err, size_t errlen) {
    if (found < L->nbytes)
        return fail(err, errlen, "truncated: expected %llu bytes of data, found %llu",
                    (unsigned long long)L->nbytes, (unsigned long long)found);
    if (found > L->nbytes)
        return fail(err, errlen,
                    "expected %llu bytes of data, found %llu (extra bytes after "
                    "the array)",
                    (unsigned long long)L->nbytes, (unsigned long long)found);
    return true;
}

/* ---- data ------------------------------------------------------------------------------ */

static uint64_t load(const uint8_t *p, int n, bool big) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[big ? n - 1 - i : i] << 8 * i;
    return v;
}

/* Rounds to nearest like IEEE (past the rounding boundary of FLT_MAX is inf) without the
 * out-of-range conversion C leaves undefined. */
static float narrow(double x) {
    const double limit = 340282356779733661637539395458142568448.0; /* 2^128 - 2^103 */
    if (x >= limit)
        return HUGE_VALF;
    if (x <= -limit)
        return -HUGE_VALF;
    return (float)x;
}

static void decode(const Layout *L, const uint8_t *src, size_t count, float *dst) {
    if (L->itemsize == 4 && L->big == host_is_big_endian()) {
        memcpy(dst, src, count * 4);
        return;
    }
    for (size_t i = 0; i < count; i++) {
        if (L->itemsize == 4) {
            uint32_t u = (uint32_t)load(src + 4 * i, 4, L->big);
            memcpy(&dst[i], &u, 4);
        } else {
            uint64_t u = load(src + 8 * i, 8, L->big);
            double x;
            memcpy(&x, &u, 8);
            dst[i] = narrow(x);
        }
    }
}

static bool alloc_out(const Layout *L, NpyArray *out, char *err, size_t errlen) {
    size_t n = L->numel ? (size_t)L->numel : 1;
    out->data = malloc(n * sizeof(float));
    if (!out->data)
        return fail(err, errlen, "out of memory (%zu bytes)", n * sizeof(float));
    out->rank = L->rank;
    memcpy(out->shape, L->shape, sizeof out->shape);
    out->numel = L->numel;
    return true;
}

bool npy_parse(const uint8_t *bytes, size_t size, NpyArray *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    Layout L;
    memset(&L, 0, sizeof L);
    size_t hstart = 0, hlen = 0;
    if (!bytes && size)
        return fail(err, errlen, "no data");
    if (!read_preamble(bytes ? bytes : (const uint8_t *)"", size, &hstart, &hlen, err, errlen) ||
        !parse_header((const char *)bytes + hstart, hlen, &L, err, errlen) ||
        !check_data_size(&L, size - hstart - hlen, err, errlen) || !alloc_out(&L, out, err, errlen))
        return false;
    decode(&L, bytes + hstart + hlen, (size_t)L.numel, out->data);
    return true;
}

bool npy_read(const char *path, NpyArray *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f)
        return fail(err, errlen, "cannot open: %s", strerror(errno));
    struct stat st;
    uint8_t pre[12];
    char *header = NULL;
    Layout L;
    memset(&L, 0, sizeof L);
    size_t hstart = 0, hlen = 0;
    bool ok = false;
    if (fstat(fileno(f), &st) != 0) {
        fail(err, errlen, "cannot read: %s", strerror(errno));
        goto done;
    }
    /* A FIFO or device could block forever or never end. */
    if (!S_ISREG(st.st_mode) || st.st_size < 0) {
        fail(err, errlen, "cannot read: %s",
             S_ISDIR(st.st_mode) ? "it is a directory" : "not a regular file");
        goto done;
    }
    uint64_t total = (uint64_t)st.st_size;
    size_t npre = total < sizeof pre ? (size_t)total : sizeof pre;
    if (fread(pre, 1, npre, f) != npre) {
        fail(err, errlen, "cannot read: %s",
             ferror(f) ? strerror(errno) : "the file changed while it was being read");
        goto done;
    }
    if (!read_preamble(pre, total, &hstart, &hlen, err, errlen))
        goto done;
    header = malloc(hlen ? hlen : 1);
    if (!header) {
        fail(err, errlen, "out of memory");
        goto done;
    }
    if (fseek(f, (long)hstart, SEEK_SET) != 0 || fread(header, 1, hlen, f) != hlen) {
        fail(err, errlen, "cannot read: %s",
             ferror(f) ? strerror(errno) : "the file changed while it was being read");
        goto done;
    }
    if (!parse_header(header, hlen, &L, err, errlen) ||
        !check_data_size(&L, total - hstart - hlen, err, errlen) ||
        !alloc_out(&L, out, err, errlen))
        goto done;
    uint8_t chunk[1 << 16]; /* a multiple of 8: never splits an element */
    for (size_t done_n = 0, left = (size_t)L.numel; left;) {
        size_t n = sizeof chunk / (size_t)L.itemsize;
        if (n > left)
            n = left;
        if (fread(chunk, (size_t)L.itemsize, n, f) != n) {
            fail(err, errlen, "cannot read: %s",
                 ferror(f) ? strerror(errno) : "the file changed while it was being read");
            npy_free(out);
            goto done;
        }
        decode(&L, chunk, n, out->data + done_n);
        done_n += n;
        left -= n;
    }
    ok = true;
done:
    free(header);
    fclose(f);
    return ok;
}

/* ---- writing --------------------------------------------------------------------------- */

/* The same bytes np.save writes for a C-order float32 array (NumPy 1.24): the dict, spare
 * spaces for growing the first axis in place, padding so the data starts on a multiple of
 * 64, and a newline. */
bool npy_write(const char *path, int rank, const int64_t *shape, const float *data, char *err,
               size_t errlen) {
    if (rank < 0 || rank > MAX_RANK || (rank && !shape))
        return fail(err, errlen, "cannot write: rank %d is not supported", rank);
    int64_t numel = 1;
    for (int i = 0; i < rank; i++)
        if (shape[i] < 0 || __builtin_mul_overflow(numel, shape[i], &numel) ||
            numel > (int64_t)(NPY_MAX_BYTES / 4))
            return fail(err, errlen, "cannot write: invalid shape");
    if (numel && !data)
        return fail(err, errlen, "cannot write: no data");

    char h[512];
    size_t n = (size_t)snprintf(h, sizeof h, "%s",
                                "{'descr': '<f4', 'fortran_order': False, "
                                "'shape': (");
    for (int i = 0; i < rank; i++)
        n += (size_t)snprintf(h + n, sizeof h - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
    n += (size_t)snprintf(h + n, sizeof h - n, "%s), }", rank == 1 ? "," : "");
    if (rank > 0) {
        int digits = snprintf(NULL, 0, "%lld", (long long)shape[0]);
        for (int i = digits; i < 21; i++)
            h[n++] = ' ';
    }
    size_t pad = 64 - (10 + n + 1) % 64;
    memset(h + n, ' ', pad);
    n += pad;
    h[n++] = '\n';

    uint8_t pre[10];
    memcpy(pre, MAGIC, 6);
    pre[6] = 1;
    pre[7] = 0;
    pre[8] = (uint8_t)(n & 0xff);
    pre[9] = (uint8_t)(n >> 8);
    FILE *f = fopen(path, "wb");
    if (!f)
        return fail(err, errlen, "cannot write: %s", strerror(errno));
    bool ok = fwrite(pre, 1, sizeof pre, f) == sizeof pre && fwrite(h, 1, n, f) == n;
    uint8_t chunk[1 << 14];
    for (int64_t i = 0; ok && i < numel;) {
        size_t m = 0;
        for (; m + 4 <= sizeof chunk && i < numel; m += 4, i++) {
            uint32_t u;
            memcpy(&u, &data[i], 4);
            for (int k = 0; k < 4; k++)
                chunk[m + (size_t)k] = (uint8_t)(u >> 8 * k);
        }
        ok = fwrite(chunk, 1, m, f) == m;
    }
    int e = errno;
    if (fclose(f) != 0 && ok) {
        ok = false;
        e = errno;
    }
    if (!ok) {
        remove(path);
        return fail(err, errlen, "cannot write: %s", strerror(e ? e : EIO));
    }
    return true;
}

void npy_free(NpyArray *a) {
    if (!a)
        return;
    free(a->data);
    memset(a, 0, sizeof *a);
}
