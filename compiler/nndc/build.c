/* build.c: `nndc build MODEL -o OUT.o [--header OUT.h] [--shared OUT.so] [--name PREFIX]
 * [--target TRIPLE] [--cpu CPU]`: ahead-of-time compilation (SPEC sections 4 and 5).
 *
 * Writes a position-independent object with PREFIX_forward and PREFIX_workspace_size (the
 * weights in its read-only data), optionally the C header that declares them
 * (codegen/aot_header.c) and a shared library linked from the object by the system C
 * compiler. None of them needs LLVM or the nnd runtime, and the same model and options give
 * the same bytes.
 *
 * The CPU: without --cpu, code is generated for a portable baseline, not for the machine
 * that builds (as a C compiler does): x86-64-v3 (AVX2, FMA; Haswell and later) for x86-64
 * targets, "generic" for every other target. An object for the build machine's own CPU
 * (e.g. AVX-512) would die with SIGILL elsewhere. A --cpu is passed to LLVM as given. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <llvm-c/Core.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "aot_header.h"
#include "nndc.h"

extern char **environ;

/* The CPU `build` generates code for when --cpu is not given, for a target triple. */
static const char *default_cpu(const char *triple) {
    return strncmp(triple, "x86_64-", 7) == 0 ? "x86-64-v3" : "generic";
}

