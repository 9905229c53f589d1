/* test_aot.c: `nndc build` (SPEC sections 4 and 5): the AOT example agrees with the JIT bit
 * for bit when both generate code for the same CPU, the shared library needs neither LLVM
 * nor nnd, builds are byte-identical, the header stands alone, two models with different
 * prefixes link into one program, and every error exits with its status. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nnd.h"
#include "npy.h"
#include "unit_harness.h"
#include "unit_shell.h"

#define NNDC NND_BINARY_DIR "/nndc"
#define DIGITS NND_SOURCE_DIR "/examples/digits"
#define DENSE NND_SOURCE_DIR "/tests/ref/cases/dense_13_7_b1"

/* The CPU `nndc build` defaults to on this host (build.c): the JIT is given the same. */
#if defined(__x86_64__)
#define BUILD_CPU "x86-64-v3"
#else
#define BUILD_CPU "generic"
#endif


static const char *tmp(void) { return sh_tmpdir(); }

static bool exists(const char *dir, const char *name) {
    char path[256];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0;
}

/* The JIT's probabilities for the digits test split, compiled for BUILD_CPU at -O2. */
static float *jit_digits(const NpyArray *x) {
    nnd_options opt;
    nnd_options_init(&opt);
    opt.cpu = BUILD_CPU;
    nnd_model *m = NULL;
    char *err = NULL;
    if (nnd_model_compile_file(DIGITS "/digits.nnd", &opt, &m, &err) != NND_OK) {
        fprintf(stderr, "%s", err ? err : "?");
        nnd_string_free(err);
        return NULL;
    }
    float *probs = calloc((size_t)x->shape[0] * 10, sizeof(float));
    nnd_context *ctx = NULL;
    nnd_context_create(m, &ctx);
    nnd_tensor in = {.data = x->data, .count = (size_t)x->numel, .rank = 2, .shape = x->shape};
    nnd_tensor o = {.data = probs, .count = (size_t)x->shape[0] * 10};
    if (!ctx || nnd_run(ctx, &in, 1, &o, 1) != NND_OK) {
        free(probs);
        probs = NULL;
    }
    nnd_context_destroy(ctx);
    nnd_model_destroy(m);
    return probs;
}

static void test_aot_example_equals_jit_bit_for_bit(void) {
    const char *d = tmp();
    CU_ASSERT_EQUAL_FATAL(sh(NND_BINARY_DIR "/examples/digits_aot " DIGITS " %s/aot_probs.npy", d), 0);
    CU_ASSERT(strstr(sh_out, "349 / 360") != NULL);
    char path[256], err[256];
    snprintf(path, sizeof path, "%s/aot_probs.npy", d);
    NpyArray aot = {0}, x = {0};
    CU_ASSERT_FATAL(npy_read(path, &aot, err, sizeof err));
    CU_ASSERT_FATAL(npy_read(DIGITS "/test_x.npy", &x, err, sizeof err));
    CU_ASSERT_EQUAL_FATAL(aot.numel, x.shape[0] * 10);
    float *jit = jit_digits(&x);
    CU_ASSERT_PTR_NOT_NULL_FATAL(jit);
    CU_ASSERT(memcmp(jit, aot.data, sizeof(float) * (size_t)aot.numel) == 0);
    free(jit);
    npy_free(&aot);
    npy_free(&x);
    /* The example links nothing of nnd or LLVM. */
    CU_ASSERT_EQUAL(sh("ldd " NND_BINARY_DIR "/examples/digits_aot"), 0);
    CU_ASSERT(strstr(sh_out, "LLVM") == NULL && strstr(sh_out, "nnd") == NULL);
}

