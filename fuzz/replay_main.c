/* replay_main.c: a main() for the fuzz targets when libFuzzer is not linked (gcc builds).
 *
 * In: file and directory arguments (arguments starting with '-' are libFuzzer options and
 * are ignored). Out: every file, and every regular file directly inside each directory,
 * passed once to LLVMFuzzerTestOneInput; exit status 0. A bug shows as a crash or a
 * sanitizer report, as it would under libFuzzer; an unreadable argument is exit status 2. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int inputs_run;

static int run_file(const char *path) {
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (!f || fstat(fileno(f), &st) != 0 || st.st_size < 0) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        if (f)
            fclose(f);
        return 2;
    }
    /* An exact-size buffer, so that ASan sees a read past the input as libFuzzer would. */
    size_t n = (size_t)st.st_size;
    uint8_t *buf = malloc(n ? n : 1);
    bool ok = buf && fread(buf, 1, n, f) == n;
    fclose(f);
    if (ok) {
        LLVMFuzzerTestOneInput(buf, n);
        inputs_run++;
    }
    else
        fprintf(stderr, "replay: cannot read %s\n", path);
    free(buf);
    return ok ? 0 : 2;
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The regular files of a directory, in name order so that runs are repeatable. */
static int run_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "replay: cannot open %s\n", dir);
        return 2;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    int status = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **n2 = realloc(names, cap * sizeof *names);
            if (!n2) {
                status = 2;
                break;
            }
            names = n2;
        }
        names[n] = malloc(strlen(dir) + strlen(e->d_name) + 2);
        if (!names[n]) {
            status = 2;
            break;
        }
        sprintf(names[n++], "%s/%s", dir, e->d_name);
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, by_name);
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (status == 0 && stat(names[i], &st) == 0 && S_ISREG(st.st_mode))
            status = run_file(names[i]);
        free(names[i]);
    }
    free(names);
    return status;
}

int main(int argc, char **argv) {
    int status = 0;
    for (int i = 1; i < argc && status == 0; i++) {
        struct stat st;
        if (argv[i][0] == '-')
            continue;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: cannot open %s\n", argv[i]);
            return 2;
        }
        status = S_ISDIR(st.st_mode) ? run_dir(argv[i]) : run_file(argv[i]);
    }
    if (status == 0)
        printf("replay: %d input%s run\n", inputs_run, inputs_run == 1 ? "" : "s");
    return status;
}
