/* import.c: `nndc import MODEL.onnx -o OUT.nnd`: the .nnd text, and next to it the
 * .safetensors file its weights statement names (SPEC section 4). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nndc.h"
#include "onnx_import.h"

/* The weights file: in OUT's directory, under the name the text gives it. */
static bool write_weights(Arena *a, const char *out, const OnnxImport *im) {
    const char *slash = strrchr(out, '/');
    const char *path = slash ? arena_printf(a, "%.*s/%s", (int)(slash - out), out,
                                            im->weights_name)
                             : im->weights_name;
    if (!st_write_file(path, &im->weights)) {
        fprintf(stderr, "nndc: cannot write '%s': %s\n", path, strerror(errno));
        return false;
    }
    return true;
}

/* The model's name: OUT's file name without ".nnd" (NULL: the importer chooses). */
static const char *name_from(Arena *a, const char *out) {
    if (!out || strcmp(out, "-") == 0)
        return NULL;
    const char *base = strrchr(out, '/') ? strrchr(out, '/') + 1 : out;
    size_t n = strlen(base);
    if (n > 4 && strcmp(base + n - 4, ".nnd") == 0)
        n -= 4;
    return n ? arena_strndup(a, base, n) : NULL;
}

int cmd_import(const Options *o) {
    if (!onnx_is_onnx_path(o->model)) {
        fprintf(stderr, "nndc: import needs an .onnx file, got '%s'\nTry 'nndc --help'.\n",
                o->model);
        return EXIT_USAGE;
    }
    if (!o->output || strcmp(o->output, "-") == 0) {
        fprintf(stderr, "nndc: import needs -o OUT.nnd\nTry 'nndc --help'.\n");
        return EXIT_USAGE;
    }
    Compilation *c = compilation_new();
    if (!c)
        return EXIT_INTERNAL;
    jmp_buf here;
    arena_on_oom(c->arena, &here);
    if (setjmp(here)) {
        fprintf(stderr, "nndc: out of memory\n");
        compilation_free(c);
        return EXIT_INTERNAL;
    }
    OnnxImport im;
    int status = EXIT_OK;
    if (!onnx_import_file(c->arena, c->diag, o->model, name_from(c->arena, o->output), &im)) {
        fputs(diag_text(c->diag), stderr);
        status = EXIT_USER;
    } else if (im.weights_name && !write_weights(c->arena, o->output, &im)) {
        status = EXIT_USER;
    } else {
        FILE *f = open_output(o->output);
        if (!f) {
            status = EXIT_USER;
        } else {
            fwrite(im.nnd_text, 1, im.nnd_len, f);
            close_output(f);
        }
    }
    arena_on_oom(c->arena, NULL);
    compilation_free(c);
    return status;
}