static void test_aot_shared_library_needs_no_llvm_or_nnd(void) {
    const char *d = tmp();
    CU_ASSERT_EQUAL_FATAL(sh(NNDC " build examples/digits/digits.nnd --shared %s/lib1.so", d), 0);
    CU_ASSERT_EQUAL(sh("ldd %s/lib1.so", d), 0);
    CU_ASSERT(strstr(sh_out, "LLVM") == NULL && strstr(sh_out, "nnd") == NULL);
    CU_ASSERT_EQUAL(sh("nm -D --defined-only %s/lib1.so", d), 0);
    CU_ASSERT(strstr(sh_out, "T digits_forward") != NULL);
    CU_ASSERT(strstr(sh_out, "T digits_workspace_size") != NULL);
    /* The object calls nothing outside itself but the C library's memory functions. */
    CU_ASSERT_EQUAL(sh(NNDC " build examples/resnet_block/resnet_block.nnd -o %s/rb.o", d), 0);
    CU_ASSERT_EQUAL(sh("nm -u %s/rb.o | grep -v -w -e memcpy -e memset -e memmove", d), 1);
}

static void test_aot_builds_are_byte_identical(void) {
    const char *d = tmp();
    for (int i = 1; i <= 2; i++)
        CU_ASSERT_EQUAL(sh("mkdir -p %s/b%d && " NNDC " build examples/digits/digits.nnd -o %s/b%d/m.o"
                           " --header %s/b%d/m.h --shared %s/b%d/m.so", d, i, d, i, d, i, d, i), 0);
    CU_ASSERT_EQUAL(sh("cmp %s/b1/m.o %s/b2/m.o", d, d), 0);
    CU_ASSERT_EQUAL(sh("cmp %s/b1/m.h %s/b2/m.h", d, d), 0);
    CU_ASSERT_EQUAL(sh("cmp %s/b1/m.so %s/b2/m.so", d, d), 0);
}

static void test_aot_errors(void) {
    const char *d = tmp();
    CU_ASSERT_EQUAL(sh(NNDC " build examples/digits/digits.nnd -o %s/e.o --target bogus-none", d), 1);
    CU_ASSERT(strstr(sh_out, "unknown target 'bogus-none'") != NULL);
    CU_ASSERT_FALSE(exists(d, "e.o"));
    CU_ASSERT_EQUAL(sh(NNDC " build examples/digits/digits.nnd -o %s/no/such/dir/e.o", d), 1);
    CU_ASSERT(strstr(sh_out, "/no/such/dir/e.o") != NULL && strstr(sh_out, "No such file") != NULL);
    CU_ASSERT_EQUAL(sh(NNDC " build examples/digits/digits.nnd -o %s/e2.o --header %s/no/e.h", d, d), 1);
    CU_ASSERT(strstr(sh_out, "/no/e.h") != NULL);
    CU_ASSERT_EQUAL(sh(NNDC " build examples/digits/digits.nnd -o %s/e.o --name 9lives", d), 2);
    CU_ASSERT(strstr(sh_out, "'9lives'") != NULL);
    CU_ASSERT_EQUAL(sh(NNDC " build examples/digits/digits.nnd -o %s/e.o --name a-b", d), 2);
    CU_ASSERT_EQUAL(sh(NNDC " build examples/digits/digits.nnd -o %s/e.o --name", d), 2);
    CU_ASSERT_EQUAL(sh(NNDC " build examples/digits/digits.nnd"), 2);
    CU_ASSERT_EQUAL(sh(NNDC " build examples/digits/digits.nnd --shared %s/x.so --target "
                       "aarch64-linux-gnu", d), 2);
    CU_ASSERT(strstr(sh_out, "aarch64-linux-gnu") != NULL);
    CU_ASSERT_EQUAL(sh(NNDC " build tests/golden/diagnostics/three_mistakes.nnd -o %s/bad.o "
                       "--header %s/bad.h", d, d), 1);
    CU_ASSERT(strstr(sh_out, "three_mistakes.nnd:5:13: error: unknown operator 'desne'") != NULL);
    CU_ASSERT_FALSE(exists(d, "bad.o"));
    CU_ASSERT_FALSE(exists(d, "bad.h"));
    CU_ASSERT_EQUAL(sh(NNDC " build /nonexistent/model.nnd -o %s/e3.o", d), 1);
    CU_ASSERT_FALSE(exists(d, "e3.o"));
    /* --help names the default CPU of build. */
    CU_ASSERT_EQUAL(sh(NNDC " --help"), 0);
    CU_ASSERT(strstr(sh_out, "x86-64-v3") != NULL);
}

