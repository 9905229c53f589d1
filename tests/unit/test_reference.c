/* test_reference.c: every case under tests/ref/cases (made by tests/ref/gen_refs.py with
 * PyTorch in float64) compiled by nnd at -O0 and -O2 and compared with the reference:
 * |got - want| <= atol + rtol * |want| for every element (numpy.allclose), NaN matching NaN.
 * The loading and comparing are unit_reference.h's, shared with test_interp.
 *
 * A case whose operators the code generator cannot lower yet is counted as pending and
 * listed by operator; every other case must pass. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "cg.h"
#include "ops.h"
#include "unit_harness.h"
#include "unit_reference.h"

static int pending_by_op[OP_COUNT];

/* Whether every op the case uses can be lowered; counts the ones that cannot. */
static bool lowerable(const RefCase *c) {
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

/* The case at one -O level through the JIT. */
static bool run_at(const RefCase *c, int opt_level) {
    nnd_options o;
    nnd_options_init(&o);
    o.opt_level = opt_level;
    return ref_run_case(c, &o, opt_level ? "-O2" : "-O0");
}

static void test_reference_cases(void) {
    FILE *f = fopen(REF_CASES "/MANIFEST", "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    RefCase c;
    int passed = 0, failed = 0, pending = 0;
    while (ref_next_case(f, &c)) {
        if (!lowerable(&c)) {
            pending++;
            continue;
        }
        bool at_o0 = run_at(&c, 0), at_o2 = run_at(&c, 2); /* both run, both report */
        bool ok = at_o0 && at_o2;
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

/* The hand-vectorized kernels (dense, conv2d, pools) pick their vector width and blocking
 * from the target: run their cases again for narrower x86 targets than this host's,
 * x86-64-v3 (AVX2: 8 floats, 16 registers) and x86-64 (SSE2: 4 floats), at -O2. */
static bool uses_vector_kernels(const RefCase *c) {
    static const char *const ops[] = {"dense", "conv2d", "maxpool2d", "avgpool2d", NULL};
    for (int i = 0; ops[i]; i++)
        if (strstr(c->ops, ops[i]))
            return true;
    return false;
}

static void test_reference_narrower_targets(void) {
#if defined(__x86_64__)
    const char *cpus[] = {__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")
                              ? "x86-64-v3" : "x86-64",
                          "x86-64"};
    FILE *f = fopen(REF_CASES "/MANIFEST", "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    RefCase c;
    int run = 0;
    while (ref_next_case(f, &c)) {
        if (!uses_vector_kernels(&c))
            continue;
        for (int k = 0; k < 2; k++) {
            nnd_options o;
            nnd_options_init(&o);
            o.cpu = cpus[k];
            CU_ASSERT(ref_run_case(&c, &o, cpus[k]));
        }
        run++;
    }
    fclose(f);
    printf("\nvector-kernel cases on %s and %s: %d\n", cpus[0], cpus[1], run);
    CU_ASSERT(run > 50);
#endif
}

NND_SUITE("reference", test_reference_cases, test_reference_narrower_targets)
