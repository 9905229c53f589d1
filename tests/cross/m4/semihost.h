/* semihost.h: the two ARM semihosting calls the Cortex-M4 test needs (SYS_WRITE0, SYS_EXIT),
 * issued with BKPT 0xAB; qemu-system-arm serves them with -semihosting-config enable=on.
 * No newlib stdio, so nothing here needs a heap. */
#ifndef NND_CROSS_SEMIHOST_H
#define NND_CROSS_SEMIHOST_H
#include <stdint.h>

#define SH_SYS_WRITE0 0x04
#define SH_SYS_EXIT 0x18
#define SH_ADP_STOPPED_APPLICATION_EXIT 0x20026 /* qemu exits with status 0 */
#define SH_ADP_STOPPED_INTERNAL_ERROR 0x20024   /* qemu exits with status 1 */

static inline uint32_t semihost_call(uint32_t op, const void *arg) {
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

static inline void sh_puts(const char *s) { semihost_call(SH_SYS_WRITE0, s); }

__attribute__((noreturn)) static inline void sh_exit(int ok) {
    /* On 32-bit ARM SYS_EXIT takes the reason code itself in r1, not a pointer. */
    semihost_call(SH_SYS_EXIT,
                  (const void *)(uintptr_t)(ok ? SH_ADP_STOPPED_APPLICATION_EXIT
                                               : SH_ADP_STOPPED_INTERNAL_ERROR));
    for (;;) {
    }
}
#endif
