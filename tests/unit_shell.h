/* unit_shell.h: running commands from a suite, for tests of the command-line tools.
 *
 * sh(fmt, ...) runs a shell command from the repository root with stderr joined to stdout;
 * it returns the exit status (128 when the command did not exit normally) and leaves the
 * output in sh_out. sh_tmpdir() is one scratch directory per test process. */
#ifndef NND_UNIT_SHELL_H
#define NND_UNIT_SHELL_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

static char sh_out[1 << 20];

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2), unused));
static int sh(const char *fmt, ...) {
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char full[4200];
    snprintf(full, sizeof full, "cd %s && %s 2>&1", NND_SOURCE_DIR, cmd);
    FILE *p = popen(full, "r");
    size_t n = p ? fread(sh_out, 1, sizeof sh_out - 1, p) : 0;
    sh_out[n] = 0;
    int st = p ? pclose(p) : -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static const char *sh_tmpdir(void) __attribute__((unused));
static const char *sh_tmpdir(void) {
    static char dir[64];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/nnd-test-XXXXXX");
        if (!mkdtemp(dir))
            dir[0] = 0;
    }
    return dir;
}

#endif
