"""make_models.py: the seeded weights and peer model files for bench/ (run by bench/run.sh).

    /usr/bin/python3 bench/make_models.py OUT_DIR

For each of the five bench models (bench/models/*.nnd) this builds the same network as a
PyTorch module from LAYERS below, with PyTorch's default initialisation under a fixed seed,
and writes into OUT_DIR:

    NAME.safetensors   the state_dict, PyTorch's names = the .nnd layer names (nnd reads it)
    NAME.onnx          torch.onnx.export of the module, opset 13, batch axis dynamic (ORT)
    NAME.layers        the layer list as text, one layer a line (the C peers read it):
                         input C H W | input K
                         dense NAME UNITS | conv NAME FILTERS KERNEL PADDING
                         relu | softmax | maxpool K | flatten | save | add_saved
    NAME.params        the parameters as raw little-endian f32, in .layers order, for each
                       layer its weight then its bias, PyTorch layouts ([out, in],
                       [F, C, kh, kw]); the C peers read this

PyTorch's worker (bench/peers/torch_worker.py) imports this module for the same modules and
loads NAME.safetensors into them. Nothing here is committed: mlp_l alone is 13 MB. Files are
rewritten only when this script changed (OUT_DIR/.stamp holds its hash).
"""
import hashlib
import os
import sys

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from safetensors_io import read_safetensors, write_safetensors  # noqa: E402

SEED = 0

# The single description of each model for the peers; bench/models/NAME.nnd is the same
# network in nnd's language, and every peer is checked against nnd's outputs before timing.
LAYERS = {
    "mlp_s": [("input", 784),
              ("dense", "h1", 128), ("relu",),
              ("dense", "h2", 64), ("relu",),
              ("dense", "probs", 10), ("softmax",)],
    "mlp_l": [("input", 784),
              ("dense", "h1", 1024), ("relu",),
              ("dense", "h2", 1024), ("relu",),
              ("dense", "h3", 1024), ("relu",),
              ("dense", "logits", 10)],
    "lenet5": [("input", 1, 28, 28),
               ("conv", "c1", 6, 5, 2), ("relu",), ("maxpool", 2),
               ("conv", "c2", 16, 5, 0), ("relu",), ("maxpool", 2),
               ("flatten",),
               ("dense", "f3", 120), ("relu",),
               ("dense", "f4", 84), ("relu",),
               ("dense", "logits", 10)],
    "cifar_cnn": [("input", 3, 32, 32),
                  ("conv", "c1", 32, 3, 1), ("relu",),
                  ("conv", "c2", 32, 3, 1), ("relu",), ("maxpool", 2),
                  ("conv", "c3", 64, 3, 1), ("relu",),
                  ("conv", "c4", 64, 3, 1), ("relu",), ("maxpool", 2),
                  ("flatten",),
                  ("dense", "f5", 512), ("relu",),
                  ("dense", "logits", 10)],
    "resblock": [("input", 64, 56, 56),
                 ("save",),
                 ("conv", "a", 64, 3, 1), ("relu",),
                 ("conv", "b", 64, 3, 1),
                 ("add_saved",), ("relu",)],
}


class Net(nn.Module):
    """A model of LAYERS as a PyTorch module whose parameter names are the .nnd names."""

    def __init__(self, layers):
        super().__init__()
        self.layers = layers
        shape = list(layers[0][1:])
        for l in layers[1:]:
            if l[0] == "dense":
                self.add_module(l[1], nn.Linear(int(np.prod(shape)), l[2]))
                shape = [l[2]]
            elif l[0] == "conv":
                c, h, w = shape
                self.add_module(l[1], nn.Conv2d(c, l[2], l[3], padding=l[4]))
                shape = [l[2], h + 2 * l[4] - l[3] + 1, w + 2 * l[4] - l[3] + 1]
            elif l[0] == "maxpool":
                shape = [shape[0], shape[1] // l[1], shape[2] // l[1]]
            elif l[0] == "flatten":
                shape = [int(np.prod(shape))]
        self.out_shape = shape

    def forward(self, x):
        saved = None
        for l in self.layers[1:]:
            op = l[0]
            if op in ("dense", "conv"):
                x = getattr(self, l[1])(x)
            elif op == "relu":
                x = torch.relu(x)
            elif op == "softmax":
                x = torch.softmax(x, dim=-1)
            elif op == "maxpool":
                x = torch.nn.functional.max_pool2d(x, l[1])
            elif op == "flatten":
                x = torch.flatten(x, 1)
            elif op == "save":
                saved = x
            elif op == "add_saved":
                x = x + saved
            else:
                raise ValueError(op)
        return x


def make(name):
    """The seeded module for model name (PyTorch's default init after manual_seed(SEED))."""
    torch.manual_seed(SEED)
    return Net(LAYERS[name]).eval()


def load(name, out_dir):
    """The module for name with the weights from OUT_DIR/name.safetensors."""
    net = Net(LAYERS[name]).eval()
    tensors = read_safetensors(os.path.join(out_dir, name + ".safetensors"))
    net.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()})
    return net


def write_model(name, out_dir):
    net = make(name)
    base = os.path.join(out_dir, name)
    params = [(k, v.detach().float()) for k, v in net.state_dict().items()]
    write_safetensors(base + ".safetensors", params)
    with open(base + ".params", "wb") as f:
        for l in LAYERS[name]:
            if l[0] in ("dense", "conv"):
                mod = getattr(net, l[1])
                f.write(mod.weight.detach().numpy().astype("<f4").tobytes())
                f.write(mod.bias.detach().numpy().astype("<f4").tobytes())
    with open(base + ".layers", "w") as f:
        for l in LAYERS[name]:
            f.write(" ".join(str(v) for v in l) + "\n")
    example = torch.zeros([2] + list(LAYERS[name][0][1:]))
    torch.onnx.export(net, example, base + ".onnx", input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "N"}, "y": {0: "N"}}, opset_version=13)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_models.py OUT_DIR")
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.abspath(__file__), "rb") as f:
        stamp = hashlib.sha256(f.read()).hexdigest()
    stamp_path = os.path.join(out_dir, ".stamp")
    if os.path.exists(stamp_path) and open(stamp_path).read() == stamp:
        return
    for name in LAYERS:
        write_model(name, out_dir)
    with open(stamp_path, "w") as f:
        f.write(stamp)
    print(f"bench: seeded weights, .onnx and .layers for {len(LAYERS)} models in {out_dir}")


if __name__ == "__main__":
    main()
