/* emit.c: `nndc emit STAGE MODEL [-o FILE]`: prints what one stage of the pipeline made. */
#include <llvm-c/Core.h>
#include <string.h>

#include "nndc.h"
#include "passes.h"

typedef enum Kind { K_AST, K_GRAPH, K_OPT, K_LLVM, K_LLVM_OPT, K_ASM, K_DOT } Kind;

static const struct {
    const char *name;
    Kind kind;
    Stage needs;
} stages[] = {
    {"ast", K_AST, STAGE_PARSE},       {"graph", K_GRAPH, STAGE_GRAPH},
    {"opt", K_OPT, STAGE_OPT},         {"llvm", K_LLVM, STAGE_LLVM},
    {"llvm-opt", K_LLVM_OPT, STAGE_LLVM_OPT}, {"asm", K_ASM, STAGE_LLVM_OPT},
    {"dot", K_DOT, STAGE_GRAPH},
};

static int print_module(FILE *out, LLVMModuleRef m) {
    char *text = LLVMPrintModuleToString(m);
    fputs(text, out);
    LLVMDisposeMessage(text);
    return EXIT_OK;
}

static int print_asm(FILE *out, Compilation *c) {
    char *err = NULL;
    LLVMMemoryBufferRef buf = cg_emit_machine_code(&c->cg, LLVMAssemblyFile, &err);
    if (!buf) {
        fprintf(stderr, "%s: internal error: cannot emit assembly: %s\n", c->file, err ? err : "?");
        LLVMDisposeMessage(err);
        return EXIT_INTERNAL;
    }
    fwrite(LLVMGetBufferStart(buf), 1, LLVMGetBufferSize(buf), out);
    LLVMDisposeMemoryBuffer(buf);
    return EXIT_OK;
}

int cmd_emit(const Options *o) {
    int which = -1;
    for (int i = 0; i < (int)(sizeof stages / sizeof stages[0]); i++)
        if (strcmp(o->stage, stages[i].name) == 0)
            which = i;
    if (which < 0) {
        fprintf(stderr, "nndc: unknown stage '%s' (ast, graph, opt, llvm, llvm-opt, asm, dot)\n",
                o->stage);
        return EXIT_USAGE;
    }
    if (o->after) {
        const char *const *names = passes_names();
        int k = 0;
        while (names[k] && strcmp(names[k], o->after) != 0)
            k++;
        if (!names[k] || stages[which].kind != K_OPT) {
            fprintf(stderr, "nndc: --after goes with 'emit opt' and one of the passes:");
            for (k = 0; names[k]; k++)
                fprintf(stderr, " %s", names[k]);
            fprintf(stderr, "\n");
            return EXIT_USAGE;
        }
    }
    CompileOptions co;
    options_to_compile(o, &co);
    int status;
    Compilation *c = compile_model(o, &co, stages[which].needs, &status);
    if (!c)
        return status;
    FILE *out = open_output(o->output);
    status = out ? EXIT_OK : EXIT_USER;
    if (out) {
        switch (stages[which].kind) {
        case K_AST: ast_dump(out, c->ast); break;
        case K_GRAPH: graph_dump(out, c->graph); break;
        case K_OPT: graph_dump_opt(out, c->graph, o->batch); break;
        case K_LLVM:
        case K_LLVM_OPT: status = print_module(out, c->cg.mod); break;
        case K_ASM: status = print_asm(out, c); break;
        case K_DOT: graph_dump_dot(out, c->graph); break;
        }
        close_output(out);
    }
    compilation_free(c);
    return status;
}
