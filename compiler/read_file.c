/* read_file.c: whole files into memory; see read_file.h. */
#include "read_file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint8_t *read_whole_file(Diag *d, SrcLoc at, const char *path, const char *what, size_t limit,
                         size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        diag_error(d, at, "cannot read %s: %s", what, strerror(errno));
        return NULL;
    }
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            size_t next = cap ? cap * 2 : 1 << 16;
            uint8_t *grown = cap >= limit ? NULL : realloc(buf, next);
            if (!grown) {
                diag_error(d, at, "%s file is too large (limit %zu MiB)", what, limit >> 20);
                break;
            }
            buf = grown;
            cap = next;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (!ferror(f)) {
                fclose(f);
                *len = n;
                return buf;
            }
            diag_error(d, at, "cannot read %s: %s", what, strerror(errno));
            break;
        }
    }
    fclose(f);
    free(buf);
    return NULL;
}
