/* digits_aot.c: classifies the held-out handwritten digits with the model `nndc build`
 * compiled ahead of time: no LLVM, no nnd runtime, only digits.o and its header.
 *
 * usage: digits_aot [DIR [PROBS.npy]]   (DIR holds test_x.npy, test_y.npy and
 *                                        expected_accuracy.txt; default: examples/digits)
 *
 * The object and header come from
 *     nndc build examples/digits/digits.nnd -o digits.o --header digits.h --name digits
 * (examples/CMakeLists.txt runs it). The program reads the test split with the small .npy
 * reader below, runs it as one batch, prints the accuracy next to PyTorch's and, when asked,
 * writes the probabilities to PROBS.npy. Exit status 0 when the accuracies agree. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digits.h"

#ifndef DIGITS_DIR
#define DIGITS_DIR "."
#endif

/* A little-endian f32 array in C order, of rank 1 or 2 (shape[1] is 1 for rank 1). */
typedef struct Array {
    float *data;
    long shape[2];
    int rank;
} Array;

static unsigned char *read_all(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0, got;
    unsigned char *buf = malloc(cap);
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            unsigned char *grown = realloc(buf, cap *= 2);
            if (!grown)
                free(buf);
            buf = grown;
        }
    }
    fclose(f);
    *size = n;
    return buf;
}

/* Reads a .npy file (format versions 1 to 3) holding '<f4' data. 0 and a message on error. */
static int npy_load(const char *path, Array *a) {
    size_t size = 0;
    unsigned char *b = read_all(path, &size);
    const char *why = "cannot read it";
    size_t hlen = 0, start = 0;
    if (b && (size < 10 || memcmp(b, "\x93NUMPY", 6) != 0))
        why = "not a .npy file";
    else if (b && b[6] == 1)
        hlen = (size_t)b[8] | (size_t)b[9] << 8, start = 10;
    else if (b && (b[6] == 2 || b[6] == 3) && size >= 12)
        hlen = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24,
        start = 12;
    else if (b)
        why = "unsupported .npy version";
    if (start && start + hlen <= size) {
        char header[1024];
        size_t n = hlen < sizeof header ? hlen : sizeof header - 1;
        memcpy(header, b + start, n);
        header[n] = 0;
        const char *shape = strstr(header, "'shape': (");
        long d0 = 0, d1 = 1;
        int rank = shape ? sscanf(shape + 10, "%ld, %ld", &d0, &d1) : 0;
        size_t want = (size_t)(rank > 0 ? d0 : 0) * (size_t)(rank > 1 ? d1 : 1) * 4;
        if (!strstr(header, "'descr': '<f4'") || !strstr(header, "'fortran_order': False"))
            why = "not little-endian float32 in C order";
        else if (rank < 1 || d0 < 1 || d1 < 1 || size - start - hlen != want)
            why = "bad shape or size";
        else if ((a->data = malloc(want)) != NULL) {
            memcpy(a->data, b + start + hlen, want);
            a->shape[0] = d0;
            a->shape[1] = d1;
            a->rank = rank;
            free(b);
            return 1;
        }
    } else if (start) {
        why = "truncated header";
    }
    fprintf(stderr, "digits_aot: %s: %s\n", path, why);
    free(b);
    return 0;
}

static int npy_save(const char *path, const float *data, long rows, long cols) {
    char header[128];
    int n = snprintf(header, sizeof header,
                     "{'descr': '<f4', 'fortran_order': False, 'shape': (%ld, %ld), }", rows, cols);
    while (n < 127 - 10)
        header[n++] = ' ';
    header[n++] = '\n';
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)n, 0};
    int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(header, 1, (size_t)n, f) == (size_t)n &&
             fwrite(data, sizeof(float), (size_t)(rows * cols), f) == (size_t)(rows * cols);
    return fclose(f) == 0 && ok;
}

static int load(const char *dir, const char *name, Array *a) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return npy_load(path, a);
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : DIGITS_DIR;
    Array x = {0}, y = {0};
    if (!load(dir, "test_x.npy", &x) || !load(dir, "test_y.npy", &y) || x.rank != 2 ||
        x.shape[1] != digits_INPUT_pixels_DIM1 || y.shape[0] != x.shape[0]) {
        fprintf(stderr, "digits_aot: bad test data in %s\n", dir);
        return 1;
    }
    long n = x.shape[0];

    /* The batch size is the symbol N; the workspace depends only on the symbols. */
    int64_t symbols[digits_NUM_SYMBOLS] = {0};
    symbols[digits_SYM_N] = n;
    int64_t bytes = digits_workspace_size(symbols);
    void *workspace = bytes > 0 ? aligned_alloc(64, (size_t)(bytes + 63) / 64 * 64) : NULL;
    float *probs = malloc(sizeof(float) * (size_t)n * digits_OUTPUT_probs_DIM1);
    if ((bytes > 0 && !workspace) || !probs) {
        fprintf(stderr, "digits_aot: out of memory\n");
        return 1;
    }
    const float *inputs[digits_NUM_INPUTS] = {x.data};
    float *outputs[digits_NUM_OUTPUTS] = {probs};
    digits_forward(inputs, outputs, symbols, workspace);

    long correct = 0;
    for (long i = 0; i < n; i++) {
        int best = 0;
        for (int c = 1; c < digits_OUTPUT_probs_DIM1; c++)
            if (probs[i * 10 + c] > probs[i * 10 + best])
                best = c;
        correct += best == (int)y.data[i];
    }
    long want_correct = -1, want_total = -1;
    char path[4096];
    snprintf(path, sizeof path, "%s/expected_accuracy.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f || fscanf(f, "%ld %ld", &want_correct, &want_total) != 2)
        fprintf(stderr, "digits_aot: cannot read %s\n", path);
    if (f)
        fclose(f);
    printf("nnd AOT: %ld / %ld correct, accuracy %.2f%%\n", correct, n, 100.0 * (double)correct / (double)n);
    printf("PyTorch: %ld / %ld correct, accuracy %.2f%%\n", want_correct, want_total,
           want_total > 0 ? 100.0 * (double)want_correct / (double)want_total : 0.0);
    int same = correct == want_correct && n == want_total;
    printf("%s\n", same ? "match" : "MISMATCH");

    int status = same ? 0 : 1;
    if (argc > 2 && !npy_save(argv[2], probs, n, digits_OUTPUT_probs_DIM1)) {
        fprintf(stderr, "digits_aot: cannot write %s\n", argv[2]);
        status = 1;
    }
    free(workspace);
    free(probs);
    free(x.data);
    free(y.data);
    return status;
}
