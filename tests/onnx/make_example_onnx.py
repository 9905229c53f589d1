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
import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from safetensors_io import read_safetensors, save_npy  # noqa: E402

OUT = ROOT / "tests" / "onnx" / "examples"
OPSET = 14


def example_module(script, cls_name):
    """The PyTorch module an example's own script defines (one definition for both)."""
    spec = importlib.util.spec_from_file_location(f"example_{cls_name}", ROOT / "examples" / script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # the scripts only train or write files under __main__
    return getattr(mod, cls_name)


Digits = example_module("digits/train.py", "Digits")
LeNet5 = example_module("lenet5/make_lenet5.py", "LeNet5")
ResnetBlock = lambda: example_module("resnet_block/make_resnet_block.py", "BasicBlock")(16)  # noqa: E731


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
