/* test_reference.c: every case under tests/ref/cases (made by tests/ref/gen_refs.py with
 * PyTorch in float64) compiled by nnd at -O0 and -O2 and compared with the reference:
 * |got - want| <= atol + rtol * |want| for every element (numpy.allclose), NaN matching NaN.
 *
 * A case whose operators the code generator cannot lower yet is counted as pending and
 * listed by operator; every other case must pass. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cg.h"
#include "nnd.h"
#include "npy.h"
#include "ops.h"
#include "unit_harness.h"

#define CASES NND_SOURCE_DIR "/tests/ref/cases"

typedef struct Case {
    char name[128];
    double rtol, atol;
    char ops[512];
} Case;

static int pending_by_op[OP_COUNT];

/* Whether every op the case uses can be lowered; counts the ones that cannot. */
static bool lowerable(const Case *c) {
    char ops[512];
    snprintf(ops, sizeof ops, "%s", c->ops);
    bool ok = true;
    for (char *save, *tok = strtok_r(ops, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        OpKind op;
        if (!ops_lookup(tok, &op)) {
            fprintf(stderr, "%s: unknown op '%s' in MANIFEST\n", c->name, tok);
            CU_FAIL("unknown op in MANIFEST");
            return false;
        }
        if (!cg_can_lower(op)) {
            pending_by_op[op]++;
            ok = false;
        }
    }
    return ok;
}

static bool close_enough(float got, float want, double rtol, double atol) {
    if (isnan(want) || isnan(got))
        return isnan(want) && isnan(got);
    if (isinf(want) || isinf(got))
        return got == want;
    return fabs((double)got - (double)want) <= atol + rtol * fabs((double)want);
}

/* Compiles and runs one case at one -O level; false (after printing why) on any mismatch. */
static bool run_case(const Case *c, int opt_level) {
    char path[1024], msg[512];
    snprintf(path, sizeof path, "%s/%s/model.nnd", CASES, c->name);
    nnd_options opt;
    nnd_options_init(&opt);
    opt.opt_level = opt_level;
    nnd_model *m;
    char *err;
    if (nnd_model_compile_file(path, &opt, &m, &err) != NND_OK) {
        fprintf(stderr, "%s -O%d: compile failed:\n%s", c->name, opt_level, err);
        nnd_string_free(err);
        return false;
    }
    size_t nin = nnd_model_num_inputs(m), nout = nnd_model_num_outputs(m);
    NpyArray in[16] = {{0}}, want[16] = {{0}};
    nnd_tensor tin[16] = {{0}}, tout[16] = {{0}};
    bool ok = nin <= 16 && nout <= 16;
    for (size_t i = 0; ok && i < nin; i++) {
        snprintf(path, sizeof path, "%s/%s/in_%s.npy", CASES, c->name, nnd_model_input(m, i)->name);
        ok = npy_read(path, &in[i], msg, sizeof msg);
        tin[i] = (nnd_tensor){in[i].data, (size_t)in[i].numel, (size_t)in[i].rank, in[i].shape, {0}};
    }
    for (size_t i = 0; ok && i < nout; i++) {
        snprintf(path, sizeof path, "%s/%s/out_%s.npy", CASES, c->name, nnd_model_output(m, i)->name);
        ok = npy_read(path, &want[i], msg, sizeof msg);
        tout[i].count = (size_t)want[i].numel;
        tout[i].data = calloc((size_t)want[i].numel + 1, sizeof(float));
    }
    if (!ok)
        fprintf(stderr, "%s: %s: %s\n", c->name, path, msg);
    nnd_context *ctx = NULL;
    if (ok && (nnd_context_create(m, &ctx) != NND_OK || nnd_run(ctx, tin, nin, tout, nout) != NND_OK)) {
        fprintf(stderr, "%s -O%d: run failed: %s\n", c->name, opt_level, nnd_context_error(ctx));
        ok = false;
    }
    for (size_t i = 0; ok && i < nout; i++) {
        bool shape_ok = tout[i].rank == (size_t)want[i].rank;
        for (size_t d = 0; shape_ok && d < tout[i].rank; d++)
            shape_ok = tout[i].out_shape[d] == want[i].shape[d];
        if (!shape_ok) {
            fprintf(stderr, "%s -O%d: output %zu has the wrong shape\n", c->name, opt_level, i);
            ok = false;
            break;
        }
        int64_t bad = 0, first = -1;
        for (int64_t k = 0; k < want[i].numel; k++)
            if (!close_enough(tout[i].data[k], want[i].data[k], c->rtol, c->atol) && bad++ == 0)
                first = k;
        if (bad) {
            fprintf(stderr, "%s -O%d: output '%s': %lld of %lld elements differ; first at %lld: "
                    "got %.9g, want %.9g\n", c->name, opt_level, nnd_model_output(m, i)->name,
                    (long long)bad, (long long)want[i].numel, (long long)first,
                    tout[i].data[first], want[i].data[first]);
            ok = false;
        }
    }
    for (size_t i = 0; i < 16; i++) {
        npy_free(&in[i]);
        npy_free(&want[i]);
        free(tout[i].data);
    }
    nnd_context_destroy(ctx);
    nnd_model_destroy(m);
    return ok;
}

static void test_reference_cases(void) {
    FILE *f = fopen(CASES "/MANIFEST", "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    Case c;
    int passed = 0, failed = 0, pending = 0;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "%127s %lf %lf %511s", c.name, &c.rtol, &c.atol, c.ops) != 4)
            continue;
        if (!lowerable(&c)) {
            pending++;
            continue;
        }
        bool ok = run_case(&c, 0) & run_case(&c, 2);
        ok ? passed++ : failed++;
        CU_ASSERT(ok);
    }
    fclose(f);
    printf("\nreference cases: %d passed, %d failed, %d pending", passed, failed, pending);
    if (pending) {
        printf(" (operators not lowered yet:");
        for (int op = 0; op < OP_COUNT; op++)
            if (pending_by_op[op])
                printf(" %s x%d", op_name((OpKind)op), pending_by_op[op]);
        printf(")");
    }
    printf("\n");
    CU_ASSERT(passed > 0);
}

NND_SUITE("reference", test_reference_cases)
