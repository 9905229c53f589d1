"""torch_worker.py: the PyTorch peer of bench/, speaking the protocol of bench/peers/peer.h.

    /usr/bin/python3 bench/peers/torch_worker.py MODELS_DIR

The module is bench/make_models.py's Net with the weights of MODELS_DIR/NAME.safetensors,
in eval mode, called under torch.inference_mode() on a tensor that shares the input's memory
(torch.from_numpy); the output is copied out. Threads: torch.set_num_threads(T) before each
load, torch.set_num_interop_threads(1) once at start (one model call has no inter-op
parallelism to use). Timed per call with time.perf_counter_ns, the Python call included:
that is what a PyTorch user pays.
"""
import ctypes
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import make_models  # noqa: E402

torch.set_num_interop_threads(1)


def _openblas():
    """The OpenBLAS that PyTorch's BLAS calls reach (Debian's libblas.so.3), or None."""
    try:
        lib = ctypes.CDLL("libopenblas.so.0", mode=os.RTLD_NOLOAD | os.RTLD_GLOBAL)
        lib.openblas_get_corename.restype = ctypes.c_char_p
        return lib
    except OSError:
        return None


# torch.set_num_threads does not reach a generic BLAS: PyTorch's Linear calls sgemm in
# OpenBLAS, whose own thread count is set here too.
OPENBLAS = _openblas()


class Worker:
    def __init__(self, models_dir):
        self.models_dir = models_dir
        self.name = None
        self.net = None
        self.x = None
        self.batch = 0

    def info(self):
        cap = [l.split(":", 1)[1].strip() for l in torch.__config__.show().splitlines()
               if "CPU capability usage" in l] or ["?"]
        blas = (f"OpenBLAS core {OPENBLAS.openblas_get_corename().decode()}" if OPENBLAS
                else "a BLAS that is not OpenBLAS")
        return (f"PyTorch | {torch.__version__}, {cap[0]} ATen kernels, oneDNN (mkldnn) "
                f"{'on' if torch.backends.mkldnn.is_available() else 'off'}, Linear through "
                f"libblas.so.3 = {blas}"
                f" | torch.set_num_threads(T), openblas_set_num_threads(T), "
                f"set_num_interop_threads(1), inference_mode, "
                f"eval(); the float32 module as is (no TorchScript, no channels_last)")

    def load(self, name, batch, threads):
        torch.set_num_threads(threads)
        if OPENBLAS:
            OPENBLAS.openblas_set_num_threads(threads)
        if name != self.name:
            self.net = make_models.load(name, self.models_dir)
            self.name = name
        self.batch = batch
        self.in_shape = [batch] + list(make_models.LAYERS[name][0][1:])
        return f"threads_used={torch.get_num_threads()}"

    def run(self, in_path, out_path):
        arr = np.fromfile(in_path, dtype="<f4")
        if arr.size != int(np.prod(self.in_shape)):
            raise ValueError(f"{in_path}: {arr.size} floats, want {self.in_shape}")
        self.x = torch.from_numpy(arr.reshape(self.in_shape))
        with torch.inference_mode():
            y = self.net(self.x)
        y.numpy().astype("<f4").tofile(out_path)

    def time(self, calls, warmup=0):
        out = []
        net, x = self.net, self.x
        with torch.inference_mode():
            for _ in range(warmup):
                net(x)
            for _ in range(calls):
                t0 = time.perf_counter_ns()
                net(x)
                out.append(time.perf_counter_ns() - t0)
        return " ".join(str(t) for t in out)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: torch_worker.py MODELS_DIR")
    w = Worker(sys.argv[1])
    for line in sys.stdin:
        parts = line.split()
        if not parts:
            continue
        try:
            cmd = parts[0]
            if cmd == "quit":
                break
            if cmd == "info":
                reply = w.info()
            elif cmd == "load" and len(parts) == 4:
                reply = w.load(parts[1], int(parts[2]), int(parts[3]))
            elif cmd == "run" and len(parts) == 3:
                reply = w.run(parts[1], parts[2]) or ""
            elif cmd == "time" and len(parts) in (2, 3) and w.x is not None:
                reply = w.time(*(int(p) for p in parts[1:]))
            else:
                raise ValueError(f"bad command {line.strip()!r}")
            print(("ok " + reply).rstrip(), flush=True)
        except Exception as e:  # the driver reports it; the worker stays up
            print(f"error {type(e).__name__}: {e}".replace("\n", " "), flush=True)


if __name__ == "__main__":
    main()