static void test_aot_header_stands_alone(void) {
    const char *d = tmp();
    CU_ASSERT_EQUAL_FATAL(sh(NNDC " build examples/digits/digits.nnd -o %s/h.o --header %s/h.h", d, d), 0);
    CU_ASSERT_EQUAL(sh("cc -std=c99 -pedantic -Wall -Wextra -Werror -fsyntax-only -x c %s/h.h", d), 0);
    CU_ASSERT_EQUAL(sh("grep '#include' %s/h.h", d), 0);
    /* pthread.h only behind digits_THREADS, and the header compiles with it too */
    CU_ASSERT(strcmp(sh_out, "#include <stddef.h>\n#include <stdint.h>\n#include <pthread.h>\n") == 0);
    CU_ASSERT_EQUAL(sh("grep -B1 '#include <pthread.h>' %s/h.h | head -1", d), 0);
    CU_ASSERT(strcmp(sh_out, "#ifdef digits_THREADS\n") == 0);
    CU_ASSERT_EQUAL(sh("cc -std=c99 -pedantic -Wall -Wextra -Werror -fsyntax-only -Ddigits_THREADS "
                       "-x c %s/h.h", d), 0);
    CU_ASSERT_EQUAL(sh("grep -F 'void digits_forward(const float *const *inputs, float *const "
                       "*outputs, const int64_t *symbols, void *workspace);' %s/h.h", d), 0);
    /* 11520: the six packed parameter arrays, 8192 + 128 + 2048 + 64 + 1024 + 64 bytes. */
    CU_ASSERT_EQUAL(sh("grep -c -e 'define digits_NUM_SYMBOLS 1' -e 'define digits_SYM_N 0' "
                       "-e 'define digits_WEIGHTS_BYTES 11520' -e 'define digits_INPUT_pixels_DIM1 64' "
                       "-e 'extern \"C\"' %s/h.h", d), 0);
    CU_ASSERT(strcmp(sh_out, "5\n") == 0);
}

/* Concatenating sizes N and M gives the derived symbol (N+M): the header documents its slot,
 * defines no constant for it, and forward never reads it. */
static void test_aot_derived_symbols_are_not_read(void) {
    const char *d = tmp();
    CU_ASSERT_EQUAL_FATAL(sh("printf 'model cat {\\n input a : f32[N, 2]\\n input b : f32[M, 2]\\n"
                             " output y = concat(a, b, axis=0)\\n}\\n' > %s/cat.nnd && cat %s/cat.nnd", d, d), 0);
    CU_ASSERT_EQUAL_FATAL(sh(NNDC " build %s/cat.nnd -o %s/cat.o --header %s/cat.h", d, d, d), 0);
    CU_ASSERT_EQUAL(sh("grep -c -e 'define cat_SYM_N 0' -e 'define cat_SYM_M 1' "
                       "-e 'symbols.2. is (N+M): derived, not read' -e 'define cat_NUM_SYMBOLS 3' %s/cat.h", d), 0);
    CU_ASSERT(strcmp(sh_out, "4\n") == 0);
    char path[256];
    snprintf(path, sizeof path, "%s/cat_main.c", d);
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs("#include <stdio.h>\n#include \"cat.h\"\n"
          "int main(void) {\n"
          "    float a[4] = {1, 2, 3, 4}, b[6] = {5, 6, 7, 8, 9, 10}, y[10];\n"
          "    int64_t s[cat_NUM_SYMBOLS] = {0};\n"
          "    s[cat_SYM_N] = 2; s[cat_SYM_M] = 3; s[2] = -12345;\n"
          "    char ws[4096];\n"
          "    if (cat_workspace_size(s) > 4096) return 1;\n"
          "    const float *in[] = {a, b}; float *out[] = {y};\n"
          "    cat_forward(in, out, s, ws);\n"
          "    for (int i = 0; i < 10; i++) printf(\"%g \", y[i]);\n"
          "    return 0;\n}\n", f);
    fclose(f);
    CU_ASSERT_EQUAL_FATAL(sh("cc -std=c11 -Wall -Wextra -Werror -I%s -o %s/cat %s/cat_main.c %s/cat.o",
                             d, d, d, d), 0);
    CU_ASSERT_EQUAL(sh("%s/cat", d), 0);
    CU_ASSERT_STRING_EQUAL(sh_out, "1 2 3 4 5 6 7 8 9 10 ");
}

