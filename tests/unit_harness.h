/* unit_harness.h: the main() of every CUnit suite in tests/unit/.
 *
 * A suite file lists its tests and ends with
 *     NND_SUITE("parser", test_parser_empty_model, test_parser_chain, ...)
 * The process exits non-zero when any assertion or test failed (CUnit's own run function
 * returns 0 either way). NND_SOURCE_DIR is the repository root, for golden files and data. */
#ifndef NND_UNIT_HARNESS_H
#define NND_UNIT_HARNESS_H

#include <CUnit/Basic.h>
#include <stdio.h>
#include <string.h>

typedef struct UnitTest {
    const char *name;
    void (*fn)(void);
} UnitTest;

static inline int unit_run(const char *suite, const UnitTest *tests, int n) {
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    CU_pSuite s = CU_add_suite(suite, NULL, NULL);
    for (int i = 0; i < n; i++)
        CU_add_test(s, tests[i].name, tests[i].fn);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}

#define NND_UNIT_ENTRY(fn) {#fn, fn},
#define NND_SUITE(name, ...)                                                                   \
    int main(void) {                                                                           \
        static const UnitTest tests[] = {NND_FOR_EACH(NND_UNIT_ENTRY, __VA_ARGS__)};           \
        return unit_run(name, tests, (int)(sizeof tests / sizeof tests[0]));                   \
    }

/* NND_FOR_EACH(M, a, b, c) -> M(a) M(b) M(c), up to 64 arguments. */
#define NND_FE_1(M, x) M(x)
#define NND_FE_2(M, x, ...) M(x) NND_FE_1(M, __VA_ARGS__)
#define NND_FE_3(M, x, ...) M(x) NND_FE_2(M, __VA_ARGS__)
#define NND_FE_4(M, x, ...) M(x) NND_FE_3(M, __VA_ARGS__)
#define NND_FE_5(M, x, ...) M(x) NND_FE_4(M, __VA_ARGS__)
#define NND_FE_6(M, x, ...) M(x) NND_FE_5(M, __VA_ARGS__)
#define NND_FE_7(M, x, ...) M(x) NND_FE_6(M, __VA_ARGS__)
#define NND_FE_8(M, x, ...) M(x) NND_FE_7(M, __VA_ARGS__)
#define NND_FE_9(M, x, ...) M(x) NND_FE_8(M, __VA_ARGS__)
#define NND_FE_10(M, x, ...) M(x) NND_FE_9(M, __VA_ARGS__)
#define NND_FE_11(M, x, ...) M(x) NND_FE_10(M, __VA_ARGS__)
#define NND_FE_12(M, x, ...) M(x) NND_FE_11(M, __VA_ARGS__)
#define NND_FE_13(M, x, ...) M(x) NND_FE_12(M, __VA_ARGS__)
#define NND_FE_14(M, x, ...) M(x) NND_FE_13(M, __VA_ARGS__)
#define NND_FE_15(M, x, ...) M(x) NND_FE_14(M, __VA_ARGS__)
#define NND_FE_16(M, x, ...) M(x) NND_FE_15(M, __VA_ARGS__)
#define NND_FE_17(M, x, ...) M(x) NND_FE_16(M, __VA_ARGS__)
#define NND_FE_18(M, x, ...) M(x) NND_FE_17(M, __VA_ARGS__)
#define NND_FE_19(M, x, ...) M(x) NND_FE_18(M, __VA_ARGS__)
#define NND_FE_20(M, x, ...) M(x) NND_FE_19(M, __VA_ARGS__)
#define NND_FE_21(M, x, ...) M(x) NND_FE_20(M, __VA_ARGS__)
#define NND_FE_22(M, x, ...) M(x) NND_FE_21(M, __VA_ARGS__)
#define NND_FE_23(M, x, ...) M(x) NND_FE_22(M, __VA_ARGS__)
#define NND_FE_24(M, x, ...) M(x) NND_FE_23(M, __VA_ARGS__)
#define NND_FE_25(M, x, ...) M(x) NND_FE_24(M, __VA_ARGS__)
#define NND_FE_26(M, x, ...) M(x) NND_FE_25(M, __VA_ARGS__)
#define NND_FE_27(M, x, ...) M(x) NND_FE_26(M, __VA_ARGS__)
#define NND_FE_28(M, x, ...) M(x) NND_FE_27(M, __VA_ARGS__)
#define NND_FE_29(M, x, ...) M(x) NND_FE_28(M, __VA_ARGS__)
#define NND_FE_30(M, x, ...) M(x) NND_FE_29(M, __VA_ARGS__)
#define NND_FE_31(M, x, ...) M(x) NND_FE_30(M, __VA_ARGS__)
#define NND_FE_32(M, x, ...) M(x) NND_FE_31(M, __VA_ARGS__)
#define NND_FE_33(M, x, ...) M(x) NND_FE_32(M, __VA_ARGS__)
#define NND_FE_34(M, x, ...) M(x) NND_FE_33(M, __VA_ARGS__)
#define NND_FE_35(M, x, ...) M(x) NND_FE_34(M, __VA_ARGS__)
#define NND_FE_36(M, x, ...) M(x) NND_FE_35(M, __VA_ARGS__)
#define NND_FE_37(M, x, ...) M(x) NND_FE_36(M, __VA_ARGS__)
#define NND_FE_38(M, x, ...) M(x) NND_FE_37(M, __VA_ARGS__)
#define NND_FE_39(M, x, ...) M(x) NND_FE_38(M, __VA_ARGS__)
#define NND_FE_40(M, x, ...) M(x) NND_FE_39(M, __VA_ARGS__)
#define NND_FE_41(M, x, ...) M(x) NND_FE_40(M, __VA_ARGS__)
#define NND_FE_42(M, x, ...) M(x) NND_FE_41(M, __VA_ARGS__)
#define NND_FE_43(M, x, ...) M(x) NND_FE_42(M, __VA_ARGS__)
#define NND_FE_44(M, x, ...) M(x) NND_FE_43(M, __VA_ARGS__)
#define NND_FE_45(M, x, ...) M(x) NND_FE_44(M, __VA_ARGS__)
#define NND_FE_46(M, x, ...) M(x) NND_FE_45(M, __VA_ARGS__)
#define NND_FE_47(M, x, ...) M(x) NND_FE_46(M, __VA_ARGS__)
#define NND_FE_48(M, x, ...) M(x) NND_FE_47(M, __VA_ARGS__)
#define NND_FE_49(M, x, ...) M(x) NND_FE_48(M, __VA_ARGS__)
#define NND_FE_50(M, x, ...) M(x) NND_FE_49(M, __VA_ARGS__)
#define NND_FE_51(M, x, ...) M(x) NND_FE_50(M, __VA_ARGS__)
#define NND_FE_52(M, x, ...) M(x) NND_FE_51(M, __VA_ARGS__)
#define NND_FE_53(M, x, ...) M(x) NND_FE_52(M, __VA_ARGS__)
#define NND_FE_54(M, x, ...) M(x) NND_FE_53(M, __VA_ARGS__)
#define NND_FE_55(M, x, ...) M(x) NND_FE_54(M, __VA_ARGS__)
#define NND_FE_56(M, x, ...) M(x) NND_FE_55(M, __VA_ARGS__)
#define NND_FE_57(M, x, ...) M(x) NND_FE_56(M, __VA_ARGS__)
#define NND_FE_58(M, x, ...) M(x) NND_FE_57(M, __VA_ARGS__)
#define NND_FE_59(M, x, ...) M(x) NND_FE_58(M, __VA_ARGS__)
#define NND_FE_60(M, x, ...) M(x) NND_FE_59(M, __VA_ARGS__)
#define NND_FE_61(M, x, ...) M(x) NND_FE_60(M, __VA_ARGS__)
#define NND_FE_62(M, x, ...) M(x) NND_FE_61(M, __VA_ARGS__)
#define NND_FE_63(M, x, ...) M(x) NND_FE_62(M, __VA_ARGS__)
#define NND_FE_64(M, x, ...) M(x) NND_FE_63(M, __VA_ARGS__)
#define NND_FE_N(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13, _14, _15, _16, _17, _18, \
                 _19, _20, _21, _22, _23, _24, _25, _26, _27, _28, _29, _30, _31, _32, _33, _34,  \
                 _35, _36, _37, _38, _39, _40, _41, _42, _43, _44, _45, _46, _47, _48, _49, _50,  \
                 _51, _52, _53, _54, _55, _56, _57, _58, _59, _60, _61, _62, _63, _64, N, ...)    \
    N
