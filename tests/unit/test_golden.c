/* test_golden.c: golden files for what users read: diagnostics and stage dumps.
 *
 * tests/golden/<stage>/<case>.nnd is compiled in-process (paths relative to the repository
 * root, so messages name "tests/golden/...") and what the stage prints is compared with
 * <case>.expected beside it:
 *   diagnostics/  every error of the whole pipeline up to weights, as `nndc check` prints
 *   ast/          ast_dump            (nndc emit ast)
 *   graph/        graph_dump          (nndc emit graph)
 *   dot/          graph_dump_dot      (nndc emit dot)
 *   opt/          graph_dump_opt      (nndc emit opt, -O2, parameters from --init random:1)
 * UPDATE_GOLDEN=1 rewrites the .expected files; review the diff like code. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compile.h"
#include "passes.h"
#include "unit_harness.h"

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s)
        s[n] = 0;
    fclose(f);
    return s;
}

/* What the stage prints for one model. */
static char *render(const char *stage, const char *model) {
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    Compilation *c = compilation_new();
    CompileOptions o;
    compile_options_init(&o);
    if (strcmp(stage, "diagnostics") == 0) {
        o.init_random = true; /* models without weights are checked through binding too */
        if (compile_read_file(c, model))
            compile_to(c, STAGE_WEIGHTS, &o);
        fputs(diag_text(c->diag), out);
    } else if (strcmp(stage, "opt") == 0) {
        o.init_random = true;
        o.seed = 1;
        if (compile_read_file(c, model) && compile_to(c, STAGE_OPT, &o))
            graph_dump_opt(out, c->graph, 1);
        else
            fputs(diag_text(c->diag), out);
    } else if (!compile_read_file(c, model) ||
               !compile_to(c, strcmp(stage, "ast") == 0 ? STAGE_PARSE : STAGE_GRAPH, &o)) {
        fputs(diag_text(c->diag), out);
    } else if (strcmp(stage, "ast") == 0) {
        ast_dump(out, c->ast);
    } else if (strcmp(stage, "graph") == 0) {
        graph_dump(out, c->graph);
    } else {
        graph_dump_dot(out, c->graph);
    }
    compilation_free(c);
    fclose(out);
    return text;
}

static void check_stage(const char *stage) {
    CU_ASSERT_EQUAL_FATAL(chdir(NND_SOURCE_DIR), 0);
    char dir[512];
    snprintf(dir, sizeof dir, "tests/golden/%s", stage);
    DIR *d = opendir(dir);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    bool update = getenv("UPDATE_GOLDEN") && strcmp(getenv("UPDATE_GOLDEN"), "1") == 0;
    int cases = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 4, ".nnd") != 0)
            continue;
        char model[1024], expected_path[1024];
        snprintf(model, sizeof model, "%s/%s", dir, e->d_name);
        snprintf(expected_path, sizeof expected_path, "%s/%.*s.expected", dir, (int)(n - 4), e->d_name);
        char *got = render(stage, model);
        if (update) {
            FILE *f = fopen(expected_path, "w");
            fputs(got, f);
            fclose(f);
        }
        char *want = slurp(expected_path);
        cases++;
        if (!want || strcmp(got, want) != 0) {
            fprintf(stderr, "\n--- %s: expected\n%s--- got\n%s---\n", model, want ? want : "(missing)", got);
            CU_FAIL("golden file differs");
        }
        free(got);
        free(want);
    }
    closedir(d);
    CU_ASSERT(cases > 0);
}

static void test_golden_diagnostics(void) { check_stage("diagnostics"); }
static void test_golden_ast(void) { check_stage("ast"); }
static void test_golden_graph(void) { check_stage("graph"); }
static void test_golden_dot(void) { check_stage("dot"); }
static void test_golden_opt(void) { check_stage("opt"); }

NND_SUITE("golden", test_golden_diagnostics, test_golden_ast, test_golden_graph, test_golden_dot,
          test_golden_opt)