/* A tiny program that runs digits and dense_13_7 (prefix dense) on fixed inputs. */
static const char two_models_c[] =
    "#include <stdio.h>\n#include <stdlib.h>\n#include \"digits.h\"\n#include \"dense.h\"\n"
    "int main(void) {\n"
    "    float px[2 * 64], probs[2 * 10], x[13], y[7];\n"
    "    for (int i = 0; i < 2 * 64; i++) px[i] = (float)(i % 17);\n"
    "    for (int i = 0; i < 13; i++) x[i] = (float)i / 13.0f - 0.5f;\n"
    "    int64_t s[digits_NUM_SYMBOLS] = {0}, t[dense_NUM_SYMBOLS] = {0};\n"
    "    s[digits_SYM_N] = 2; t[dense_SYM_N] = 1;\n"
    "    void *ws = aligned_alloc(64, 64 * 1024);\n"
    "    if (digits_workspace_size(s) > 64 * 1024 || dense_workspace_size(t) > 64 * 1024) return 1;\n"
    "    const float *in1[] = {px}, *in2[] = {x};\n"
    "    float *out1[] = {probs}, *out2[] = {y};\n"
    "    digits_forward(in1, out1, s, ws);\n"
    "    dense_forward(in2, out2, t, ws);\n"
    "    for (int i = 0; i < 20; i++) printf(\"%a\\n\", probs[i]);\n"
    "    for (int i = 0; i < 7; i++) printf(\"%a\\n\", y[i]);\n"
    "    free(ws);\n    return 0;\n}\n";

/* The same through the JIT, printed the same way. */
static void jit_two_models(char *text, size_t cap) {
    float px[2 * 64], probs[2 * 10], x[13], y[7];
    for (int i = 0; i < 2 * 64; i++)
        px[i] = (float)(i % 17);
    for (int i = 0; i < 13; i++)
        x[i] = (float)i / 13.0f - 0.5f;
    const char *paths[2] = {DIGITS "/digits.nnd", DENSE "/model.nnd"};
    float *ins[2] = {px, x}, *outs[2] = {probs, y};
    int64_t shapes[2][2] = {{2, 64}, {1, 13}};
    size_t counts[2][2] = {{128, 20}, {13, 7}};
    for (int k = 0; k < 2; k++) {
        nnd_options opt;
        nnd_options_init(&opt);
        opt.cpu = BUILD_CPU;
        nnd_model *m = NULL;
        nnd_context *ctx = NULL;
        CU_ASSERT_EQUAL_FATAL(nnd_model_compile_file(paths[k], &opt, &m, NULL), NND_OK);
        nnd_context_create(m, &ctx);
        nnd_tensor in = {.data = ins[k], .count = counts[k][0], .rank = 2, .shape = shapes[k]};
        nnd_tensor o = {.data = outs[k], .count = counts[k][1]};
        CU_ASSERT_EQUAL(nnd_run(ctx, &in, 1, &o, 1), NND_OK);
        nnd_context_destroy(ctx);
        nnd_model_destroy(m);
    }
    size_t n = 0;
    for (int i = 0; i < 20; i++)
        n += (size_t)snprintf(text + n, cap - n, "%a\n", probs[i]);
    for (int i = 0; i < 7; i++)
        n += (size_t)snprintf(text + n, cap - n, "%a\n", y[i]);
}

