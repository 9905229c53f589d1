/* startup.c: reset vector, memory set-up and fault handlers for the Cortex-M4 cross test on
 * qemu-system-arm -M mps2-an386 (vector table at address 0, see m4.ld). No C library start
 * files: the reset handler copies .data, zeroes .bss, enables the FPU (CPACR CP10/CP11 full
 * access; the generated code is hard-float), runs any .init_array entries and calls main. */
#include <stdint.h>

#include "semihost.h"

extern uint32_t _sidata[], _sdata[], _edata[], _sbss[], _ebss[], _estack[];
extern void (*__init_array_start[])(void);
extern void (*__init_array_end[])(void);
int main(void);

__attribute__((noreturn)) void Reset_Handler(void) {
    volatile uint32_t *cpacr = (volatile uint32_t *)0xE000ED88u;
    *cpacr |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");

    for (uint32_t *s = _sidata, *d = _sdata; d < _edata;) *d++ = *s++;
    for (uint32_t *d = _sbss; d < _ebss;) *d++ = 0;
    for (void (**f)(void) = __init_array_start; f < __init_array_end; f++) (*f)();

    sh_exit(main() == 0);
}

__attribute__((noreturn)) static void fault(const char *what) {
    sh_puts(what);
    sh_exit(0);
}
void NMI_Handler(void) { fault("M4 FAULT: NMI\n"); }
void HardFault_Handler(void) { fault("M4 FAULT: HardFault\n"); }
void MemManage_Handler(void) { fault("M4 FAULT: MemManage\n"); }
void BusFault_Handler(void) { fault("M4 FAULT: BusFault\n"); }
void UsageFault_Handler(void) { fault("M4 FAULT: UsageFault\n"); }
void Default_Handler(void) { fault("M4 FAULT: unexpected exception\n"); }

typedef void (*vector_t)(void);
__attribute__((section(".vectors"), used)) const vector_t nnd_vectors[16 + 32] = {
    (vector_t)(uintptr_t)_estack, /* initial SP */
    (vector_t)Reset_Handler,
    NMI_Handler,
    HardFault_Handler,
    MemManage_Handler,
    BusFault_Handler,
    UsageFault_Handler,
    0, 0, 0, 0,                    /* reserved */
    Default_Handler,               /* SVCall */
    Default_Handler,               /* DebugMonitor */
    0,                             /* reserved */
    Default_Handler,               /* PendSV */
    Default_Handler,               /* SysTick */
    [16 ... 47] = Default_Handler, /* external interrupts */
};
