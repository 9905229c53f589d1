/* digits_jit.c: classifies the held-out handwritten digits with the model nnd JIT-compiles.
 *
 * usage: digits_jit [DIR]   (DIR holds digits.nnd, test_x.npy, test_y.npy and
 *                            expected_accuracy.txt; default: this example's directory)
 *
 * It compiles digits.nnd through the public runtime header, runs the whole test split as
 * one batch, takes the most probable class of each row, and prints the accuracy next to the
 * one PyTorch reported for the same weights (train.py). Exit status 0 when they agree. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnd.h"
#include "npy.h"

#ifndef DIGITS_DIR
#define DIGITS_DIR "."
#endif

static int load(const char *dir, const char *name, NpyArray *a) {
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (!npy_read(path, a, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", path, err);
        return 0;
    }
    return 1;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : DIGITS_DIR;
    char path[4096];
    snprintf(path, sizeof path, "%s/digits.nnd", dir);

    nnd_options opt;
    nnd_options_init(&opt);
    nnd_model *model;
    char *err;
    if (nnd_model_compile_file(path, &opt, &model, &err) != NND_OK) {
        fputs(err, stderr);
        nnd_string_free(err);
        return 1;
    }

    NpyArray x = {0}, y = {0};
    if (!load(dir, "test_x.npy", &x) || !load(dir, "test_y.npy", &y) || x.rank != 2 ||
        y.numel != x.shape[0]) {
        fprintf(stderr, "digits_jit: bad test data in %s\n", dir);
        return 1;
    }
    int64_t n = x.shape[0];
    float *probs = malloc(sizeof(float) * (size_t)n * 10);
    nnd_context *ctx;
    nnd_context_create(model, &ctx);
    nnd_tensor in = {.data = x.data, .count = (size_t)x.numel, .rank = 2, .shape = x.shape};
    nnd_tensor out = {.data = probs, .count = (size_t)n * 10};
    if (nnd_run(ctx, &in, 1, &out, 1) != NND_OK) {
        fprintf(stderr, "digits_jit: %s\n", nnd_context_error(ctx));
        return 1;
    }

    long correct = 0;
    for (int64_t i = 0; i < n; i++) {
        int best = 0;
        for (int c = 1; c < 10; c++)
            if (probs[i * 10 + c] > probs[i * 10 + best])
                best = c;
        correct += best == (int)y.data[i];
    }
    long want_correct = -1, want_total = -1;
    snprintf(path, sizeof path, "%s/expected_accuracy.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f || fscanf(f, "%ld %ld", &want_correct, &want_total) != 2)
        fprintf(stderr, "digits_jit: cannot read %s\n", path);
    if (f)
        fclose(f);

    printf("nnd:     %ld / %lld correct, accuracy %.2f%%\n", correct, (long long)n,
           100.0 * (double)correct / (double)n);
    printf("PyTorch: %ld / %ld correct, accuracy %.2f%%\n", want_correct, want_total,
           want_total > 0 ? 100.0 * (double)want_correct / (double)want_total : 0.0);
    int same = correct == want_correct && n == want_total;
    printf("%s\n", same ? "match" : "MISMATCH");

    nnd_context_destroy(ctx);
    nnd_model_destroy(model);
    free(probs);
    npy_free(&x);
    npy_free(&y);
    return same ? 0 : 1;
}