static void test_aot_two_models_link_into_one_program(void) {
    const char *d = tmp();
    CU_ASSERT_EQUAL_FATAL(sh(NNDC " build examples/digits/digits.nnd -o %s/digits.o --header %s/digits.h", d, d), 0);
    CU_ASSERT_EQUAL_FATAL(sh(NNDC " build " DENSE "/model.nnd -o %s/dense.o --header %s/dense.h "
                             "--name dense", d, d), 0);
    char path[256];
    snprintf(path, sizeof path, "%s/two.c", d);
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(two_models_c, f);
    fclose(f);
    CU_ASSERT_EQUAL_FATAL(sh("cc -std=c11 -Wall -Wextra -Werror -I%s -o %s/two %s/two.c %s/digits.o "
                             "%s/dense.o", d, d, d, d, d), 0);
    CU_ASSERT_EQUAL_FATAL(sh("%s/two", d), 0);
    char want[4096];
    jit_two_models(want, sizeof want);
    CU_ASSERT_STRING_EQUAL(sh_out, want);
}

static void test_aot_cross_targets_give_their_objects(void) {
    const char *d = tmp();
    /* e_machine (bytes 18-19 of the ELF header): 183 AArch64, 40 ARM. */
    CU_ASSERT_EQUAL(sh(NNDC " build examples/digits/digits.nnd -o %s/a64.o --header %s/a64.h "
                       "--target aarch64-linux-gnu && od -An -tu2 -j18 -N2 %s/a64.o", d, d, d), 0);
    CU_ASSERT(atoi(sh_out) == 183);
    CU_ASSERT_EQUAL(sh("grep -c 'aarch64-linux-gnu (cpu generic)' %s/a64.h", d), 0);
    CU_ASSERT_EQUAL(sh(NNDC " build examples/digits/digits.nnd -o %s/m4.o --target thumbv7em-none-eabi"
                       " --cpu cortex-m4 && od -An -tu2 -j18 -N2 %s/m4.o", d, d), 0);
    CU_ASSERT(atoi(sh_out) == 40);
}

static void write_file(const char *dir, const char *name, const char *text) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(text, f);
    fclose(f);
}

/* --cpu decides the instruction set: a baseline x86-64 object uses no AVX at all, an
 * AVX-512 one uses zmm registers, the default (x86-64-v3) uses ymm and FMA but no zmm. */
static void test_aot_cpu_controls_the_instruction_set(void) {
    const char *d = tmp();
    const char *m = "examples/lenet5/lenet5.nnd";
    CU_ASSERT_EQUAL_FATAL(sh(NNDC " build %s -o %s/base.o --cpu x86-64 && objdump -d %s/base.o | "
                             "grep -c -E '%%[yz]mm'", m, d, d), 1); /* grep -c finds none */
    CU_ASSERT_EQUAL(sh(NNDC " build %s -o %s/v3.o && objdump -d %s/v3.o | grep -c vfmadd", m, d, d), 0);
    CU_ASSERT(atoi(sh_out) > 0);
    CU_ASSERT_EQUAL(sh("objdump -d %s/v3.o | grep -c '%%zmm'", d), 1);
    CU_ASSERT_EQUAL(sh(NNDC " build %s -o %s/avx512.o --cpu skylake-avx512 && objdump -d "
                       "%s/avx512.o | grep -c '%%zmm'", m, d, d), 0);
    CU_ASSERT(atoi(sh_out) > 0);
    /* the loop vectorizer too (elementwise ops), not only the hand-tiled kernels */
    write_file(d, "gelu.nnd", "model g {\n  input x : f32[N, 64]\n  output y = gelu(x)\n}\n");
    CU_ASSERT_EQUAL(sh(NNDC " build %s/gelu.nnd -o %s/gelu.o --cpu skylake-avx512 && objdump -d "
                       "%s/gelu.o | grep -c '%%zmm'", d, d, d), 0);
    CU_ASSERT(atoi(sh_out) > 0);
}

/* PREFIX_forward_threads: the batch split between 1 to 5 threads gives PREFIX_forward's
 * outputs bit for bit, on a model with two inputs, a second symbol in a sample's size and
 * two outputs; a model that mixes its batch has no threaded entry point. */
