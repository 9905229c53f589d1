#!/usr/bin/python3
"""The example models (examples/digits, lenet5, resnet_block) exported from PyTorch to ONNX.

    /usr/bin/python3 tests/onnx/make_example_onnx.py

For each example, the PyTorch module its .nnd file describes is built with the module names
of the .nnd layers, loaded with the example's own safetensors weights (the very numbers
the .nnd model runs with), put in eval() mode and exported with torch.onnx.export at
opset 14 (torch 1.13's default), the batch dimension symbolic ("N") and the .nnd input and
output names. tests/unit/test_onnx_examples.c imports each .onnx, runs it on the
example's own input file and compares with PyTorch and with the .nnd model.

Writes tests/onnx/examples/NAME.onnx and NAME.torch.npy: PyTorch's output on the input
below, computed in float64 on the float32 weights and rounded to float32 (as the examples'
own expected outputs are). The inputs are the examples' committed files:
  digits         examples/digits/test_x.npy        [360, 64]  -> probs [360, 10]
  lenet5         examples/lenet5/input.npy         [2, 1, 28, 28] -> logits [2, 10]
  resnet_block   examples/resnet_block/input.npy   [2, 16, 12, 12] -> y [2, 16, 12, 12]
Deterministic apart from the exporter's own bytes; no network needed.
"""
import os
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from safetensors_io import read_safetensors, save_npy  # noqa: E402

OUT = ROOT / "tests" / "onnx" / "examples"
OPSET = 14


class Digits(nn.Module):
    """examples/digits/digits.nnd"""

    def __init__(self):
        super().__init__()
        self.hidden1 = nn.Linear(64, 32)
        self.hidden2 = nn.Linear(32, 16)
        self.probs = nn.Linear(16, 10)

    def forward(self, pixels):
        x = torch.relu(self.hidden1(pixels))
        x = torch.sigmoid(self.hidden2(x))
        return torch.softmax(self.probs(x), dim=-1)


class LeNet5(nn.Module):
    """examples/lenet5/lenet5.nnd"""

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


class ResnetBlock(nn.Module):
    """examples/resnet_block/resnet_block.nnd"""

    def __init__(self, c=16):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x):
        a = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(a)) + x)


# name, module, input file, input name, output name
EXAMPLES = [
    ("digits", Digits, "test_x.npy", "pixels", "probs"),
    ("lenet5", LeNet5, "input.npy", "x", "logits"),
    ("resnet_block", ResnetBlock, "input.npy", "x", "y"),
]


def load(name, cls, dtype):
    model = cls()
    params = read_safetensors(ROOT / "examples" / name / f"{name}.safetensors")
    model.load_state_dict({k: torch.from_numpy(v.astype(dtype) if v.dtype != np.int64 else v)
                           for k, v in params.items()})
    if dtype == np.float64:
        model = model.double()
    return model.eval()


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for name, cls, input_file, in_name, out_name in EXAMPLES:
        x = np.load(ROOT / "examples" / name / input_file)
        assert x.dtype == np.float32, (name, x.dtype)
        path = OUT / f"{name}.onnx"
        torch.onnx.export(load(name, cls, np.float32), (torch.from_numpy(x),), str(path),
                          opset_version=OPSET, input_names=[in_name], output_names=[out_name],
                          dynamic_axes={in_name: {0: "N"}, out_name: {0: "N"}})
        with torch.no_grad():
            want = load(name, cls, np.float64)(torch.from_numpy(x.astype(np.float64)))
            got32 = load(name, cls, np.float32)(torch.from_numpy(x))
        want = want.numpy().astype(np.float32)
        assert np.all(np.abs(got32.numpy() - want) <= 1e-4 * np.abs(want) + 1e-5), name
        save_npy(OUT / f"{name}.torch.npy", want)
        print(f"{name}: {path.stat().st_size} bytes of ONNX, output {list(want.shape)}")


if __name__ == "__main__":
    main()
