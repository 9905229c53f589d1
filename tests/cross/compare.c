/* compare.c: compares two output listings of the cross hosts (lines "<index> 0x<f32 bits> ...",
 * '#' lines and other text ignored) and prints one summary line:
 *     bit-identical (K values)                                          exit 0
 *     within tolerance: K values, D differ, max rel err E               exit 0
 *     MISMATCH ...                                                      exit 1
 * usage: compare REFERENCE CANDIDATE [RTOL]   (RTOL default 1e-5, relative to the larger
 * magnitude; magnitudes below 1e-6 count as 1e-6 so values near zero do not fail on noise). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXV 1000000

static long read_listing(const char *path, uint32_t *bits) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "compare: cannot open %s\n", path);
        exit(2);
    }
    char line[512];
    long n = 0;
    while (fgets(line, sizeof line, f)) {
        long idx;
        unsigned long b;
        if (sscanf(line, "%ld 0x%lx", &idx, &b) != 2) continue;
        if (idx != n || n >= MAXV) {
            fprintf(stderr, "compare: %s: expected index %ld, got %ld\n", path, n, idx);
            exit(2);
        }
        bits[n++] = (uint32_t)b;
    }
    fclose(f);
    return n;
}

static float from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: compare REFERENCE CANDIDATE [RTOL]\n");
        return 2;
    }
    double rtol = argc > 3 ? strtod(argv[3], NULL) : 1e-5;
    static uint32_t a[MAXV], b[MAXV];
    long na = read_listing(argv[1], a), nb = read_listing(argv[2], b);
    if (na == 0 || na != nb) {
        printf("MISMATCH: %ld reference values, %ld candidate values\n", na, nb);
        return 1;
    }
    long differ = 0, bad = 0, worst = 0;
    double maxrel = 0;
    for (long i = 0; i < na; i++) {
        if (a[i] == b[i]) continue;
        differ++;
        double x = from_bits(a[i]), y = from_bits(b[i]);
        double scale = fmax(fmax(fabs(x), fabs(y)), 1e-6);
        double rel = fabs(x - y) / scale;
        if (isnan(rel)) rel = INFINITY;
        if (rel > maxrel) { maxrel = rel; worst = i; }
        if (!(rel <= rtol)) bad++;
    }
    if (bad) {
        printf("MISMATCH: %ld of %ld values beyond rel %g; worst [%ld] %.9g vs %.9g (rel %.3g)\n",
               bad, na, rtol, worst, (double)from_bits(a[worst]), (double)from_bits(b[worst]), maxrel);
        return 1;
    }
    if (differ == 0)
        printf("bit-identical (%ld values)\n", na);
    else
        printf("within tolerance: %ld values, %ld differ in bits, max rel err %.3g at [%ld]\n", na,
               differ, maxrel, worst);
    return 0;
}