static const char *threads_model =
    "model thr {\n"
    "  input x : f32[N, 3, 9, 7]\n"
    "  input t : f32[N, T, 5]\n"
    "  c = conv2d(x, 4, kernel=3, padding=1) -> relu\n"
    "  output y = flatten(c) -> dense(6) -> softmax\n"
    "  output z = dense(t, 3) -> tanh\n"
    "}\n";

static const char *threads_c =
    "#define thr_THREADS\n"
    "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include \"thr.h\"\n"
    "int main(void) {\n"
    "    int64_t sym[thr_NUM_SYMBOLS + 1] = {0};\n"
    "    sym[thr_SYM_N] = 7; sym[thr_SYM_T] = 3;\n"
    "    static float x[7 * 3 * 9 * 7], t[7 * 3 * 5], y1[7 * 6], z1[7 * 3 * 3], y2[7 * 6], z2[7 * 3 * 3];\n"
    "    for (size_t i = 0; i < sizeof x / 4; i++) x[i] = (float)((i * 7919) % 101) / 50 - 1;\n"
    "    for (size_t i = 0; i < sizeof t / 4; i++) t[i] = (float)((i * 104729) % 37) / 18 - 1;\n"
    "    const float *in[2] = {x, t};\n"
    "    float *o1[2] = {y1, z1}, *o2[2] = {y2, z2};\n"
    "    void *ws = aligned_alloc(64, (size_t)thr_workspace_size(sym) + 64);\n"
    "    thr_forward(in, o1, sym, ws);\n"
    "    for (int T = 1; T <= 5; T++) {\n"
    "        size_t need = (size_t)thr_workspace_size_threads(sym, T);\n"
    "        void *wt = aligned_alloc(64, (need + 63) / 64 * 64 + 64);\n"
    "        memset(y2, 0, sizeof y2); memset(z2, 0, sizeof z2);\n"
    "        if (thr_forward_threads(in, o2, sym, wt, T) != 0) return 2;\n"
    "        if (memcmp(y1, y2, sizeof y1) || memcmp(z1, z2, sizeof z1)) { printf(\"differ at %d\\n\", T); return 1; }\n"
    "        free(wt);\n"
    "    }\n"
    "    free(ws);\n"
    "    printf(\"same\\n\");\n"
    "    return 0;\n"
    "}\n";


/* NAME.nnd built into d/NAME.o and NAME.h, with NAME.c linked against it on POSIX threads;
 * the program prints "same". */
static void build_and_run_threaded(const char *d, const char *name, const char *model,
                                   const char *program) {
    char file[64];
    snprintf(file, sizeof file, "%s.nnd", name);
    write_file(d, file, model);
    snprintf(file, sizeof file, "%s.c", name);
    write_file(d, file, program);
    CU_ASSERT_EQUAL_FATAL(sh(NNDC " build %s/%s.nnd --init random:3 -o %s/%s.o --header %s/%s.h",
                             d, name, d, name, d, name), 0);
    CU_ASSERT_EQUAL_FATAL(sh("cc -std=c11 -Wall -Wextra -Werror -I%s -o %s/%s %s/%s.c %s/%s.o "
                             "-pthread -lm", d, d, name, d, name, d, name), 0);
    CU_ASSERT_EQUAL(sh("%s/%s", d, name), 0);
    CU_ASSERT_STRING_EQUAL(sh_out, "same\n");
}

static void test_aot_threads_split_the_batch(void) {
    const char *d = tmp();
    build_and_run_threaded(d, "thr", threads_model, threads_c);
    write_file(d, "mix.nnd", "model mix {\n  input x : f32[N, 4]\n  output y = softmax(x, axis=0)\n}\n");
    CU_ASSERT_EQUAL_FATAL(sh(NNDC " build %s/mix.nnd -o %s/mix.o --header %s/mix.h", d, d, d), 0);
    CU_ASSERT_EQUAL(sh("grep -c -e 'define mix_BATCH_SYMBOL (-1)' -e 'mix_forward_threads' %s/mix.h", d), 0);
    CU_ASSERT_STRING_EQUAL(sh_out, "1\n");
}

