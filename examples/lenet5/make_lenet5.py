#!/usr/bin/python3
"""Build the LeNet-5 of SPEC section 1 in PyTorch and write what `nndc run` needs.

    /usr/bin/python3 examples/lenet5/make_lenet5.py

The network is untrained: PyTorch's default initialization after torch.manual_seed(0). Module
names match the .nnd statement names, so the state_dict keys are exactly the parameter names
nnd looks for (SPEC 1.3): c1.weight [6, 1, 5, 5], c1.bias [6], c2.weight [16, 6, 5, 5],
c2.bias [16], f3.weight [120, 400], f3.bias [120], f4.weight [84, 120], f4.bias [84],
logits.weight [10, 84], logits.bias [10].

Input: two 8x8 handwritten digits from sklearn's bundled digits set (no download), pixels
scaled to [0, 1] and upscaled to 28x28 with bilinear interpolation.

Writes, next to this script:
  lenet5.nnd            the SPEC's LeNet-5 plus a weights statement
  lenet5.safetensors    F32 state_dict
  input.npy             float32 [2, 1, 28, 28]
  expected_logits.npy   float32 [2, 10]: PyTorch's forward pass in float64 on the saved
                        float32 weights and input, rounded to float32

Deterministic: re-running produces byte-identical files. The script finally reads the
safetensors file back (scripts/safetensors_io.py) and checks PyTorch reproduces
expected_logits.npy.
"""
import os
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.datasets import load_digits

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from safetensors_io import save_npy, verify_safetensors, write_safetensors  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 0

NND = """\
# lenet5.nnd: the LeNet-5 of SPEC section 1, untrained (PyTorch default init, seed 0).
# Written by make_lenet5.py. Run from the repository root:
#   build/nndc run examples/lenet5/lenet5.nnd --input x=examples/lenet5/input.npy
model lenet5 {
  input x : f32[N, 1, 28, 28]
  weights "lenet5.safetensors"
  c1 = conv2d(x, 6, kernel=5, padding=2) -> relu -> maxpool2d(2)
  c2 = conv2d(c1, 16, kernel=5) -> relu -> maxpool2d(2)
  f3 = flatten(c2) -> dense(120) -> relu      # parameters f3.weight [120, 400], f3.bias [120]
  f4 = dense(f3, 84) -> relu
  output logits = dense(f4, 10)
}
"""


class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 5, padding=2)
        self.c2 = nn.Conv2d(6, 16, 5)
        self.f3 = nn.Linear(400, 120)
        self.f4 = nn.Linear(120, 84)
        self.logits = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(torch.relu(self.c1(x)), 2)
        x = F.max_pool2d(torch.relu(self.c2(x)), 2)
        x = torch.relu(self.f3(torch.flatten(x, 1)))
        x = torch.relu(self.f4(x))
        return self.logits(x)


NAMES = ["c1.weight", "c1.bias", "c2.weight", "c2.bias", "f3.weight", "f3.bias",
         "f4.weight", "f4.bias", "logits.weight", "logits.bias"]


def make_input():
    digits = load_digits()
    first = {d: int(np.flatnonzero(digits.target == d)[0]) for d in (3, 7)}
    imgs = np.stack([digits.images[first[3]], digits.images[first[7]]]) / 16.0  # [2, 8, 8]
    x = torch.from_numpy(imgs[:, None].astype(np.float64))
    x = F.interpolate(x, size=(28, 28), mode="bilinear", align_corners=False)
    return np.ascontiguousarray(x.numpy().astype(np.float32)), (3, 7)


def forward64(params, x):
    """PyTorch in float64 on float32 weights and input; the result rounded to float32."""
    m = LeNet5().double()
    m.load_state_dict({k: torch.from_numpy(v.astype(np.float64)) for k, v in params.items()})
    m.eval()
    with torch.no_grad():
        return m(torch.from_numpy(x.astype(np.float64))).numpy().astype(np.float32)


def main():
    torch.manual_seed(SEED)
    model = LeNet5()
    sd = model.state_dict()
    assert list(sd.keys()) == NAMES, list(sd.keys())
    params = {n: sd[n].detach().numpy().astype(np.float32) for n in NAMES}
    assert params["f3.weight"].shape == (120, 400)

    x, labels = make_input()
    want = forward64(params, x)

    with open(os.path.join(HERE, "lenet5.nnd"), "w") as f:
        f.write(NND)
    write_safetensors(os.path.join(HERE, "lenet5.safetensors"), params)
    save_npy(os.path.join(HERE, "input.npy"), x)
    save_npy(os.path.join(HERE, "expected_logits.npy"), want)

    # Read everything back and check PyTorch agrees with what was written.
    back = verify_safetensors(os.path.join(HERE, "lenet5.safetensors"), params)
    x_back = np.load(os.path.join(HERE, "input.npy"))
    want_back = np.load(os.path.join(HERE, "expected_logits.npy"))
    assert x_back.dtype == np.float32 and x_back.shape == (2, 1, 28, 28)
    assert want_back.dtype == np.float32 and want_back.shape == (2, 10)
    assert np.array_equal(forward64(back, x_back), want_back)
    # The float32 PyTorch model agrees to float32 rounding.
    m32 = LeNet5()
    m32.load_state_dict({k: torch.from_numpy(v) for k, v in back.items()})
    m32.eval()
    with torch.no_grad():
        got32 = m32(torch.from_numpy(x_back)).numpy()
    assert np.all(np.abs(got32 - want_back) <= 1e-4 * np.abs(want_back) + 1e-5)

    print(f"input: digits {labels[0]} and {labels[1]}, x [2, 1, 28, 28]")
    print("logits [2, 10]")
    for row in want_back:
        print(" ".join("%.7g" % v for v in row))


if __name__ == "__main__":
    main()