static bool is_identifier(const char *s) {
    if (strlen(s) >= 100 || !*s || !(s[0] == '_' || (s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
        return false;
    for (; *s; s++)
        if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9')))
            return false;
    return true;
}

/* The architecture and OS of a triple (normalized "arch-vendor-os-env") agree with the
 * host's, so the system C compiler can link an object for it. */
static bool host_compatible(const char *triple) {
    char *host = LLVMGetDefaultTargetTriple();
    char *a = LLVMNormalizeTargetTriple(host), *b = LLVMNormalizeTargetTriple(triple);
    char *pa[4] = {0}, *pb[4] = {0};
    char *sa, *sb;
    int na = 0, nb = 0;
    for (char *t = strtok_r(a, "-", &sa); t && na < 4; t = strtok_r(NULL, "-", &sa))
        pa[na++] = t;
    for (char *t = strtok_r(b, "-", &sb); t && nb < 4; t = strtok_r(NULL, "-", &sb))
        pb[nb++] = t;
    bool ok = na >= 3 && nb >= 3 && strcmp(pa[0], pb[0]) == 0 && strcmp(pa[2], pb[2]) == 0;
    LLVMDisposeMessage(host);
    LLVMDisposeMessage(a);
    LLVMDisposeMessage(b);
    return ok;
}

/* Bytes of constant data in the module: the parameters. */
static int64_t constant_bytes(Cg *cg) {
    LLVMTargetDataRef td = LLVMCreateTargetDataLayout(cg->tm);
    int64_t total = 0;
    for (LLVMValueRef gv = LLVMGetFirstGlobal(cg->mod); gv; gv = LLVMGetNextGlobal(gv))
        if (LLVMIsGlobalConstant(gv) && LLVMGetInitializer(gv))
            total += (int64_t)LLVMABISizeOfType(td, LLVMGlobalGetValueType(gv));
    LLVMDisposeTargetData(td);
    return total;
}

static int write_failed(const char *path) {
    fprintf(stderr, "nndc: cannot write '%s': %s\n", path, strerror(errno));
    return EXIT_USER;
}

/* Writes the object's bytes to path. */
static int write_object(Compilation *c, const char *path) {
    char *err = NULL;
    LLVMMemoryBufferRef buf = cg_emit_machine_code(&c->cg, LLVMObjectFile, &err);
    if (!buf) {
        fprintf(stderr, "%s: internal error: cannot emit the object: %s\n", c->file, err ? err : "?");
        LLVMDisposeMessage(err);
        return EXIT_INTERNAL;
    }
    FILE *f = fopen(path, "wb");
    if (!f) {
        LLVMDisposeMemoryBuffer(buf);
        return write_failed(path);
    }
    size_t n = LLVMGetBufferSize(buf);
    bool ok = fwrite(LLVMGetBufferStart(buf), 1, n, f) == n;
    ok = (fclose(f) == 0) && ok;
    LLVMDisposeMemoryBuffer(buf);
    if (!ok) {
        int st = write_failed(path);
        remove(path);
        return st;
    }
    return EXIT_OK;
}

static int write_header(Compilation *c, const char *path, const char *prefix, const char *triple,
                        const char *cpu) {
    FILE *f = fopen(path, "w");
    if (!f)
        return write_failed(path);
    bool ok = aot_write_header(f, c->graph, prefix, triple, cpu, constant_bytes(&c->cg));
    ok = (fclose(f) == 0) && ok;
    if (!ok) {
        int st = write_failed(path);
        remove(path);
        return st;
    }
    return EXIT_OK;
}

/* `cc -shared -o so obj`, without a shell. */
static int link_shared(const char *so, const char *obj) {
    const char *cc = getenv("CC");
    if (!cc || !*cc || strchr(cc, ' '))
        cc = "cc";
    char *argv[] = {(char *)cc, "-shared", "-o", (char *)so, (char *)obj, NULL};
    pid_t pid;
    int err = posix_spawnp(&pid, cc, NULL, NULL, argv, environ);
    if (err) {
        fprintf(stderr, "nndc: cannot run the C compiler '%s' to link '%s': %s\n", cc, so,
                strerror(err));
        return EXIT_USER;
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            fprintf(stderr, "nndc: waiting for '%s': %s\n", cc, strerror(errno));
            return EXIT_INTERNAL;
        }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "nndc: linking '%s' with '%s' failed\n", so, cc);
        return EXIT_USER;
    }
    return EXIT_OK;
}

/* The shared library: from the object at -o, or from a temporary one. */
static int build_shared(Compilation *c, const Options *o) {
    if (o->output)
        return link_shared(o->shared, o->output);
    const char *dir = getenv("TMPDIR");
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s/nndc-build-XXXXXX.o", dir && *dir ? dir : "/tmp");
    int fd = mkstemps(tmp, 2);
    if (fd < 0)
        return write_failed(tmp);
    close(fd);
    int st = write_object(c, tmp);
    if (st == EXIT_OK)
        st = link_shared(o->shared, tmp);
    remove(tmp);
    return st;
}

int cmd_build(const Options *o) {
    if (!o->output && !o->shared) {
        fprintf(stderr, "nndc: build needs -o OUT.o (or --shared OUT.so)\nTry 'nndc --help'.\n");
        return EXIT_USAGE;
    }
    if (o->name && !is_identifier(o->name)) {
        fprintf(stderr, "nndc: --name takes a C identifier (letters, digits, '_', not starting "
                        "with a digit, under 100 characters), not '%s'\nTry 'nndc --help'.\n",
                o->name);
        return EXIT_USAGE;
    }
    char *host = LLVMGetDefaultTargetTriple();
    char triple[256];
    snprintf(triple, sizeof triple, "%s", o->target ? o->target : host);
    LLVMDisposeMessage(host);
    /* Every target LLVM was built with, for cross-compilation (cg_init sets up the host's). */
    LLVMInitializeAllTargetInfos();
    LLVMInitializeAllTargets();
    LLVMInitializeAllTargetMCs();
    LLVMInitializeAllAsmPrinters();
    LLVMTargetRef target;
    char *err = NULL;
    if (LLVMGetTargetFromTriple(triple, &target, &err)) {
        fprintf(stderr, "nndc: unknown target '%s': %s\n", triple, err ? err : "");
        LLVMDisposeMessage(err);
        return EXIT_USER;
    }
    LLVMDisposeMessage(err);
    if (o->shared && !host_compatible(triple)) {
        fprintf(stderr, "nndc: --shared links with this machine's C compiler, which cannot link "
                        "for target '%s': build the object with -o and link it with a toolchain "
                        "for that target\n", triple);
        return EXIT_USAGE;
    }

    CompileOptions co;
    options_to_compile(o, &co);
    co.triple = o->target;
    co.cpu = o->cpu ? o->cpu : default_cpu(triple);
    co.prefix = o->name;
    int st;
    Compilation *c = compile_model(o, &co, STAGE_GRAPH, &st);
    if (!c)
        return st;
    if (!o->name && !is_identifier(c->graph->name)) {
        fprintf(stderr, "nndc: the model's name '%s' is not a C identifier: give --name PREFIX\n",
                c->graph->name);
        st = EXIT_USAGE;
    } else {
        if (!o->name)
            co.prefix = c->graph->name;
        if (!compile_to(c, STAGE_LLVM_OPT, &co))
            st = report_failure(c);
    }
    if (st == EXIT_OK && o->output)
        st = write_object(c, o->output);
    if (st == EXIT_OK && o->header)
        st = write_header(c, o->header, co.prefix, triple, co.cpu);
    if (st == EXIT_OK && o->shared)
        st = build_shared(c, o);
    compilation_free(c);
    return st;
}
