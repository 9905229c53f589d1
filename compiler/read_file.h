/* read_file.h: a whole file into memory, with a size limit.
 *
 * In: a path, what the file is ("model", "tensor") for messages, and the largest size
 * accepted. Out: a malloc'd buffer (release with free) and its length, or NULL after one
 * error at `at`: "cannot read WHAT: <reason>" or "WHAT file is too large (limit N MiB)". */
#ifndef NND_READ_FILE_H
#define NND_READ_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "diag.h"

uint8_t *read_whole_file(Diag *d, SrcLoc at, const char *path, const char *what, size_t limit,
                         size_t *len);

#endif
