/* pass_gate.cpp: the code-generator passes nnd's contexts skip at -O1 and -O2.
 *
 * In: an LLVM context and the optimization level. Out: at -O1 and -O2, the context's pass
 * gate set, so that LLVM's code generator skips the passes named in `skipped` in every
 * module of it (-O3 keeps LLVM's whole pipeline; -O0 runs none of them).
 *
 * The kernels arrive register-tiled, in the order they should issue, their loops stepping
 * pointers with every address a pointer plus a constant (lower_dense.c, lower_conv2d.c),
 * their common subexpressions merged and their index arithmetic folded by the optimizer
 * (cg.c's pipelines). So:
 * - loop strength reduction (LSR) has nothing left to do there, and the machine scheduler
 *   hoisted a 5 x 5 convolution's loads to the top of its loop and spilled the tile.
 *   Without them the kernels' loops are the same instructions but for one register move
 *   per iteration (the loop's compare), and a model compiles in 15-35% less CPU time:
 *   LeNet-5 111-124 ms against 131-146, mlp_l 129-148 against 184-191, resblock 148-195
 *   against 231-323 (user time of ten compiles in one process, four rounds).
 * - machine CSE, machine sinking, machine copy propagation, dead machine instruction
 *   elimination and constant hoisting leave every loop of 76 models (the examples and the
 *   benchmark and test models) the same instructions with the same stack references;
 *   outside loops the code changes by -4% to +6%. A whole compile in a process runs 4-6%
 *   fewer instructions without them (cachegrind, nnd_options.cpu "sapphirerapids": LeNet-5
 *   456 against 437 M, cifar_cnn 1593 against 1512 M, resblock 1073 against 1006 M).
 *
 * All are optional passes that ask their context's gate (skipLoop, skipFunction), so the
 * gate turns them off for nnd's contexts only; LLVM's options (-disable-lsr,
 * -enable-misched, -disable-machine-cse, ...) would turn them off for every LLVM user in
 * the process. A skipped pass's required analyses still run; emit_code.cpp therefore
 * also leaves LSR out of the pipeline nnd builds (its IVUsers analysis was 7% of LeNet-5's
 * compile), and the gate skips LSR where the pipeline was built otherwise. C++ because the
 * C API has no pass gate; its interface is C (cg.h). */
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/OptBisect.h>

namespace {

/* The passes' names as their getPassName() spells them. */
const char *const skipped[] = {
    "Loop Strength Reduction",
    "Machine Instruction Scheduler",
    "Machine Common Subexpression Elimination",
    "Machine code sinking",
    "Machine Copy Propagation Pass",
    "Remove dead machine instructions",
    "Constant Hoisting",
};

class SkipPasses final : public llvm::OptPassGate {
  public:
    bool isEnabled() const override { return true; }
    bool shouldRunPass(const llvm::StringRef pass, llvm::StringRef) override {
        for (const char *name : skipped)
            if (pass == name)
                return false;
        return true;
    }
};

SkipPasses gate; /* stateless: one for every context, for the life of the process */

} // namespace

extern "C" void cg_gate_passes(LLVMContextRef ctx, int opt_level) {
    if (opt_level >= 1 && opt_level <= 2)
        llvm::unwrap(ctx)->setOptPassGate(gate);
}