#define NND_FOR_EACH(M, ...)                                                                   \
    NND_FE_N(__VA_ARGS__, NND_FE_64, NND_FE_63, NND_FE_62, NND_FE_61, NND_FE_60, NND_FE_59,     \
             NND_FE_58, NND_FE_57, NND_FE_56, NND_FE_55, NND_FE_54, NND_FE_53, NND_FE_52,       \
             NND_FE_51, NND_FE_50, NND_FE_49, NND_FE_48, NND_FE_47, NND_FE_46, NND_FE_45,       \
             NND_FE_44, NND_FE_43, NND_FE_42, NND_FE_41, NND_FE_40, NND_FE_39, NND_FE_38,       \
             NND_FE_37, NND_FE_36, NND_FE_35, NND_FE_34, NND_FE_33, NND_FE_32, NND_FE_31,       \
             NND_FE_30, NND_FE_29, NND_FE_28, NND_FE_27, NND_FE_26, NND_FE_25, NND_FE_24,       \
             NND_FE_23, NND_FE_22, NND_FE_21, NND_FE_20, NND_FE_19, NND_FE_18, NND_FE_17,       \
             NND_FE_16, NND_FE_15, NND_FE_14, NND_FE_13, NND_FE_12, NND_FE_11, NND_FE_10,       \
             NND_FE_9, NND_FE_8, NND_FE_7, NND_FE_6, NND_FE_5, NND_FE_4, NND_FE_3, NND_FE_2,    \
             NND_FE_1)(M, __VA_ARGS__)

#endif
