/* emit_code.cpp: a module's machine code, with loop strength reduction left out of the code
 * generator's pipeline at nnd's -O1 and -O2.
 *
 * In: a target machine and a module. Out: the module's assembly or object file in memory,
 * as LLVMTargetMachineEmitToMemoryBuffer gives it, but for this: a target machine at
 * LLVMCodeGenLevelLess (cg_codegen_level of -O1 and -O2) builds its pipeline without loop
 * strength reduction (LSR).
 *
 * nnd's contexts already skip LSR at those levels (pass_gate.cpp), but a skipped pass's
 * required analyses still run: IVUsers alone, which asks ScalarEvolution about every
 * address in every loop, was 29 M of the 435 M instructions of LeNet-5's whole JIT compile
 * (callgrind, nnd_options.cpu "znver4"). LSR's one transformation that still ran, loop
 * simplification (a pass LSR requires), is the last pass of cg.c's -O1 and -O2 pipelines
 * instead. So `nndc emit asm` gives byte-identical assembly at -O1, -O2 and -O3 for all 544
 * models in the tree and the benchmark models (without loop simplification, 376 differ in
 * register choice), and so do AArch64 objects; 32-bit ARM objects differ in instruction
 * order (within 0.1% of their instructions). The whole compile runs 7.0-8.6% fewer
 * instructions (LeNet-5 435 -> 403 M).
 *
 * LLVM leaves LSR out only through its process-wide option -disable-lsr, which the pass
 * pipeline reads while it is built. So the option is set only while nnd's pipeline is built,
 * under a lock, and then put back as it was, before the pipeline runs: another LLVM user
 * in the process that built its own pipeline in that window (microseconds) would miss LSR
 * once; nnd's own threads build every pipeline under the lock. If the option is not
 * registered (another LLVM), the pipeline keeps LSR and the gate skips it as before. C++
 * because the C API cannot build a pipeline; its interface is C (cg.h). */
#include <llvm-c/Core.h>
#include <llvm-c/TargetMachine.h>
#include <llvm/ADT/SmallString.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/CodeGen.h>
#include <llvm/Support/CommandLine.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>

#include <cstring>
#include <mutex>

namespace {

std::mutex option_lock; /* nnd's threads build their pipelines one at a time */

/* LLVM's -disable-lsr (TargetPassConfig.cpp), or NULL where this LLVM has none. */
llvm::cl::opt<bool> *lsr_option() {
    auto &options = llvm::cl::getRegisteredOptions();
    auto it = options.find("disable-lsr");
    return it == options.end() ? nullptr : static_cast<llvm::cl::opt<bool> *>(it->second);
}

/* The code generator's passes for tm into pm, writing to out; LSR left out at Less. */
bool build_pipeline(llvm::TargetMachine *tm, llvm::legacy::PassManager &pm,
                    llvm::raw_pwrite_stream &out, llvm::CodeGenFileType type) {
    std::lock_guard<std::mutex> hold(option_lock);
    if (tm->getOptLevel() != llvm::CodeGenOptLevel::Less)
        return !tm->addPassesToEmitFile(pm, out, nullptr, type);
    llvm::cl::opt<bool> *lsr = lsr_option();
    bool was = lsr ? lsr->getValue() : false;
    if (lsr)
        lsr->setValue(true);
    bool ok = !tm->addPassesToEmitFile(pm, out, nullptr, type);
    if (lsr)
        lsr->setValue(was);
    return ok;
}

} // namespace

extern "C" LLVMMemoryBufferRef cg_emit_code(LLVMTargetMachineRef tmref, LLVMModuleRef modref,
                                            LLVMCodeGenFileType kind, char **error) {
    /* The C API's own TargetMachine and Module wrappers are casts. */
    llvm::TargetMachine *tm = reinterpret_cast<llvm::TargetMachine *>(tmref);
    llvm::Module *mod = llvm::unwrap(modref);
    *error = nullptr;
    mod->setDataLayout(tm->createDataLayout());
    llvm::SmallString<0> code;
    llvm::raw_svector_ostream out(code);
    llvm::legacy::PassManager pm;
    llvm::CodeGenFileType type = kind == LLVMAssemblyFile ? llvm::CodeGenFileType::AssemblyFile
                                                          : llvm::CodeGenFileType::ObjectFile;
    if (!build_pipeline(tm, pm, out, type)) {
        *error = strdup("the target machine cannot emit a file of this type");
        return nullptr;
    }
    pm.run(*mod);
    return LLVMCreateMemoryBufferWithMemoryRangeCopy(code.data(), code.size(), "");
}
