#!/usr/bin/python3
"""Build a ResNet basic block in PyTorch (inference form) and write what `nndc run` needs.

    /usr/bin/python3 examples/resnet_block/make_resnet_block.py

Block, for x [N, 16, 12, 12]:
    a = relu(bn1(conv1(x)))          conv 3x3, 16 -> 16, padding 1, no bias
    y = relu(bn2(conv2(a)) + x)      conv 3x3, 16 -> 16, padding 1, no bias
Convolutions keep PyTorch's default initialization after torch.manual_seed(0); the
batchnorms get seeded, non-trivial statistics (running_var uniform in [0.5, 1.5],
running_mean randn * 0.1, weight 1 + randn * 0.1, bias randn * 0.1) and the block runs in
eval() mode. Module names match the .nnd layer names, so the state_dict keys are the
parameter names nnd looks for (SPEC 1.3), num_batches_tracked included (I64, shape [],
accepted and ignored by nnd).

Writes, next to this script:
  resnet_block.nnd            the block in the nnd language, with a weights statement
  resnet_block.safetensors    the state_dict (F32, and I64 for num_batches_tracked)
  input.npy                   float32 [2, 16, 12, 12], seeded randn
  expected_y.npy              float32 [2, 16, 12, 12]: PyTorch's forward pass in float64 on
                              the saved float32 weights and input, rounded to float32

Deterministic: re-running produces byte-identical files. The script finally reads the
safetensors file back (scripts/safetensors_io.py) and checks PyTorch reproduces expected_y.npy.
"""
import os
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from safetensors_io import save_npy, verify_safetensors, write_safetensors  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 0
C, H, W, BATCH = 16, 12, 12, 2

NND = """\
# resnet_block.nnd: a ResNet basic block (inference form), written by make_resnet_block.py.
# Run from the repository root:
#   build/nndc run examples/resnet_block/resnet_block.nnd --input x=examples/resnet_block/input.npy --output y=/tmp/y.npy
model resnet_block {
  input x : f32[N, 16, 12, 12]
  weights "resnet_block.safetensors"
  a = conv2d(x, 16, kernel=3, padding=1, bias=false, name="conv1") -> batchnorm(name="bn1") -> relu
  b = conv2d(a, 16, kernel=3, padding=1, bias=false, name="conv2") -> batchnorm(name="bn2")
  output y = add(b, x) -> relu
}
"""


class BasicBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x):
        a = torch.relu(self.bn1(self.conv1(x)))
        b = self.bn2(self.conv2(a))
        return torch.relu(b + x)


NAMES = ["conv1.weight",
         "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked",
         "conv2.weight",
         "bn2.weight", "bn2.bias", "bn2.running_mean", "bn2.running_var", "bn2.num_batches_tracked"]


def to_torch(params, dtype):
    return {k: torch.from_numpy(v if v.dtype == np.int64 else v.astype(dtype))
            for k, v in params.items()}


def forward(params, x, dtype):
    """PyTorch in eval() mode, computing in dtype (np.float32 or np.float64)."""
    m = BasicBlock(C)
    if dtype == np.float64:
        m = m.double()
    m.load_state_dict(to_torch(params, dtype))
    m.eval()
    with torch.no_grad():
        return m(torch.from_numpy(x.astype(dtype))).numpy()


def main():
    torch.manual_seed(SEED)
    model = BasicBlock(C)
    with torch.no_grad():
        for bn in (model.bn1, model.bn2):
            bn.running_var.copy_(torch.rand(C) + 0.5)       # uniform in [0.5, 1.5]
            bn.running_mean.copy_(torch.randn(C) * 0.1)
            bn.weight.copy_(1 + torch.randn(C) * 0.1)
            bn.bias.copy_(torch.randn(C) * 0.1)
            bn.num_batches_tracked.fill_(100)
    x = torch.randn(BATCH, C, H, W).numpy().astype(np.float32)

    sd = model.state_dict()
    assert sorted(sd.keys()) == sorted(NAMES), list(sd.keys())
    params = {}
    for n in NAMES:
        t = sd[n].detach().numpy()
        params[n] = t.astype(np.int64) if n.endswith("num_batches_tracked") else t.astype(np.float32)
    assert params["bn1.num_batches_tracked"].shape == ()
    want = forward(params, x, np.float64).astype(np.float32)

    with open(os.path.join(HERE, "resnet_block.nnd"), "w") as f:
        f.write(NND)
    write_safetensors(os.path.join(HERE, "resnet_block.safetensors"), params)
    save_npy(os.path.join(HERE, "input.npy"), x)
    save_npy(os.path.join(HERE, "expected_y.npy"), want)

    # Read everything back and check PyTorch agrees with what was written.
    back = verify_safetensors(os.path.join(HERE, "resnet_block.safetensors"), params)
    x_back = np.load(os.path.join(HERE, "input.npy"))
    want_back = np.load(os.path.join(HERE, "expected_y.npy"))
    assert x_back.dtype == np.float32 and x_back.shape == (BATCH, C, H, W)
    assert want_back.dtype == np.float32 and want_back.shape == (BATCH, C, H, W)
    assert np.array_equal(forward(back, x_back, np.float64).astype(np.float32), want_back)
    # The float32 PyTorch model agrees to float32 rounding.
    got32 = forward(back, x_back, np.float32)
    assert np.all(np.abs(got32 - want_back) <= 1e-4 * np.abs(want_back) + 1e-5)

    zeros = float((want_back == 0).mean())
    print(f"y [{BATCH}, {C}, {H}, {W}]: {zeros:.1%} zeros (relu), max {want_back.max():.7g}, "
          f"mean {want_back.mean(dtype=np.float64):.7g}")


if __name__ == "__main__":
    main()
