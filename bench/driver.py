"""driver.py: bench/'s one run: nnd's JIT forward pass against its peers, interleaved.

    /usr/bin/python3 bench/driver.py --build DIR [--quick] [--models a,b] [--batches 1,64]
                                     [--threads 1,2] [--budget S] [--max-rounds R]

bench/run.sh builds everything and calls this; see bench/README.md for what is measured and
how. DIR holds the workers (DIR/bench/*), the seeded models (DIR/models), the npm packages
(DIR/node) and receives the results (DIR/results.md, DIR/results.json).

Each backend is a long-lived worker process speaking the line protocol of
bench/peers/peer.h. For every model x batch x threads the driver loads the model in every
worker, runs each once on the same seeded input, checks each peer's output against nnd's
(numpy.allclose, rtol 1e-4, atol 1e-5; a peer that disagrees is WRONG and not timed), then
times them in rounds: in each round every worker times one block of calls (about
budget / max_rounds long, at least one call), in an order that rotates each round, so noise
from the machine falls on all of them alike. Rounds stop once every worker has been timed
for `budget` seconds (after at least 3 rounds), or after max_rounds. A worker times each call
on its own clock; the median over all calls is reported.
"""
import argparse
import json
import os
import platform
import re
import selectors
import shutil
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RTOL, ATOL = 1e-4, 1e-5
MODELS = ["mlp_s", "mlp_l", "lenet5", "cifar_cnn", "resblock"]
REPLY_TIMEOUT = 600  # seconds a worker may take to answer one command
# Environment variables that change a peer's threads or kernels behind its API; found values
# are reported, then removed from the workers' environment and replaced by explicit settings.
KNOB_VARS = ["OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "OPENBLAS_THREAD_TIMEOUT",
             "GOTO_NUM_THREADS", "OMP_NUM_THREADS", "OMP_PROC_BIND", "OMP_PLACES",
             "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "MKL_NUM_THREADS", "DNNL_MAX_CPU_ISA",
             "ONEDNN_MAX_CPU_ISA", "DNNL_VERBOSE", "ATEN_CPU_CAPABILITY"]
# After a block of calls on more than one thread, helper threads may keep spinning for a
# while (OpenBLAS's default timeout is 2^28 cycles, about 0.1 s); the driver waits this long
# before the next worker's block so that it does not share the cores with them.
SETTLE_S = 0.15
WARM_S = 0.01


class Worker:
    """One backend's process; `call` sends a command line and returns the reply after 'ok'."""

    def __init__(self, key, label, argv, env, log):
        self.key, self.label, self.argv = key, label, argv
        self.status = "ok"  # or "missing: why" / "failed: why"
        self.info = ""
        self.proc = None
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=log, env=env, text=True, bufsize=1)
        except OSError as e:
            self.status = f"missing: {e.strerror}: {argv[0]}"
            return
        try:
            self.info = self.call("info")
        except RuntimeError as e:
            self.status = f"missing: {e}"
            self.close()

    def call(self, line, timeout=REPLY_TIMEOUT):
        if not self.proc or self.proc.poll() is not None:
            raise RuntimeError("the worker is not running")
        try:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise RuntimeError("the worker exited")
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        ready = sel.select(timeout)
        sel.close()
        if not ready:
            self.close()
            raise RuntimeError(f"no answer to '{line}' in {timeout} s")
        reply = self.proc.stdout.readline()
        if not reply:
            code = self.proc.wait()
            raise RuntimeError(f"the worker exited (status {code}) on '{line}'")
        reply = reply.rstrip("\n")
        if reply == "ok" or reply.startswith("ok "):
            return reply[3:]
        raise RuntimeError(reply[6:] if reply.startswith("error ") else reply)

    def close(self):
        if self.proc and self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=10)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def read_layers(models_dir, name):
    """The layer list of NAME.layers (written by make_models.py) as tuples of strings/ints."""
    out = []
    with open(os.path.join(models_dir, name + ".layers")) as f:
        for line in f:
            parts = line.split()
            out.append(tuple(int(p) if p.isdigit() else p for p in parts))
    return out