/* PREFIX_forward_parallel with the caller's runner (a thread per task, created per region):
 * outputs bit-identical to PREFIX_forward's for 1 to 8 threads at batch 1 and 3, and the
 * runner was called; a NULL runner is PREFIX_forward. */
static const char *parallel_c =
    "#include <pthread.h>\n#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include \"par.h\"\n"
    "typedef struct Job { void (*task)(void *, int); void *arg; int index; } Job;\n"
    "static void *job_main(void *p) { Job *j = p; j->task(j->arg, j->index); return NULL; }\n"
    "static void run_threads(void *ctx, void (*task)(void *, int), void *arg, int n) {\n"
    "    ++*(int *)ctx;\n"
    "    pthread_t th[16]; Job jobs[16];\n"
    "    for (int i = 1; i < n; i++) {\n"
    "        jobs[i] = (Job){task, arg, i};\n"
    "        if (pthread_create(&th[i], NULL, job_main, &jobs[i])) exit(3);\n"
    "    }\n"
    "    task(arg, 0);\n"
    "    for (int i = 1; i < n; i++) pthread_join(th[i], NULL);\n"
    "}\n"
    "int main(void) {\n"
    "    static float x[3 * 8 * 24 * 24], y1[3 * 40], y2[3 * 40];\n"
    "    for (size_t i = 0; i < sizeof x / 4; i++) x[i] = (float)((i * 7919) % 101) / 50 - 1;\n"
    "    const float *in[1] = {x};\n"
    "    float *o1[1] = {y1}, *o2[1] = {y2};\n"
    "    for (int64_t n = 1; n <= 3; n += 2) {\n"
    "        int64_t sym[par_NUM_SYMBOLS + 1] = {0};\n"
    "        sym[par_SYM_N] = n;\n"
    "        void *ws = aligned_alloc(64, ((size_t)par_workspace_size(sym) + 63) / 64 * 64 + 64);\n"
    "        par_forward(in, o1, sym, ws);\n"
    "        par_forward_parallel(in, o2, sym, ws, NULL);\n"
    "        if (memcmp(y1, y2, sizeof y1)) { printf(\"NULL runner differs\\n\"); return 1; }\n"
    "        for (int T = 1; T <= 8; T++) {\n"
    "            int calls = 0;\n"
    "            par_runner r = {run_threads, &calls, T};\n"
    "            memset(y2, 0, sizeof y2);\n"
    "            par_forward_parallel(in, o2, sym, ws, &r);\n"
    "            if (memcmp(y1, y2, sizeof y1)) { printf(\"differ at %d\\n\", T); return 1; }\n"
    "            if ((T > 1) != (calls > 0)) { printf(\"%d calls at %d\\n\", calls, T); return 1; }\n"
    "        }\n"
    "        free(ws);\n"
    "    }\n"
    "    printf(\"same\\n\");\n"
    "    return 0;\n"
    "}\n";

static void test_aot_forward_parallel_takes_a_runner(void) {
    build_and_run_threaded(tmp(), "par",
                           "model par {\n  input x : f32[N, 8, 24, 24]\n"
                           "  c = conv2d(x, 16, kernel=3, padding=1) -> relu\n"
                           "  output y = flatten(c) -> dense(40)\n}\n",
                           parallel_c);
}

NND_SUITE("aot", test_aot_example_equals_jit_bit_for_bit, test_aot_shared_library_needs_no_llvm_or_nnd,
          test_aot_builds_are_byte_identical, test_aot_errors, test_aot_header_stands_alone, test_aot_derived_symbols_are_not_read,
          test_aot_two_models_link_into_one_program, test_aot_cross_targets_give_their_objects,
          test_aot_cpu_controls_the_instruction_set, test_aot_threads_split_the_batch,
          test_aot_forward_parallel_takes_a_runner)
