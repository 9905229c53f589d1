/* test_arena.c: the arena's memory is zeroed and aligned, for blocks that share a chunk
 * and for big ones that get an allocation of their own (calloc'd, not memset), also where
 * the allocator hands back memory an earlier arena filled and freed. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "arena.h"
#include "unit_harness.h"

static bool all_zero(const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

static void test_arena_zeroed(void) {
    static const size_t sizes[] = {1, 16, 1000, 70000, 1 << 20, 3 << 20};
    for (int round = 0; round < 3; round++) {
        Arena *a = arena_new();
        CU_ASSERT_PTR_NOT_NULL_FATAL(a);
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
            unsigned char *p = arena_alloc(a, sizes[i]);
            CU_ASSERT_FATAL(p != NULL);
            CU_ASSERT_EQUAL((uintptr_t)p % 16, 0);
            CU_ASSERT(all_zero(p, sizes[i]));
            memset(p, 0xa5, sizes[i]); /* what the next round's blocks may come back with */
        }
        arena_free(a);
    }
}

NND_SUITE("arena", test_arena_zeroed)
