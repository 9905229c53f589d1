#!/usr/bin/python3
"""Train the digits MLP of SPEC section 1 and write what the C example needs.

    /usr/bin/python3 examples/digits/train.py

Data: sklearn's bundled 8x8 handwritten digits (1797 images, no download), pixels scaled to
[0, 1], stratified 80/20 train/test split with random_state=0.

Model (digits.nnd):  64 -> dense 32 relu -> dense 16 sigmoid -> dense 10 softmax
trained with Adam on the cross-entropy of the logits (the softmax is only applied at inference).

Writes, next to this script:
  digits.safetensors      F32 state_dict: hidden1.*, hidden2.*, probs.* (PyTorch layout)
  test_x.npy              float32 [n_test, 64]
  test_y.npy              float32 [n_test] labels 0..9
  expected_probs.npy      float32 [n_test, 10] PyTorch softmax output with the saved weights
  expected_accuracy.txt   "CORRECT TOTAL" computed with exactly the saved float32 weights

Deterministic: re-running produces byte-identical files.
"""
import os
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from safetensors_io import save_npy, write_safetensors  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 0
EPOCHS = 60
BATCH = 32
LR = 1e-2


class Digits(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden1 = nn.Linear(64, 32)
        self.hidden2 = nn.Linear(32, 16)
        self.probs = nn.Linear(16, 10)

    def logits(self, x):
        x = torch.relu(self.hidden1(x))
        x = torch.sigmoid(self.hidden2(x))
        return self.probs(x)

    def forward(self, x):
        return torch.softmax(self.logits(x), dim=-1)


def main():
    torch.manual_seed(SEED)
    np.random.seed(SEED)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)  # bit-reproducible training regardless of the machine's cores

    data = load_digits()
    x = (data.data / 16.0).astype(np.float32)
    y = data.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.2, stratify=y, random_state=SEED)

    model = Digits()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x_tr), torch.from_numpy(y_tr)
    gen = torch.Generator().manual_seed(SEED)
    for epoch in range(EPOCHS):
        model.train()
        perm = torch.randperm(len(xt), generator=gen)
        total = 0.0
        for i in range(0, len(xt), BATCH):
            idx = perm[i:i + BATCH]
            opt.zero_grad()
            loss = loss_fn(model.logits(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        if (epoch + 1) % 10 == 0:
            print(f"epoch {epoch + 1:3d}  train loss {total / len(xt):.4f}")

    # Save, then evaluate with exactly the float32 values that were saved.
    sd = model.state_dict()
    names = ["hidden1.weight", "hidden1.bias", "hidden2.weight", "hidden2.bias",
             "probs.weight", "probs.bias"]
    assert sorted(sd.keys()) == sorted(names), sd.keys()
    saved = [(n, sd[n].detach().numpy().astype(np.float32)) for n in names]
    write_safetensors(os.path.join(HERE, "digits.safetensors"), saved)

    evalm = Digits()
    evalm.load_state_dict({n: torch.from_numpy(a.copy()) for n, a in saved})
    evalm.eval()
    with torch.no_grad():
        probs = evalm(torch.from_numpy(x_te)).numpy().astype(np.float32)
    pred = probs.argmax(axis=1)
    correct = int((pred == y_te).sum())
    n = len(y_te)

    save_npy(os.path.join(HERE, "test_x.npy"), x_te)
    save_npy(os.path.join(HERE, "test_y.npy"), y_te, np.float32)  # labels as float32
    save_npy(os.path.join(HERE, "expected_probs.npy"), probs)
    with open(os.path.join(HERE, "expected_accuracy.txt"), "w") as f:
        f.write(f"{correct} {n}\n")
    print(f"test accuracy {correct}/{n} = {correct / n:.4f}")


if __name__ == "__main__":
    main()
