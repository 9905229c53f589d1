#!/usr/bin/env python3
"""Writes the small .npy files under tests/data/npy/ that tests/unit/test_npy.c reads to
check npy.c against NumPy's own writer. Run with /usr/bin/python3 (NumPy >= 1.17); the output
is deterministic, and the files are committed so the tests do not need Python."""
import os

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "npy")


def save(name, arr, version=None):
    path = os.path.join(OUT, name)
    if version is None:
        np.save(path, arr, allow_pickle=False)
    else:
        with open(path, "wb") as f:
            np.lib.format.write_array(f, arr, version=version, allow_pickle=False)


def main():
    os.makedirs(OUT, exist_ok=True)
    save("f32_2x3.npy", np.array([[1.5, -2.0, 0.25], [3.0, 1e-3, -0.0]], dtype="<f4"))
    # 0.1 rounds, 1e300 overflows to inf, 2^-1074 underflows to 0 when narrowed to f32.
    save("f64_vec.npy", np.array([0.1, -2.5, 1e300, 2.0**-1074, -np.inf], dtype="<f8"))
    save("be_f4.npy", np.array([[1.0, -0.5], [65504.0, 3.4028235e38]], dtype=">f4"))
    save("fortran.npy", np.asfortranarray(np.arange(6, dtype="<f4").reshape(2, 3)))
    save("i64.npy", np.arange(4, dtype="<i8"))
    save("scalar.npy", np.array(7.5, dtype="<f4"))
    save("v2_f32.npy", np.array([1.0, 2.0, 3.0], dtype="<f4"), version=(2, 0))
    save("v3_f32.npy", np.array([[4.0], [5.0]], dtype="<f4"), version=(3, 0))


if __name__ == "__main__":
    main()
