/* cpu_check.cpp: whether LLVM knows a CPU name for a target triple.
 *
 * In: a triple and a CPU name. Out: true when the target's subtarget table has that CPU.
 * LLVM's C API cannot ask this, and a target machine made with an unknown CPU only warns
 * ("not a recognized processor") and then, on x86-64, dies with a fatal error while
 * generating code (the subtarget lacks 64-bit mode): so the compiler asks here, through the
 * C++ MC layer, before making one. C++ (as are pass_gate.cpp and
 * emit_code.cpp); its interface is C (cg.h). */
#include <llvm/MC/MCSubtargetInfo.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/TargetParser/Triple.h>

#include <memory>
#include <string>

extern "C" bool cg_cpu_known(const char *triple, const char *cpu) {
    std::string error;
    const llvm::Target *target = llvm::TargetRegistry::lookupTarget(triple, error);
    if (!target || !cpu)
        return false;
    std::unique_ptr<llvm::MCSubtargetInfo> sti(
        target->createMCSubtargetInfo(llvm::Triple::normalize(triple), "", ""));
    return sti && sti->isCPUStringValid(cpu);
}