def flops_per_image(layers):
    """FLOPs of one image's pass, counted as `nndc bench` counts them (compiler/flops.c):
    dense and conv 2 x MACs, maxpool k*k per output, softmax 4 per element, relu and add one
    per output element; bias and flatten nothing."""
    shape = list(layers[0][1:])
    total = 0
    for l in layers[1:]:
        n = int(np.prod(shape))
        if l[0] == "dense":
            total += 2 * l[2] * n
            shape = [l[2]]
        elif l[0] == "conv":
            c, h, w = shape
            shape = [l[2], h + 2 * l[4] - l[3] + 1, w + 2 * l[4] - l[3] + 1]
            total += 2 * int(np.prod(shape)) * c * l[3] * l[3]
        elif l[0] == "maxpool":
            shape = [shape[0], shape[1] // l[1], shape[2] // l[1]]
            total += int(np.prod(shape)) * l[1] * l[1]
        elif l[0] == "flatten":
            shape = [n]
        elif l[0] == "softmax":
            total += 4 * n
        elif l[0] in ("relu", "add_saved"):
            total += n
    return total


def machine():
    out = {"model name": platform.processor() or "?", "cpus": os.cpu_count(), "flags": ""}
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in text.splitlines():
            k, _, v = line.partition(":")
            k, v = k.strip(), v.strip()
            if k == "Model name":
                out["model name"] = v
            elif k == "Flags":
                out["flags"] = " ".join(f for f in ("avx2", "fma", "avx512f", "avx512_bf16",
                                                      "amx_tile") if f in v.split())
            elif k in ("Core(s) per socket", "Socket(s)", "Thread(s) per core"):
                out[k] = v
    except OSError:
        pass
    return out


def peak_fma(build, peaks=None):
    """{threads: GFLOP/s} from bench/peak_fma.c, the best of this and earlier `peaks` (a
    busy machine can only lower it), and its ISA."""
    exe = os.path.join(build, "bench", "peak_fma")
    r = subprocess.run([exe, "1.0"], capture_output=True, text=True, check=True).stdout
    isa = re.search(r"isa (\S+)", r).group(1)
    new = {int(t): float(g) for t, g in re.findall(r"threads (\d+) gflops ([\d.]+)", r)}
    for t, g in (peaks or {}).items():
        new[t] = max(new.get(t, 0), g)
    return isa, new


def load_average():
    try:
        with open("/proc/loadavg") as f:
            return f.read().split()[0]
    except OSError:
        return "?"


def median_us(samples_ns):
    return float(np.median(np.asarray(samples_ns, dtype=np.float64))) / 1e3


def run_config(workers, model, batch, threads, args, tmp, results, say):
    """Loads, verifies and times one model x batch x threads on every worker."""
    layers = read_layers(args.models_dir, model)
    in_shape = [batch] + list(layers[0][1:])
    rng = np.random.default_rng([MODELS.index(model), batch])
    x = rng.standard_normal(int(np.prod(in_shape)), dtype=np.float32)
    in_path = os.path.join(tmp, f"{model}_{batch}.in.f32")
    x.astype("<f4").tofile(in_path)
    row = {"model": model, "batch": batch, "threads": threads,
           "flop": flops_per_image(layers) * batch, "backends": {}}
    live = []
    ref = None
    # The previous row's helper threads may still spin; nnd's load times its JIT compile,
    # which uses both CPUs of a 2-CPU machine.
    time.sleep(SETTLE_S)
    for w in workers:
        cell = row["backends"].setdefault(w.key, {})
        if w.status != "ok":
            cell["status"] = w.status
            continue
        try:
            loaded = dict(kv.split("=", 1) for kv in w.call(f"load {model} {batch} {threads}").split()
                          if "=" in kv)
            cell["load"] = loaded
            out_path = os.path.join(tmp, f"{model}_{batch}_{threads}.{w.key}.f32")
            w.call(f"run {in_path} {out_path}")
            y = np.fromfile(out_path, dtype="<f4")
        except RuntimeError as e:
            cell["status"] = f"failed: {e}"
            say(f"  {w.label}: {model} batch {batch} threads {threads}: {e}")
            if not w.proc:
                w.status = f"failed: {e}"
            continue
        if w.key == "nnd":
            ref = y
            cell["status"] = "ok"
            live.append(w)
            continue
        if ref is None:
            cell["status"] = "unverified: nnd did not run"
            continue
        err = float(np.max(np.abs(y - ref))) if y.shape == ref.shape else float("inf")
        cell["max_abs_err"] = err
        if y.shape == ref.shape and np.allclose(y, ref, rtol=RTOL, atol=ATOL):
            cell["status"] = "ok"
            live.append(w)
        else:
            cell["status"] = "WRONG"
            say(f"  {w.label}: {model} batch {batch} threads {threads}: WRONG, "
                f"max |y - nnd| = {err:.3g}, shape {y.shape} vs {ref.shape}")
    if not live:
        return row

    # Calibrate: the time of one call after a warm-up, to size each worker's blocks.
    per_call = {}
    for w in list(live):
        try:
            if threads > 1:
                time.sleep(SETTLE_S)
            t = [int(v) for v in w.call("time 3 1").split()]
            per_call[w.key] = max(float(np.median(t)), 1) / 1e9
        except RuntimeError as e:
            row["backends"][w.key]["status"] = f"failed: {e}"
            live.remove(w)
    block_s = args.budget / args.max_rounds
    calls = {k: max(1, min(100000, int(block_s / t))) for k, t in per_call.items()}
    # Untimed calls at the start of each block (about WARM_S, at least one), so that a block
    # does not time the wake-up of threads and caches left cold by the other workers.
    warm = {k: max(1, min(1000, int(WARM_S / t))) for k, t in per_call.items()}
    samples = {w.key: [] for w in live}
    spent = {w.key: 0.0 for w in live}
    rounds = 0
    while live and rounds < args.max_rounds:
        order = live[rounds % len(live):] + live[:rounds % len(live)]
        for w in order:
            try:
                t = [int(v) for v in w.call(f"time {calls[w.key]} {warm[w.key]}").split()]
            except RuntimeError as e:
                row["backends"][w.key]["status"] = f"failed: {e}"
                live.remove(w)
                continue
            samples[w.key] += t
            spent[w.key] += sum(t) / 1e9
            if threads > 1:
                time.sleep(SETTLE_S)
        rounds += 1
        if rounds >= args.min_rounds and all(spent[w.key] >= args.budget for w in live):
            break
    row["rounds"] = rounds
    for key, t in samples.items():
        if t and row["backends"][key]["status"] == "ok":
            cell = row["backends"][key]
            cell["median_us"] = median_us(t)
            cell["calls"] = len(t)
            cell["q1_us"] = float(np.percentile(t, 25)) / 1e3
            cell["q3_us"] = float(np.percentile(t, 75)) / 1e3
    ort = next((w for w in live if w.key == "ort"), None)
    if ort:
        try:
            row["backends"]["ort"]["binding_us"] = median_us(
                [int(v) for v in ort.call("overhead 500").split()])
        except RuntimeError:
            pass
    results.append(row)
    return row


def fmt_us(v):
    return f"{v:.1f}" if v < 1000 else f"{v:,.0f}"


def table(rows, workers, peaks):
    """The results as a Markdown table, one line per model x batch x threads."""
    peers = [w for w in workers if w.key != "nnd"]
    head = ["model", "batch", "threads", "GFLOP", "nnd µs", "GFLOP/s", "% peak"]
    for w in peers:
        head += [f"{w.label} µs", "GFLOP/s", "nnd/peer"]
        if w.key == "ort":
            head += ["ORT bind µs"]
    lines = ["| " + " | ".join(head) + " |",
             "|" + "|".join("---:" if i > 2 else "---" for i in range(len(head))) + "|"]
    for r in rows:
        nnd = r["backends"].get("nnd", {})
        used = int(nnd.get("load", {}).get("threads_used", r["threads"]))
        thr = f"{r['threads']}" + (f" (nnd {used}†)" if used != r["threads"] else "")
        cells = [r["model"], str(r["batch"]), thr, f"{r['flop'] / 1e9:.4f}"]
        t_nnd = nnd.get("median_us")
        if t_nnd:
            g = r["flop"] / t_nnd / 1e3
            cells += [fmt_us(t_nnd), f"{g:.1f}", f"{100 * g / peaks[used]:.0f}%"]
        else:
            cells += [nnd.get("status", "—"), "", ""]
        for w in peers:
            c = r["backends"].get(w.key, {})
            t = c.get("median_us")
            if t:
                cells += [fmt_us(t), f"{r['flop'] / t / 1e3:.1f}",
                          f"{t_nnd / t:.2f}" if t_nnd else ""]
            else:
                st = c.get("status", "—")
                st = "missing" if st.startswith("missing") else st.split(":")[0]
                if st == "WRONG":
                    st = f"WRONG ({c.get('max_abs_err', float('nan')):.1e})"
                cells += [st, "", ""]
            if w.key == "ort":
                b = c.get("binding_us")
                cells += [f"{b:.1f}" if b else ""]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", required=True, help="bench build folder (bench/run.sh's)")
    ap.add_argument("--quick", action="store_true",
                    help="batch 1 only, 0.1 s per measurement, at most 5 rounds")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--batches", default=None, help="default 1,64 (and 256 for the MLPs)")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--budget", type=float, default=None, help="seconds per measurement")
    ap.add_argument("--max-rounds", type=int, default=None)
    args = ap.parse_args()
    args.min_rounds = 2 if args.quick else 3
    args.budget = args.budget or (0.1 if args.quick else 0.5)
    args.max_rounds = args.max_rounds or (5 if args.quick else 20)
    build = os.path.abspath(args.build)
    args.models_dir = os.path.join(build, "models")
    tmp = os.path.join(build, "io")
    os.makedirs(tmp, exist_ok=True)
    log_path = os.path.join(build, "workers.log")
    log = open(log_path, "w")
    report = []

    def say(s=""):
        print(s, flush=True)
        report.append(s)

    t_start = time.time()
    m = machine()
    load_start = load_average()
    isa, peaks = peak_fma(build)
    threads_list = [int(t) for t in args.threads.split(",")]
    max_t = max(threads_list)
    if max_t > max(peaks):
        peaks[max_t] = peaks[max(peaks)]

    # The peers' knobs: report what the environment had, then remove it.
    env = dict(os.environ)
    found = {k: env.pop(k) for k in KNOB_VARS if k in env}
    knobs = [f"environment had: {', '.join(f'{k}={v}' for k, v in found.items()) or 'none of'} "
             f"({', '.join(KNOB_VARS)}); all removed from the workers' environment"]
    env["ONNXRUNTIME_NODE_INSTALL"] = "skip"
    bench_bin = os.path.join(build, "bench")

    # OpenBLAS picks its kernels by CPU model at start; a model it does not know (or an
    # OPENBLAS_CORETYPE left in the environment) gives old kernels. Pin the best it has for
    # this ISA when its own choice is not that, and say so. PyTorch's BLAS (Debian's
    # libblas.so.3) is the same OpenBLAS, so its worker gets the same setting.
    blas_env = dict(env)
    ob_exe = os.path.join(bench_bin, "openblas_worker")
    if os.path.exists(ob_exe):
        probe = Worker("openblas", "OpenBLAS", [ob_exe, args.models_dir], env, log)
        core = re.search(r"core (\S+)", probe.info)
        probe.close()
        want = "SkylakeX" if "avx512f" in m["flags"] else "Haswell"
        if core and core.group(1).lower() != want.lower() and \
                not (want == "SkylakeX" and core.group(1).lower() in ("cooperlake",
                                                                        "sapphirerapids")):
            blas_env["OPENBLAS_CORETYPE"] = want
            knobs.append(f"OpenBLAS autodetected core '{core.group(1)}' on this CPU; pinned "
                         f"OPENBLAS_CORETYPE={want} for the OpenBLAS and PyTorch workers")
        elif core:
            knobs.append(f"OpenBLAS autodetected core '{core.group(1)}' (kept)")

    node_modules = os.path.join(build, "node", "node_modules")
    ort_env = dict(env, NODE_PATH=node_modules)
    py = "/usr/bin/python3"
    specs = [
        ("nnd", "nnd", [os.path.join(bench_bin, "nnd_worker"), os.path.join(HERE, "models"),
                        args.models_dir], env),
        ("openblas", "OpenBLAS", [ob_exe, args.models_dir], blas_env),
        ("onednn", "oneDNN", [os.path.join(bench_bin, "dnnl_worker"), args.models_dir], env),
        ("torch", "PyTorch", [py, os.path.join(HERE, "peers", "torch_worker.py"),
                              args.models_dir], blas_env),
        ("ort", "ORT", [shutil.which("node") or "node",
                        os.path.join(HERE, "peers", "ort_worker.js"), args.models_dir], ort_env),
    ]
    missing_why = {"openblas": "not built: libopenblas-dev not installed",
                   "onednn": "not built: libdnnl-dev not installed"}
    workers = []
    for key, label, argv, wenv in specs:
        if key in missing_why and not os.path.exists(argv[0]):
            w = Worker.__new__(Worker)
            w.key, w.label, w.argv, w.proc, w.info = key, label, argv, None, ""
            w.status = f"missing: {missing_why[key]}"
        else:
            w = Worker(key, label, argv, wenv, log)
        workers.append(w)
    if workers[0].status != "ok":
        sys.exit(f"bench: nnd's worker does not start: {workers[0].status} (see {log_path})")

    say("## Machine")
    say(f"- CPU: {m['model name']}, {m['cpus']} CPUs "
        f"({m.get('Socket(s)', '?')} socket x {m.get('Core(s) per socket', '?')} cores x "
        f"{m.get('Thread(s) per core', '?')} threads), flags: {m['flags']}")
    say(f"- FMA peak at the start (bench/peak_fma.c, {isa}, best of 40 runs): " +
        ", ".join(f"{t} thread{'s' if t > 1 else ''} {g:.1f} GFLOP/s" for t, g in
                  sorted(peaks.items())))
    say(f"- OS: {platform.platform()}")
    say("")
    say("## Backends")
    for w in workers:
        if w.status == "ok":
            parts = [p.strip() for p in w.info.split("|")]
            say(f"- **{w.label}**: {parts[1] if len(parts) > 1 else w.info}. "
                f"Knobs: {parts[2] if len(parts) > 2 else ''}")
        else:
            say(f"- **{w.label}**: MISSING ({w.status.split(':', 1)[1].strip()})")
    say("")
    say("## Knobs")
    for k in knobs:
        say(f"- {k}")
    say(f"- every worker gets the thread count through its own API, per row (see Backends); "
        f"between blocks on {max_t} threads, and before each row's loads (nnd's times its JIT "
        f"compile), the driver waits {SETTLE_S} s for spinning helper threads to stop")
    say(f"- per measurement: blocks of about {1e3 * args.budget / args.max_rounds:.0f} ms per "
        f"backend, round-robin in rotating order, until every backend has {args.budget} s "
        f"(at least {args.min_rounds} rounds) or {args.max_rounds} rounds; median over all "
        f"calls")
    say("")

    results = []
    models = args.models.split(",")
    for model in models:
        if model not in MODELS:
            sys.exit(f"bench: unknown model {model}; have {', '.join(MODELS)}")
        if args.batches:
            batches = [int(b) for b in args.batches.split(",")]
        else:
            batches = [1] if args.quick else [1, 64] + ([256] if model.startswith("mlp") else [])
        for batch in batches:
            for threads in threads_list:
                t0 = time.time()
                run_config(workers, model, batch, threads, args, tmp, results, say)
                print(f"  [{model} batch {batch} threads {threads}: {time.time() - t0:.1f} s]",
                      file=sys.stderr, flush=True)
        isa, peaks = peak_fma(build, peaks)  # again after each model: the best one counts

    if max_t > max(peaks):
        peaks[max_t] = peaks[max(peaks)]
    say("## Results")
    say(f"FMA peak used for % peak: the best of peak_fma at the start and after each model: " +
        ", ".join(f"{t} thread{'s' if t > 1 else ''} {g:.1f} GFLOP/s" for t, g in
                  sorted(peaks.items())) +
        f". Load average (1 min) at the start {load_start}, at the end {load_average()}.")
    say("")
    say("Median µs per forward pass; GFLOP/s = FLOPs of the pass (counted as `nndc bench` "
        "counts them) / median; nnd/peer = nnd's median / the peer's: **below 1 means nnd is "
        "faster**. % peak: nnd's GFLOP/s over the measured FMA peak for the threads nnd used. "
        "ORT bind µs: the per-call cost of onnxruntime-node's `session.run` on a 1-element "
        "y = x + x model, included in ORT's times.")
    say("")
    say(table(results, workers, peaks))
    if any(int(r["backends"].get("nnd", {}).get("load", {}).get("threads_used", r["threads"]))
           != r["threads"] for r in results):
        say("")
        say("† nnd ran these rows on fewer threads than the peers: the model mixes samples of "
            "its batch, so nnd_model_threads is 1 (bench/peers/nnd_worker.c, threads_used).")
    say("")
    say("## nnd JIT compile time (-O2)")
    say("Each load that compiled (a row with another model or thread count than the row "
        "before), in row order; median, then wall ms (CPU ms of all threads) of each.")
    compiles = {}
    for r in results:
        load = r["backends"].get("nnd", {}).get("load", {})
        if float(load.get("compile_ms", -1)) >= 0:
            compiles.setdefault(r["model"], []).append(
                (float(load["compile_ms"]), float(load.get("compile_cpu_ms", -1))))
    for model, c in compiles.items():
        each = ", ".join(f"{w:.0f} ({u:.0f})" for w, u in c)
        say(f"- {model}: median {float(np.median([w for w, _ in c])):.0f} ms; {each}")
    say("")
    say("## Verification (against nnd's output, rtol 1e-4, atol 1e-5)")
    for w in workers[1:]:
        cells = [r["backends"].get(w.key, {}) for r in results]
        ok = [c for c in cells if c.get("status") == "ok"]
        bad = [(r, c) for r, c in zip(results, cells) if c.get("status") == "WRONG"]
        failed = [(r, c) for r, c in zip(results, cells)
                  if c.get("status", "").startswith("failed")]
        if w.status.startswith("missing"):
            say(f"- {w.label}: missing, not run")
            continue
        worst = max((c.get("max_abs_err", 0) for c in ok), default=0)
        line = f"- {w.label}: {len(ok)}/{len(cells)} rows agree"
        if ok:
            line += f" (worst max |y - nnd| {worst:.1e})"
        if bad:
            line += "; WRONG: " + ", ".join(f"{r['model']}/{r['batch']}/{r['threads']} "
                                            f"({c['max_abs_err']:.1e})" for r, c in bad)
        if failed:
            line += "; failed: " + ", ".join(f"{r['model']}/{r['batch']}/{r['threads']} "
                                             f"({c['status'][8:]})" for r, c in failed)
        say(line)
    say("")
    say(f"Run took {time.time() - t_start:.0f} s ({'quick' if args.quick else 'full'} mode).")

    for w in workers:
        w.close()
    log.close()
    with open(os.path.join(build, "results.md"), "w") as f:
        f.write("\n".join(report) + "\n")
    with open(os.path.join(build, "results.json"), "w") as f:
        json.dump({"machine": m, "peak_gflops": peaks, "knobs": knobs,
                   "backends": {w.key: {"label": w.label, "status": w.status, "info": w.info}
                                for w in workers},
                   "rows": results}, f, indent=1)
    print(f"\n(written to {build}/results.md and results.json; workers' stderr in {log_path})")


if __name__ == "__main__":
    main()
