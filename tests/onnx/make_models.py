# make_models.py: the small ONNX models of tests/unit/test_onnx.c, with PyTorch's outputs.
# Run from the repository root with Debian's python3-torch (no network needed):
#   /usr/bin/python3 tests/onnx/make_models.py
# Writes tests/onnx/NAME.onnx, NAME.input.npy and NAME.output.npy (float32) per model.
import math
import os

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(20, 32)
        self.fc2 = nn.Linear(32, 16)
        self.out = nn.Linear(16, 5)

    def forward(self, x):
        x = torch.relu(self.fc1(x))
        x = torch.sigmoid(self.fc2(x)) * 2.0 - 0.5
        return torch.softmax(self.out(x), dim=1)


class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 5, padding=2)
        self.bn = nn.BatchNorm2d(6)
        self.c2 = nn.Conv2d(6, 16, 5)
        self.f3 = nn.Linear(400, 120)
        self.f4 = nn.Linear(120, 84)
        self.f5 = nn.Linear(84, 10)

    def forward(self, x):
        x = nn.functional.max_pool2d(torch.relu(self.bn(self.c1(x))), 2)
        x = nn.functional.max_pool2d(torch.tanh(self.c2(x)), 2)
        x = x.view(x.size(0), -1)
        x = torch.relu(self.f3(x))
        x = torch.relu(self.f4(x))
        return self.f5(x)


class PadConv(nn.Module):
    """F.pad before a conv (zeros) and before a max pool (-inf): Pad nodes the importer folds
    into the window's padding (at opset 11 and up, with their pads computed by a constant
    subgraph)."""

    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(2, 3, 3)

    def forward(self, x):
        x = self.c(nn.functional.pad(x, (1, 2, 0, 1)))
        return nn.functional.max_pool2d(nn.functional.pad(x, (1, 1, 1, 1), value=-math.inf), 2)


def export(name, model, x, opset):
    model.eval()
    path = os.path.join(HERE, name + ".onnx")
    torch.onnx.export(model, (x,), path, opset_version=opset, input_names=["x"],
                      output_names=["y"], dynamic_axes={"x": {0: "N"}, "y": {0: "N"}})
    with torch.no_grad():
        y = model(x)
    np.save(os.path.join(HERE, name + ".input.npy"), x.numpy().astype(np.float32))
    np.save(os.path.join(HERE, name + ".output.npy"), y.numpy().astype(np.float32))


def main():
    torch.manual_seed(0)
    mlp = Mlp()
    export("mlp", mlp, torch.randn(3, 20), 13)
    torch.manual_seed(1)
    lenet = LeNet5()
    with torch.no_grad():  # non-trivial batchnorm statistics
        lenet.bn.running_mean.uniform_(-0.5, 0.5)
        lenet.bn.running_var.uniform_(0.5, 1.5)
        lenet.bn.weight.uniform_(0.5, 1.5)
        lenet.bn.bias.uniform_(-0.5, 0.5)
    x = torch.randn(2, 1, 28, 28)
    export("lenet5_op13", lenet, x, 13)
    export("lenet5_op9", lenet, x, 9)
    torch.manual_seed(2)
    pad = PadConv()
    x = torch.randn(2, 2, 6, 7)
    export("padconv_op9", pad, x, 9)
    export("padconv_op13", pad, x, 13)


if __name__ == "__main__":
    main()
