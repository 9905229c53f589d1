/* main.c: nndc's entry point: the command word, the common options, help and version. */
#include <stdlib.h>
#include <string.h>

#include <llvm-c/ErrorHandling.h>
#include <llvm/Config/llvm-config.h>

#include "nndc.h"


#ifndef NND_VERSION
#define NND_VERSION "0.0.0"
#endif

static const char usage[] =
    "usage: nndc COMMAND [OPTIONS] MODEL\n"
    "\n"
    "commands:\n"
    "  check MODEL                       parse and shape-check; print a summary table\n"
    "  emit STAGE MODEL [-o FILE]        print a stage: ast, graph, opt, llvm, llvm-opt, asm, dot\n"
    "                                    (opt: [--after PASS] [--batch N] for the workspace size)\n"
    "  run MODEL --input NAME=FILE.npy ... [--output NAME=FILE.npy ...] [--backend B]\n"
    "      [--threads T]                 JIT-compile and run; outputs not saved are printed.\n"
    "                                    B: jit (default) or interp, the reference\n"
    "                                    interpreter (plain C loops over the unoptimized\n"
    "                                    graph, no LLVM: slow, for checking the JIT)\n"
    "  bench MODEL [--batch N] [--iterations K] [--threads T]\n"
    "                                    time the forward pass: compile time, median (and best)\n"
    "                                    latency and GFLOP/s; T threads split the batch\n"
    "  import MODEL.onnx -o OUT.nnd      convert an ONNX model to OUT.nnd and, next to it, the\n"
    "                                    .safetensors file it names (every command also\n"
    "                                    takes an .onnx MODEL directly)\n"
    "  build MODEL -o OUT.o [--header OUT.h] [--shared OUT.so] [--name PREFIX]\n"
    "              [--target TRIPLE] [--cpu CPU]\n"
    "                                    ahead-of-time compile to a PIC object, a C header and\n"
    "                                    a shared library that need neither LLVM nor nnd;\n"
    "                                    PREFIX (default: the model's name) names the entry\n"
    "                                    points PREFIX_forward and PREFIX_workspace_size.\n"
    "                                    CPU defaults to a portable baseline, not this\n"
    "                                    machine's: x86-64-v3 (AVX2, FMA) on x86-64, else\n"
    "                                    'generic'\n"
    "\n"
    "options:\n"
    "  -O0 -O1 -O2 -O3                   optimization level (default -O2)\n"
    "  --init random:SEED                fill parameters from SEED (models without weights)\n"
    "  --cpu CPU                         generate code for CPU (default: this machine's;\n"
    "                                    for build, see above)\n"
    "  -o FILE                           write to FILE instead of standard output\n"
    "  --help, --version\n"
    "\n"
    "exit status: 0 success, 1 errors in the model, weights or tensors, 2 usage, 3 internal\n";

static int usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "nndc: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'nndc --help'.\n");
    return EXIT_USAGE;
}

/* LLVM stops the process on a fatal error, with a core dump: a target whose CPU lacks what
 * the code needs, such as riscv64-linux-gnu's default "generic" CPU, which has no
 * floating-point unit, for LeNet-5's vector code ("Do not know how to soften the result of
 * this operator!"). nndc reports it as an error in what was asked for, and exits with 1.
 * The handler is installed for commands given --target or --cpu only: with the host's own
 * target and CPU there is nothing LLVM cannot generate, and installing it takes a lock
 * inside libLLVM whose release ThreadSanitizer, with libLLVM not instrumented, reports as an
 * unlock by nndc (scripts/test.sh's TSan run drives nndc). */
static void llvm_fatal_error(const char *reason) {
    fprintf(stderr, "nndc: error: LLVM cannot generate the code for this target and CPU "
                    "(choose another --cpu): %s\n", reason ? reason : "?");
    _Exit(EXIT_USER);
}

int main(int argc, char **argv) {
    if (argc < 2)
        return usage_error("%s", "missing command");
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage, stdout);
        return EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("nndc %s (LLVM %s)\n", NND_VERSION, LLVM_VERSION_STRING);
        return EXIT_OK;
    }
    static const struct {
        const char *name;
        int (*run)(const Options *);
    } commands[] = {
        {"check", cmd_check}, {"emit", cmd_emit}, {"run", cmd_run}, {"bench", cmd_bench},
        {"build", cmd_build}, {"import", cmd_import},
    };
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(cmd, commands[i].name) != 0)
            continue;
        Options o;
        if (!options_parse(cmd, argc - 2, argv + 2, &o))
            return EXIT_USAGE;
        if (o.target || o.cpu)
            LLVMInstallFatalErrorHandler(llvm_fatal_error);
        return commands[i].run(&o);
    }
    return usage_error("unknown command '%s'", cmd);
}
