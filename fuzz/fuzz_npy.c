/* fuzz_npy.c: the .npy reader on arbitrary bytes, both ways in.
 *
 * In: bytes taken as a .npy file. Out: nothing; the run fails on a crash, a sanitizer report,
 * a leak, a hang, or when the two readers disagree. npy_parse reads the bytes in memory;
 * npy_read streams the same bytes from a file (an in-memory memfd, named through /proc), and
 * must accept exactly the same files with the same shape and the same values, bit for bit. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create */
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "npy.h"

enum { MAX_INPUT = 1 << 20 };

/* A path that reads back as these bytes; NULL when memfd is unavailable. */
static const char *as_file(const uint8_t *data, size_t size, int *fd) {
    static char path[64];
    *fd = memfd_create("fuzz.npy", 0);
    if (*fd < 0)
        return NULL;
    if (write(*fd, data, size) != (ssize_t)size) {
        close(*fd);
        *fd = -1;
        return NULL;
    }
    snprintf(path, sizeof path, "/proc/self/fd/%d", *fd);
    return path;
}

static void same(const NpyArray *a, const NpyArray *b) {
    if (a->rank != b->rank || a->numel != b->numel ||
        memcmp(a->shape, b->shape, sizeof a->shape) != 0 ||
        memcmp(a->data, b->data, (size_t)a->numel * sizeof(float)) != 0) {
        fprintf(stderr, "npy_parse and npy_read read different arrays\n");
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > MAX_INPUT)
        return 0;
    char err1[256], err2[256];
    NpyArray a, b;
    bool ok1 = npy_parse(data, size, &a, err1, sizeof err1);
    int fd;
    const char *path = as_file(data, size, &fd);
    if (path) {
        bool ok2 = npy_read(path, &b, err2, sizeof err2);
        if (ok1 != ok2) {
            fprintf(stderr, "npy_parse %s, npy_read %s\n", ok1 ? "accepts" : err1,
                    ok2 ? "accepts" : err2);
            abort();
        }
        if (ok1)
            same(&a, &b);
        npy_free(&b);
        close(fd);
    }
    npy_free(&a);
    return 0;
}
