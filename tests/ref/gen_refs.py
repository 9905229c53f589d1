#!/usr/bin/python3
"""Generate PyTorch reference cases for every nnd operator (SPEC 1.4).

    /usr/bin/python3 tests/ref/gen_refs.py

For each case, tests/ref/cases/<case>/ holds
    model.nnd              a tiny model exercising the operator(s)
    weights.safetensors    its parameters (only when it has any), named per SPEC 1.3
    in_<input>.npy         float32, one per model input
    out_<output>.npy       float64, one per model output: PyTorch evaluated in float64 on the
                           float32 inputs/weights upcast to float64
and tests/ref/cases/MANIFEST has one line per case:
    <case> <rtol> <atol> <ops used, comma-separated>
A value passes when |got - ref| <= atol + rtol * |ref| (numpy.allclose).

Every case is made at batch 1 and at an odd batch (7, or 5 for images); the batch is the
symbolic dimension N of the model's input, and the case directory is <base>_b<batch>.

Each reference is computed twice in float64: once by the case's hand-written PyTorch code and
once by a small interpreter of the generated model.nnd text (torch.nn.functional per op). The two
must agree to 1e-12, so a typo in either the .nnd text or the reference is caught here. The
generator also evaluates the hand-written reference in float32 (what PyTorch itself would
return) and checks that it passes the case's tolerance with a 4x margin, so the tolerances are
not tighter than a correct float32 implementation can meet.

Deterministic: every case seeds torch and numpy from a CRC of its name; re-running gives
byte-identical files.
"""
import math
import os
import re
import shutil
import sys
import warnings
import zlib
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from safetensors_io import save_npy, write_safetensors  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "cases")

torch.set_num_threads(1)
# torch 1.13 warns that padding='same' with an even kernel copies the input; that is expected.
warnings.filterwarnings("ignore", message="Using padding='same'")
torch.use_deterministic_algorithms(True)

# Default tolerances. Elementwise ops and data movement are one or a few float32 roundings
# away from the float64 reference (relative error ~1e-7), so rtol 1e-5 leaves room for
# any reasonable vectorized exp/tanh/erf; atol covers results that are tiny or exactly 0
# where the relative error is meaningless (e.g. sigmoid(-20) = 2e-9, gelu(-5) = -1.4e-6).
RTOL, ATOL = 1e-5, 1e-6
# Reductions (dense, conv, matmul, pooling averages, norms): a float32 dot product of length K
# carries an absolute error ~ sqrt(K) * 6e-8 * sum|w*x| that depends on the summation order
# (blocking, FMA), which is not PyTorch's. Outputs here are O(0.1..1), so atol 1e-5 with rtol
# 1e-5 covers K up to a few hundred with a wide margin.
RTOL_ACC, ATOL_ACC = 1e-5, 1e-5
# Whole models chain several reductions (LeNet's f3 has K = 400) and relu/maxpool make the
# error propagate unevenly: rtol 1e-4, atol 1e-5.
RTOL_MODEL, ATOL_MODEL = 1e-4, 1e-5

# ---------------------------------------------------------------------------------------------
# The operator table (SPEC 1.4, same schemas as compiler/ops.def): name -> [(arg, type, default)]
# default: REQ (positional, no default), OPT (optional without a value), or the value.
REQ, OPT = object(), object()
SCHEMA = {
    "dense": [("x", "t", REQ), ("units", "i", REQ), ("bias", "b", True)],
    "conv2d": [("x", "t", REQ), ("filters", "i", REQ), ("kernel", "i2", REQ), ("stride", "i2", 1),
               ("padding", "pad", 0), ("dilation", "i2", 1), ("groups", "i", 1), ("bias", "b", True)],
    "maxpool2d": [("x", "t", REQ), ("kernel", "i2", REQ), ("stride", "i2", OPT), ("padding", "pad", 0),
                  ("ceil_mode", "b", False)],
    "avgpool2d": [("x", "t", REQ), ("kernel", "i2", REQ), ("stride", "i2", OPT), ("padding", "pad", 0),
                  ("ceil_mode", "b", False), ("count_include_pad", "b", True)],
    "global_avgpool": [("x", "t", REQ)],
    "batchnorm": [("x", "t", REQ), ("eps", "f", 1e-5)],
    "layernorm": [("x", "t", REQ), ("eps", "f", 1e-5)],
    "flatten": [("x", "t", REQ), ("axis", "i", 1)],
    "reshape": [("x", "t", REQ), ("shape", "ints", REQ)],
    "transpose": [("x", "t", REQ), ("perm", "ints", OPT)],
    "add": [("a", "t", REQ), ("b", "tn", REQ)],
    "sub": [("a", "t", REQ), ("b", "tn", REQ)],
    "mul": [("a", "t", REQ), ("b", "tn", REQ)],
    "div": [("a", "t", REQ), ("b", "tn", REQ)],
    "matmul": [("a", "t", REQ), ("b", "t", REQ)],
    "concat": [("inputs", "t*", REQ), ("axis", "i", 1)],
    "softmax": [("x", "t", REQ), ("axis", "i", -1)],
    "log_softmax": [("x", "t", REQ), ("axis", "i", -1)],
    "dropout": [("x", "t", REQ), ("p", "f", 0.5)],
    "leaky_relu": [("x", "t", REQ), ("alpha", "f", 0.01)],
    "elu": [("x", "t", REQ), ("alpha", "f", 1.0)],
    "gelu": [("x", "t", REQ), ("approximate", "s", "none")],
    "clip": [("x", "t", REQ), ("min", "f", OPT), ("max", "f", OPT)],
}
for _op in ["relu", "sigmoid", "tanh", "selu", "silu", "softplus", "softsign", "hard_sigmoid",
            "relu6", "identity", "exp", "log", "sqrt", "abs", "neg"]:
    SCHEMA[_op] = [("x", "t", REQ)]
SCHEMA["param"] = [("shape", "ints", REQ)]
PARAMETRIC = {"dense", "conv2d", "batchnorm", "layernorm", "param"}


# ---------------------------------------------------------------------------------------------
# A small parser and PyTorch interpreter for the generated .nnd text (cross-check only).
class NndError(Exception):
    pass


TOKEN = re.compile(r"""
    (?P<ws>[ \t\r]+) | (?P<comment>\#[^\n]*) | (?P<nl>\n) |
    (?P<num>-?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?) |
    (?P<str>"[^"\n]*") | (?P<id>[A-Za-z_][A-Za-z0-9_]*) | (?P<arrow>->) | (?P<p>[{}()\[\],:=;])
""", re.VERBOSE)


def tokenize(text):
    toks, depth, pos = [], 0, 0
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m:
            raise NndError(f"bad character at {pos}: {text[pos:pos + 10]!r}")
        pos = m.end()
        kind = m.lastgroup
        val = m.group(kind)
        if kind in ("ws", "comment"):
            continue
        if kind == "nl" or val == ";":
            if depth == 0:
                toks.append(("end", None))
            continue
        if kind == "p" and val in "([":
            depth += 1
        if kind == "p" and val in ")]":
            depth -= 1
        if kind == "num":
            val = float(val) if re.search(r"[.eE]", val) else int(val)
        elif kind == "str":
            val = val[1:-1]
        elif kind == "id" and val in ("true", "false"):
            kind, val = "bool", val == "true"
        toks.append((kind, val))
    toks.append(("end", None))
    toks.append(("eof", None))
    return toks


class Parser:
    def __init__(self, text):
        self.t = tokenize(text)
        self.i = 0

    def peek(self, k=0):
        return self.t[self.i + k]

    def take(self, kind=None, val=None):
        tok = self.t[self.i]
        if (kind and tok[0] != kind) or (val is not None and tok[1] != val):
            raise NndError(f"expected {kind} {val}, got {tok}")
        self.i += 1
        return tok[1]

    def skip_ends(self):
        while self.peek()[0] == "end":
            self.i += 1

    def model(self):
        self.skip_ends()
        self.take("id", "model")
        name = self.take("id")
        self.take("p", "{")
        stmts = []
        while True:
            self.skip_ends()
            if self.peek() == ("p", "}"):
                self.i += 1
                break
            stmts.append(self.stmt())
        self.skip_ends()
        self.take("eof")
        return name, stmts

    def stmt(self):
        kw = self.take("id")
        if kw == "input":
            name = self.take("id")
            self.take("p", ":")
            self.take("id", "f32")
            dims = self.value()
            s = ("input", name, dims)
        elif kw == "weights":
            s = ("weights", self.take("str"))
        elif kw == "output":
            name = self.take("id")
            if self.peek() == ("p", "="):
                self.i += 1
                s = ("output", name, self.expr())
            else:
                s = ("output", name, None)
        else:
            self.take("p", "=")
            s = ("node", kw, self.expr())
        if self.peek()[0] != "end" and self.peek() != ("p", "}"):
            raise NndError(f"junk after statement: {self.peek()}")
        return s

    def expr(self):
        e = self.primary()
        while self.peek()[0] == "arrow":
            self.i += 1
            op = self.take("id")
            args = self.args() if self.peek() == ("p", "(") else []
            e = ("call", op, [(None, e)] + args)
        return e

    def primary(self):
        name = self.take("id")
        if self.peek() == ("p", "("):
            return ("call", name, self.args())
        return ("ref", name)

    def args(self):
        self.take("p", "(")
        out = []
        while self.peek() != ("p", ")"):
            if self.peek()[0] == "id" and self.peek(1) == ("p", "="):
                key = self.take("id")
                self.take("p", "=")
                out.append((key, self.value()))
            else:
                out.append((None, self.value()))
            if self.peek() == ("p", ","):
                self.i += 1
        self.take("p", ")")
        return out

    def value(self):
        kind, val = self.peek()
        if kind in ("num", "str", "bool"):
            self.i += 1
            return ("lit", val)
        if (kind, val) == ("p", "["):
            self.i += 1
            items = []
            while self.peek() != ("p", "]"):
                items.append(self.value()[1] if self.peek()[0] != "id" else ("sym", self.take("id")))
                if self.peek() == ("p", ","):
                    self.i += 1
            self.i += 1
            return ("lit", items)
        return self.expr()


def bind(op, args):
    """SPEC 1.5 argument binding; returns (dict of name -> value expr/literal, name= or None)."""
    if op not in SCHEMA:
        raise NndError(f"unknown op {op}")
    schema = SCHEMA[op]
    out, seen_named, label, pi = {}, False, None, 0
    for key, v in args:
        if key is None:
            if seen_named:
                raise NndError(f"{op}: positional argument after a named one")
            if pi >= len(schema):
                raise NndError(f"{op}: too many positional arguments")
            name, typ, _ = schema[pi]
            if typ == "t*":
                out.setdefault(name, []).append(v)
                continue
            if schema[pi][2] is not REQ:
                raise NndError(f"{op}: '{name}' has a default and must be passed by name")
            out[name] = v
            pi += 1
        else:
            seen_named = True
            if key == "name":
                label = v[1]
                continue
            if key not in [s[0] for s in schema]:
                raise NndError(f"{op}: unknown argument {key}")
            if key in out:
                raise NndError(f"{op}: {key} given twice")
            out[key] = v
    for name, typ, dflt in schema:
        if name not in out:
            if dflt is REQ:
                raise NndError(f"{op}: missing argument {name}")
            if dflt is not OPT:
                out[name] = ("lit", dflt)
    return out, label


def fmt(decl):
    return "[" + ", ".join(str(d) for d in decl) + "]"


def pair(v):
    return tuple(v) if isinstance(v, list) else (v, v)


def interpret(text, inputs, params):
    """Evaluate model text with PyTorch (float64). Returns (outputs dict, ops used, param names)."""
    _, stmts = Parser(text).model()
    env, outs, ops_used, expected_params = dict(inputs), {}, [], set()

    def ev(e, target, state):
        if e[0] == "lit":
            return e[1]
        if e[0] == "ref":
            if e[1] not in env:
                raise NndError(f"undefined name {e[1]}")
            return env[e[1]]
        _, op, args = e
        b, label = bind(op, args)
        if op not in ops_used:
            ops_used.append(op)
        if op in PARAMETRIC:
            state["n"] += 1
            prefix = label if label is not None else target
            if label is None:
                state["unnamed"] += 1
        a = {k: (ev(v, target, state) if k != "inputs" else [ev(x, target, state) for x in v])
             for k, v in b.items()}

        def P(p):
            expected_params.add(f"{prefix}.{p}")
            if f"{prefix}.{p}" not in params:
                raise NndError(f"missing parameter {prefix}.{p}")
            return params[f"{prefix}.{p}"]

        x = a.get("x")
        if op == "param":  # named by the layer alone (SPEC 1.3 extension)
            expected_params.add(prefix)
            if prefix not in params or list(params[prefix].shape) != list(a["shape"]):
                raise NndError(f"missing or mis-shaped parameter {prefix}")
            return params[prefix]
        if op == "dense":
            return F.linear(x, P("weight"), P("bias") if a["bias"] else None)
        if op == "conv2d":
            w = P("weight")
            bias = P("bias") if a["bias"] else None
            k, s, d, pad = pair(a["kernel"]), pair(a["stride"]), pair(a["dilation"]), a["padding"]
            assert tuple(w.shape[2:]) == k and w.shape[0] == a["filters"]
            if pad == "same":
                th, tw = d[0] * (k[0] - 1), d[1] * (k[1] - 1)
                x = F.pad(x, (tw // 2, tw - tw // 2, th // 2, th - th // 2))
                pad = 0
            return F.conv2d(x, w, bias, s, pair(pad), d, a["groups"])
        if op in ("maxpool2d", "avgpool2d"):
            k = pair(a["kernel"])
            s = pair(a["stride"]) if "stride" in a else k
            if op == "maxpool2d":
                return F.max_pool2d(x, k, s, pair(a["padding"]), ceil_mode=a["ceil_mode"])
            return F.avg_pool2d(x, k, s, pair(a["padding"]), ceil_mode=a["ceil_mode"],
                                count_include_pad=a["count_include_pad"])
        if op == "global_avgpool":
            return x.mean(dim=(2, 3), keepdim=True)
        if op == "batchnorm":
            shape = [1, -1] + [1] * (x.dim() - 2)
            m, v = P("running_mean").view(shape), P("running_var").view(shape)
            return (x - m) / torch.sqrt(v + a["eps"]) * P("weight").view(shape) + P("bias").view(shape)
        if op == "layernorm":
            m = x.mean(-1, keepdim=True)
            v = ((x - m) ** 2).mean(-1, keepdim=True)
            return (x - m) / torch.sqrt(v + a["eps"]) * P("weight") + P("bias")
        if op == "flatten":
            ax = a["axis"] % max(x.dim(), 1)
            return x.reshape(list(x.shape[:ax]) + [-1])
        if op == "reshape":
            return x.reshape(a["shape"])
        if op == "transpose":
            perm = a.get("perm", list(range(x.dim()))[::-1])
            return x.permute(*perm)
        if op in ("add", "sub", "mul", "div"):
            return {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div}[op](a["a"], a["b"])
        if op == "matmul":
            return a["a"] @ a["b"]
        if op == "concat":
            return torch.cat(a["inputs"], dim=a["axis"])
        if op == "softmax":
            z = x - x.amax(a["axis"], keepdim=True)
            return torch.exp(z) / torch.exp(z).sum(a["axis"], keepdim=True)
        if op == "log_softmax":
            z = x - x.amax(a["axis"], keepdim=True)
            return z - torch.log(torch.exp(z).sum(a["axis"], keepdim=True))
        if op in ("dropout", "identity"):
            return x
        if op == "relu":
            return torch.clamp(x, min=0)
        if op == "sigmoid":
            return 1 / (1 + torch.exp(-x))
        if op == "tanh":
            return torch.tanh(x)
        if op == "leaky_relu":
            return torch.where(x >= 0, x, a["alpha"] * x)
        if op == "elu":
            return torch.where(x > 0, x, a["alpha"] * torch.expm1(x))
        if op == "selu":
            alpha, scale = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
            return scale * torch.where(x > 0, x, alpha * torch.expm1(x))
        if op == "gelu":
            if a["approximate"] == "tanh":
                return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
            assert a["approximate"] == "none"
            return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))
        if op == "silu":
            return x / (1 + torch.exp(-x))
        if op == "softplus":
            return torch.clamp(x, min=0) + torch.log1p(torch.exp(-x.abs()))
        if op == "softsign":
            return x / (1 + x.abs())
        if op == "hard_sigmoid":  # SPEC 1.5: relu6(x + 3) / 6
            return torch.clamp(x + 3, 0, 6) / 6
        if op == "relu6":
            return torch.clamp(x, 0, 6)
        if op == "exp":
            return torch.exp(x)
        if op == "log":
            return torch.log(x)
        if op == "sqrt":
            return torch.sqrt(x)
        if op == "abs":
            return x.abs()
        if op == "neg":
            return -x
        if op == "clip":
            return torch.clamp(x, min=a.get("min"), max=a.get("max"))
        raise NndError(f"no interpreter rule for {op}")

    for s in stmts:
        if s[0] == "input":
            dims = s[2][1]
            x = env[s[1]]
            if len(dims) != x.dim():
                raise NndError(f"input {s[1]} rank")
            for d, n in zip(dims, x.shape):
                if not isinstance(d, tuple) and d != n:
                    raise NndError(f"input {s[1]}: dim {d} vs {n}")
        elif s[0] == "weights":
            pass
        else:
            name, e = s[1], s[2]
            if e is None:
                outs[name] = env[name]
                continue
            if name in env:
                raise NndError(f"redefinition of {name}")
            state = {"n": 0, "unnamed": 0}
            env[name] = ev(e, name, state)
            if state["n"] > 1 and state["unnamed"] > 1:
                raise NndError(f"{name}: several parametric layers, name all but one")
            if s[0] == "output":
                outs[name] = env[name]
    return outs, ops_used, expected_params


# ---------------------------------------------------------------------------------------------
# Case builder.
class Case:
    def __init__(self, name, base, batch):
        self.name, self.base, self.batch = name, base, batch
        seed = zlib.crc32(name.encode()) & 0x7FFFFFFF
        torch.manual_seed(seed)
        self.rng = np.random.RandomState(seed)
        self.syms = {"N": batch}
        self.inputs = {}   # name -> (decl dims, float32 array)
        self.params = {}   # name -> float32 (or int64) array, in file order
        self.body = []
        self.ref = None    # fn(dict of tensors) -> dict of output tensors

    # inputs -----------------------------------------------------------------------------
    def shape(self, decl):
        return tuple(self.syms[d] if isinstance(d, str) else d for d in decl)

    def input(self, name, decl, data=None, scale=1.0, lo=None, hi=None):
        shape = self.shape(decl)
        if data is None:
            if lo is not None:
                data = self.rng.uniform(lo, hi, size=shape)
            else:
                data = self.rng.standard_normal(size=shape) * scale
        data = np.ascontiguousarray(np.asarray(data, dtype=np.float32).reshape(shape))
        self.inputs[name] = (decl, data)
        return data

    # parameters (created in float32 by PyTorch's default initializers) -------------------
    def _add(self, prefix, mod, names):
        for n in names:
            t = getattr(mod, n)
            if t is not None:
                self.params[f"{prefix}.{n}"] = t.detach().numpy().astype(np.float32).copy()

    def dense(self, prefix, k, units, bias=True):
        self._add(prefix, nn.Linear(k, units, bias=bias), ["weight", "bias"])

    def conv(self, prefix, cin, cout, kernel, groups=1, bias=True):
        self._add(prefix, nn.Conv2d(cin, cout, kernel, groups=groups, bias=bias), ["weight", "bias"])

    def bn(self, prefix, c, nbt=False):
        self.params[f"{prefix}.weight"] = (torch.rand(c) + 0.5).numpy()
        self.params[f"{prefix}.bias"] = (torch.randn(c) * 0.5).numpy()
        self.params[f"{prefix}.running_mean"] = (torch.randn(c) * 0.5).numpy()
        self.params[f"{prefix}.running_var"] = (torch.rand(c) * 1.5 + 0.5).numpy()
        if nbt:
            # PyTorch stores it as a 0-d int64 tensor (shape [])
            self.params[f"{prefix}.num_batches_tracked"] = np.array(1234, dtype=np.int64)

    def ln(self, prefix, d):
        self.params[f"{prefix}.weight"] = (torch.rand(d) + 0.5).numpy()
        self.params[f"{prefix}.bias"] = (torch.randn(d) * 0.5).numpy()

    # text ---------------------------------------------------------------------------------
    def text(self, comment):
        lines = [f"# {self.name}: {comment}", "# generated by tests/ref/gen_refs.py; do not edit",
                 f"model {self.base} {{"]
        for n, (decl, _) in self.inputs.items():
            lines.append(f"  input {n} : f32[{', '.join(str(d) for d in decl)}]")
        if self.params:
            lines.append('  weights "weights.safetensors"')
        lines += ["  " + b for b in self.body]
        lines.append("}")
        return "\n".join(lines) + "\n"


REGISTRY = []  # (base, batches, rtol, atol, comment, fn(Case))


def case(base, fn, comment, batches=(1, 7), rtol=RTOL, atol=ATOL):
    if any(r[0] == base for r in REGISTRY):
        raise SystemExit(f"duplicate case {base}")
    REGISTRY.append((base, batches, rtol, atol, comment, fn))


IMG = (1, 5)


def T(d, dtype):
    return {k: torch.from_numpy(v).to(dtype) if v.dtype != np.int64 else torch.from_numpy(v)
            for k, v in d.items()}


# ---------------------------------------------------------------------------------------------
# param: trained tensors used as values, and the constant sub-graphs built from them (which the
# optimizer folds at compile time)
def _param_broadcast(c):
    c.input("x", ["N", 3, 4])
    c.params["gamma"] = torch.randn(3, 1).numpy()
    c.params["beta"] = torch.randn(4).numpy()
    c.body = ["gamma = param([3, 1])",
              'output y = mul(x, gamma) -> add(param([4], name="beta"))']
    c.ref = lambda t: {"y": t["x"] * t["gamma"] + t["beta"]}


def _param_folded(c):
    c.input("x", ["N", 6])
    c.params["w"] = torch.randn(5, 6).numpy()
    c.params["logscale"] = (torch.randn(5) * 0.5).numpy()
    c.body = ["w = param([5, 6])",
              "wt = transpose(w) -> relu",
              'output y = matmul(x, wt) -> mul(exp(param([5], name="logscale")))']
    c.ref = lambda t: {"y": (t["x"] @ F.relu(t["w"].t())) * torch.exp(t["logscale"])}


def _param_outputs(c):
    c.input("x", ["N", 2, 3])
    c.params["c"] = torch.randn(2, 3).numpy()
    c.params["emb"] = torch.randn(2, 4).numpy()
    c._add("h", nn.Linear(4, 3), ["weight", "bias"])
    c.body = ["output c = param([2, 3]) -> tanh",
              'h = dense(param([2, 4], name="emb"), 3)',
              "output y = add(x, c) -> mul(h)"]
    c.ref = lambda t: {"c": torch.tanh(t["c"]),
                       "y": (t["x"] + torch.tanh(t["c"])) * F.linear(t["emb"], t["h.weight"], t["h.bias"])}


case("param_broadcast", _param_broadcast, "param tensors broadcast into mul and add")
case("param_folded", _param_folded, "a constant sub-graph: transpose -> relu and exp of params",
     rtol=RTOL_ACC, atol=ATOL_ACC)
case("param_outputs", _param_outputs, "a constant output, and a dense layer applied to a param",
     rtol=RTOL_ACC, atol=ATOL_ACC)


# ---------------------------------------------------------------------------------------------
# dense
def _dense(k, units, bias=True, rank3=False, act=None):
    def fn(c):
        c.input("x", ["N", 5, k] if rank3 else ["N", k])
        c.dense("y", k, units, bias)
        arg = "" if bias else ", bias=false"
        c.body = [f"output y = dense(x, {units}{arg})" + (f" -> {act}" if act else "")]

        def ref(t):
            y = F.linear(t["x"], t["y.weight"], t.get("y.bias"))
            return {"y": F.relu(y) if act == "relu" else y}
        c.ref = ref
    return fn


case("dense_13_7", _dense(13, 7), "dense 13 -> 7 with bias", rtol=RTOL_ACC, atol=ATOL_ACC)
case("dense_nobias", _dense(13, 7, bias=False), "dense without bias", rtol=RTOL_ACC, atol=ATOL_ACC)
case("dense_64_33", _dense(64, 33), "dense 64 -> 33", rtol=RTOL_ACC, atol=ATOL_ACC)
case("dense_rank3", _dense(13, 7, rank3=True), "dense on [N, 5, 13]: applies to the last axis",
     rtol=RTOL_ACC, atol=ATOL_ACC)
case("dense_rank3_nobias", _dense(13, 7, bias=False, rank3=True), "rank-3 dense without bias",
     rtol=RTOL_ACC, atol=ATOL_ACC)
case("dense_relu", _dense(13, 7, act="relu"), "dense -> relu", rtol=RTOL_ACC, atol=ATOL_ACC)
case("dense_1_1", _dense(1, 1), "dense 1 -> 1 (degenerate sizes)", rtol=RTOL_ACC, atol=ATOL_ACC)


def _dense_tiles(rows, k, units, act=None):
    def fn(c):
        c.input("x", ["N", rows, k])
        c.dense("y", k, units)
        c.body = [f"output y = dense(x, {units})" + (f" -> {act}" if act else "")]
        c.ref = lambda t: {"y": (lambda y: F.relu(y) if act == "relu" else y)(
            F.linear(t["x"], t["y.weight"], t["y.bias"]))}
    return fn


# Enough rows for the register-tiled blocks (with AVX-512: 6 rows at a time for panels of 4
# vectors, 9 for 3, 12 for 1 or 2; with AVX2 6) and their remainder (blocks of 8, 4 and 2
# rows, then one row), and widths that make full panels, groups of four and a panel cut by
# units.
case("dense_tiles_37_200", _dense_tiles(5, 37, 200, act="relu"),
     "dense 37 -> 200 on [N, 5, 37]: row blocks, a remainder, panels cut by 200",
     rtol=RTOL_ACC, atol=ATOL_ACC)
case("dense_tiles_20_70", _dense_tiles(13, 20, 70), "dense 20 -> 70 on [N, 13, 20]",
     rtol=RTOL_ACC, atol=ATOL_ACC)
case("dense_tiles_9_16", _dense_tiles(3, 9, 16), "dense 9 -> 16 on [N, 3, 9]: one exact vector",
     rtol=RTOL_ACC, atol=ATOL_ACC)
case("dense_tiles_33_130", _dense_tiles(8, 33, 130),
     "dense 33 -> 130 on [N, 8, 33]: AVX-512 6 + 2 rows, two full panels and one of 2 columns",
     rtol=RTOL_ACC, atol=ATOL_ACC)
case("dense_tiles_40_40", _dense_tiles(11, 40, 40, act="relu"),
     "dense 40 -> 40 on [N, 11, 40]: one panel of 2.5 vectors (AVX-512: 9 + 2 rows)",
     rtol=RTOL_ACC, atol=ATOL_ACC)


def _dense_chain(c):
    c.input("x", ["N", 13])
    c.dense("h", 13, 16)
    c.dense("y", 16, 5)
    c.body = ["h = dense(x, 16)", "y = dense(h, 5)", "output y"]
    c.ref = lambda t: {"y": F.linear(F.linear(t["x"], t["h.weight"], t["h.bias"]),
                                     t["y.weight"], t["y.bias"])}


case("dense_chain", _dense_chain, "dense -> dense in two statements, `output NAME` form",
     rtol=RTOL_ACC, atol=ATOL_ACC)


def _dense_chain_named(c):
    c.input("x", ["N", 13])
    c.dense("fc1", 13, 16)
    c.dense("y", 16, 5, bias=False)
    c.body = ['output y = dense(x, 16, name="fc1") -> tanh -> dense(5, bias=false)']
    c.ref = lambda t: {"y": F.linear(torch.tanh(F.linear(t["x"], t["fc1.weight"], t["fc1.bias"])),
                                     t["y.weight"])}


case("dense_chain_named", _dense_chain_named,
     'two dense layers in one statement: the first named with name="fc1", the second takes the target name',
     rtol=RTOL_ACC, atol=ATOL_ACC)


def _nested_call(c):
    c.input("x", ["N", 5])
    c.input("z", ["N", 8])
    c.dense("a", 5, 8)
    c.body = ['output y = add(dense(x, 8, name="a"), z)']
    c.ref = lambda t: {"y": F.linear(t["x"], t["a.weight"], t["a.bias"]) + t["z"]}


case("nested_call", _nested_call, "SPEC 1.5 nested call: add(dense(x, 8, name=\"a\"), z)",
     rtol=RTOL_ACC, atol=ATOL_ACC)


def _multiline(c):
    c.input("x", ["N", 3, 7, 9])
    c.conv("y", 3, 4, (3, 5))
    c.body = ["output y = conv2d(x,", "                  4,", "                  kernel=[3,",
              "                          5],", "                  padding=1)   # a call spanning lines"]
    c.ref = lambda t: {"y": F.conv2d(t["x"], t["y.weight"], t["y.bias"], padding=1)}


case("multiline_call", _multiline, "a call spanning several lines (newlines inside ( ) and [ ])",
     batches=IMG, rtol=RTOL_ACC, atol=ATOL_ACC)


# ---------------------------------------------------------------------------------------------
# activations
WIDE = [-100, -50, -20.5, -20, -15, -10, -7, -6, -5, -3.001, -3, -2.999, -2, -1, -0.5, -0.25,
        -0.001, -1e-6, 0, 1e-6, 0.001, 0.25, 0.5, 1, 2, 2.999, 3, 3.001, 5, 5.999, 6, 6.001, 7,
        10, 15, 19.99, 20, 20.01, 50, 100]
EXP_VALS = [v for v in WIDE if abs(v) <= 50] + [-40, 40, 60, -80]     # exp(88.7) overflows f32
POS_VALS = [1e-30, 1e-10, 1e-6, 1e-3, 0.1, 0.5, 0.999, 1, 1.001, 2, math.e, 10, 100, 1e4, 1e6,
            1e10, 1e20, 1e30]
NONNEG_VALS = [0] + POS_VALS


def act_input(c, kind):
    """Row 0: hand-picked values (kinks, 0, +-100 for exp overflow); other rows random."""
    special = {"wide": WIDE, "exp": EXP_VALS, "pos": POS_VALS, "nonneg": NONNEG_VALS}[kind]
    w = len(special)
    rows = [np.array(special, dtype=np.float64)]
    for _ in range(c.batch - 1):
        if kind in ("wide", "exp"):
            r = c.rng.uniform(-20, 20, size=w)
        else:
            r = 10.0 ** c.rng.uniform(-6, 6, size=w)
        rows.append(r)
    return c.input("x", ["N", w], data=np.stack(rows))


# (base, nnd call, torch f64 reference, input kind)
ACTS = [
    ("relu", "relu(x)", F.relu, "wide"),
    ("relu_chain", "x -> relu", F.relu, "wide"),
    ("sigmoid", "sigmoid(x)", torch.sigmoid, "wide"),
    ("tanh", "tanh(x)", torch.tanh, "wide"),
    ("leaky_relu", "leaky_relu(x)", F.leaky_relu, "wide"),
    ("leaky_relu_a02", "leaky_relu(x, alpha=0.2)", lambda x: F.leaky_relu(x, 0.2), "wide"),
    ("leaky_relu_a02_chain", "x -> leaky_relu(alpha=0.2)", lambda x: F.leaky_relu(x, 0.2), "wide"),
    ("elu", "elu(x)", F.elu, "wide"),
    ("elu_a05", "elu(x, alpha=0.5)", lambda x: F.elu(x, 0.5), "wide"),
    ("selu", "selu(x)", F.selu, "wide"),
    ("gelu", "gelu(x)", F.gelu, "wide"),
    ("gelu_none", 'gelu(x, approximate="none")', lambda x: F.gelu(x, approximate="none"), "wide"),
    ("gelu_tanh", 'gelu(x, approximate="tanh")', lambda x: F.gelu(x, approximate="tanh"), "wide"),
    ("silu", "silu(x)", F.silu, "wide"),
    ("softplus", "softplus(x)", F.softplus, "wide"),
    ("softsign", "softsign(x)", F.softsign, "wide"),
    ("hard_sigmoid", "hard_sigmoid(x)", F.hardsigmoid, "wide"),
    ("relu6", "relu6(x)", F.relu6, "wide"),
    ("identity", "identity(x)", lambda x: x, "wide"),
    ("exp", "exp(x)", torch.exp, "exp"),
    ("log", "log(x)", torch.log, "pos"),
    ("sqrt", "sqrt(x)", torch.sqrt, "nonneg"),
    ("abs", "abs(x)", torch.abs, "wide"),
    ("neg", "neg(x)", torch.neg, "wide"),
    ("clip", "clip(x, min=-1.5, max=2.25)", lambda x: torch.clamp(x, -1.5, 2.25), "wide"),
    ("clip_int", "clip(x, min=0, max=6)", lambda x: torch.clamp(x, 0, 6), "wide"),
    ("clip_min", "clip(x, min=-2)", lambda x: torch.clamp(x, min=-2), "wide"),
    ("clip_max", "clip(x, max=0.5)", lambda x: torch.clamp(x, max=0.5), "wide"),
    ("act_chain", "x -> tanh -> abs -> neg -> exp -> sqrt -> relu6 -> softsign",   # well-conditioned
     lambda x: F.softsign(F.relu6(torch.sqrt(torch.exp(-torch.abs(torch.tanh(x)))))), "wide"),
]


def _act(call, f, kind):
    def fn(c):
        act_input(c, kind)
        c.body = [f"output y = {call}"]
        c.ref = lambda t: {"y": f(t["x"])}
    return fn


for _base, _call, _f, _kind in ACTS:
    case(_base, _act(_call, _f, _kind), f"y = {_call}; inputs span {_kind} values")


# ---------------------------------------------------------------------------------------------
# softmax / log_softmax
def _softmax(op, decl, axis, scale=3.0, big=False, spike=False, ninf=False):
    f = F.softmax if op == "softmax" else F.log_softmax

    def fn(c):
        x = c.input("x", decl, scale=scale)
        if big:  # +-100 range, and a row of equal huge values
            x = c.input("x", decl, data=c.rng.uniform(-100, 100, size=c.shape(decl)))
            x.reshape(-1, x.shape[-1])[0, :] = 1000.0
            c.inputs["x"] = (decl, x)
        if spike:  # +-100, and one 1000 per row, in a vector or among the last elements
            x = c.input("x", decl, data=c.rng.uniform(-100, 100, size=c.shape(decl)))
            rows = x.reshape(-1, x.shape[-1])
            for r in range(rows.shape[0]):
                rows[r, (7 * r + 35) % rows.shape[1]] = 1000.0
            c.inputs["x"] = (decl, x)
        if ninf:  # -inf in every row but never a whole row (masked attention's scores)
            rows = x.reshape(-1, x.shape[-1])
            for r in range(rows.shape[0]):
                rows[r, (3 * r) % rows.shape[1]::3] = -np.inf
                rows[r, (3 * r + 1) % rows.shape[1]] = 0.5
            c.inputs["x"] = (decl, x)
        arg = "" if axis is None else f", axis={axis}"
        c.body = [f"output y = {op}(x{arg})"]
        d = -1 if axis is None else axis
        c.ref = lambda t: {"y": f(t["x"], dim=d)}
    return fn


for _op in ("softmax", "log_softmax"):
    case(f"{_op}", _softmax(_op, ["N", 10], None), f"{_op} default axis (-1)")
    case(f"{_op}_axis1_rank3", _softmax(_op, ["N", 4, 6], 1), f"{_op} axis=1 on [N, 4, 6]")
    case(f"{_op}_axism2_rank3", _softmax(_op, ["N", 4, 6], -2), f"{_op} axis=-2 on [N, 4, 6]")
    case(f"{_op}_axis0", _softmax(_op, ["N", 5], 0), f"{_op} axis=0: across the batch")
    case(f"{_op}_large", _softmax(_op, ["N", 9], None, big=True),
         f"{_op} on values in +-100 and a row of +-1000: needs max subtraction")
    case(f"{_op}_wide", _softmax(_op, ["N", 257], None), f"{_op} over 257 classes (odd, > vector width)")
    case(f"{_op}_spike", _softmax(_op, ["N", 37], None, spike=True),
         f"{_op} over 37 with one 1000 a row, some in the last 5 (the masked last vector)")
    case(f"{_op}_3", _softmax(_op, ["N", 3], None), f"{_op} over 3: one vector, mostly masked")
    case(f"{_op}_64", _softmax(_op, ["N", 64], None),
         f"{_op} over 64: whole vectors, unrolled with AVX-512, a loop with AVX2")
    case(f"{_op}_128", _softmax(_op, ["N", 128], None), f"{_op} over 128: a loop of whole vectors")
case("softmax_ninf", _softmax("softmax", ["N", 21], None, ninf=True),
     "softmax over 21 with a third of every row -inf (their outputs 0)")


# ---------------------------------------------------------------------------------------------
# binary elementwise
BIN = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div}


def _binary(op, adecl, bdecl):
    def fn(c):
        c.input("a", adecl)
        if op == "div":  # divisor kept away from 0: |b| in [0.5, 2]
            shape = c.shape(bdecl)
            c.input("b", bdecl, data=c.rng.choice([-1.0, 1.0], size=shape) * c.rng.uniform(0.5, 2, size=shape))
        else:
            c.input("b", bdecl)
        c.body = [f"output y = {op}(a, b)"]
        c.ref = lambda t: {"y": BIN[op](t["a"], t["b"])}
    return fn


def _binary_num(op, num):
    def fn(c):
        c.input("x", ["N", 4, 5])
        c.body = [f"output y = {op}(x, {num})"]
        c.ref = lambda t: {"y": BIN[op](t["x"], float(num))}
    return fn


BCAST = [
    ("same", ["N", 4, 5], ["N", 4, 5]),
    ("bc_5", ["N", 4, 5], [5]),
    ("bc_4x1", ["N", 4, 5], [4, 1]),
    ("bc_n1x5", ["N", 4, 5], ["N", 1, 5]),
    ("bc_4x5", ["N", 4, 5], [4, 5]),
    ("bc_both", ["N", 1, 5], [4, 1]),        # both operands broadcast: [N, 1, 5] op [4, 1] -> [N, 4, 5]
    ("bc_lhs", [5], ["N", 4, 5]),            # the first operand is the smaller one
    ("bc_scalar1", ["N", 4, 5], [1]),
    ("rank2", ["N", 7], ["N", 7]),
]
for _op in BIN:
    for _tag, _ad, _bd in BCAST:
        case(f"{_op}_{_tag}", _binary(_op, _ad, _bd),
             f"{_op}(a, b) with a {fmt(_ad)}, b {fmt(_bd)} (NumPy broadcasting)")
case("add_num", _binary_num("add", "2.5"), "add(x, 2.5): second operand a number")
case("add_num_neg", _binary_num("add", "-3"), "add(x, -3): a negative integer")
case("sub_num", _binary_num("sub", "1.25"), "sub(x, 1.25)")
case("mul_num", _binary_num("mul", "-3"), "mul(x, -3)")
case("mul_num_exp", _binary_num("mul", "1e-3"), "mul(x, 1e-3): exponent notation")
case("div_num", _binary_num("div", "4"), "div(x, 4): an integer where a float is expected")
case("div_num_frac", _binary_num("div", "0.3"), "div(x, 0.3)")


def _binary_self(c):
    c.input("x", ["N", 6])
    c.body = ["h = mul(x, x)", "output y = sub(h, x) -> div(2)"]
    c.ref = lambda t: {"y": (t["x"] * t["x"] - t["x"]) / 2}


case("binary_same_operand", _binary_self, "mul(x, x): both operands the same node; chained div")


# ---------------------------------------------------------------------------------------------
# data movement
def _simple(decl, call, f, extra_syms=None):
    def fn(c):
        if extra_syms:
            c.syms.update(extra_syms)
        c.input("x", decl)
        c.body = [f"output y = {call}"]
        c.ref = lambda t: {"y": f(t["x"])}
    return fn


R4 = ["N", 2, 3, 5]
case("flatten", _simple(R4, "flatten(x)", lambda x: torch.flatten(x, 1)), "flatten [N, 2, 3, 5] -> [N, 30]")
case("flatten_axis2", _simple(R4, "flatten(x, axis=2)", lambda x: torch.flatten(x, 2)),
     "flatten axis=2 -> [N, 2, 15]")
case("flatten_axis3", _simple(R4, "flatten(x, axis=3)", lambda x: torch.flatten(x, 3)),
     "flatten axis=3 (last axis): shape unchanged")
case("flatten_axis0", _simple(R4, "flatten(x, axis=0)", lambda x: torch.flatten(x, 0)),
     "flatten axis=0 -> [N*30] (torch.flatten(x, 0))")
case("flatten_rank2", _simple(["N", 6], "flatten(x)", lambda x: torch.flatten(x, 1)),
     "flatten of a rank-2 input: unchanged")
case("reshape_m1", _simple(["N", 3, 4], "reshape(x, [-1, 12])", lambda x: x.reshape(-1, 12)),
     "reshape [N, 3, 4] -> [-1, 12]")
case("reshape_m1_rank4", _simple(["N", 3, 4], "reshape(x, [-1, 2, 3, 2])", lambda x: x.reshape(-1, 2, 3, 2)),
     "reshape [N, 3, 4] -> [-1, 2, 3, 2]")
case("reshape_m1_flat", _simple(["N", 3, 4], "reshape(x, [-1])", lambda x: x.reshape(-1)),
     "reshape to 1-D [-1]")
case("reshape_explicit", _simple([2, "N", 6], "reshape(x, [4, -1, 3])", lambda x: x.reshape(4, -1, 3)),
     "reshape with explicit leading dims; the batch is not the first axis")
case("reshape_fixed", _simple([3, 8], "reshape(x, [2, 4, 3])", lambda x: x.reshape(2, 4, 3)),
     "reshape with all dims explicit (a fixed-shape input, no batch dimension)", batches=(None,))
case("dropout", _simple(["N", 3, 4], "dropout(x)", lambda x: F.dropout(x, 0.5, training=False)),
     "dropout p=0.5 (default) is the identity at inference")
case("dropout_p01", _simple(["N", 3, 4], "dropout(x, p=0.1)", lambda x: F.dropout(x, 0.1, training=False)),
     "dropout p=0.1")
case("transpose_021", _simple(["N", 3, 4], "transpose(x, perm=[0, 2, 1])", lambda x: x.permute(0, 2, 1)),
     "transpose perm=[0, 2, 1]")
case("transpose_0312", _simple(R4, "transpose(x, perm=[0, 3, 1, 2])", lambda x: x.permute(0, 3, 1, 2)),
     "transpose NCHW -> NWCH style perm=[0, 3, 1, 2]")
case("transpose_batch", _simple(["N", 3, 4], "transpose(x, perm=[1, 0, 2])", lambda x: x.permute(1, 0, 2)),
     "transpose moving the batch axis")
case("transpose_noperm", _simple(["N", 3, 4], "transpose(x)", lambda x: x.permute(2, 1, 0)),
     "transpose without perm reverses the dimensions")
case("transpose_noperm_rank2", _simple(["N", 5], "transpose(x)", lambda x: x.t()),
     "transpose without perm on a matrix")
case("transpose_noperm_rank4", _simple(R4, "transpose(x)", lambda x: x.permute(3, 2, 1, 0)),
     "transpose without perm on rank 4")


# ---------------------------------------------------------------------------------------------
# conv2d: x [N, C, 7, 13] (odd sizes), batch 1 and 5
def same_pad(x, k, d=(1, 1)):
    """PyTorch padding='same': total d*(k-1), the extra row/column at the end (bottom/right)."""
    th, tw = d[0] * (k[0] - 1), d[1] * (k[1] - 1)
    return F.pad(x, (tw // 2, tw - tw // 2, th // 2, th - th // 2))


def _conv(cin, cout, k, args="", stride=1, padding=0, dilation=1, groups=1, bias=True, hw=(7, 13)):
    kk = pair(k)

    def fn(c):
        c.input("x", ["N", cin, hw[0], hw[1]])
        c.conv("y", cin, cout, kk, groups=groups, bias=bias)
        kt = f"[{kk[0]}, {kk[1]}]" if isinstance(k, (list, tuple)) else str(k)
        c.body = [f"output y = conv2d(x, {cout}, {kt}{args})"]

        def ref(t):
            x, w, b = t["x"], t["y.weight"], t.get("y.bias")
            if padding == "same":
                y = F.conv2d(x, w, b, stride, "same", dilation, groups)
                # 1.13's padding='same' must agree with explicit end-heavy padding
                y2 = F.conv2d(same_pad(x, kk, pair(dilation)), w, b, stride, 0, dilation, groups)
                assert torch.equal(y, y2)
                return {"y": y}
            return {"y": F.conv2d(x, w, b, stride, padding, dilation, groups)}
        c.ref = ref
    return fn


CONVS = [
    ("k3", (3, 4, 3), {}),
    ("k35", (3, 4, [3, 5]), {}),
    ("k1", (3, 5, 1), {}),
    ("k5_c1", (1, 6, 5), {}),
    ("s2", (3, 4, 3), dict(args=", stride=2", stride=2)),
    ("s21", (3, 4, 3), dict(args=", stride=[2, 1]", stride=(2, 1))),
    ("p1", (3, 4, 3), dict(args=", padding=1", padding=1)),
    ("p12", (3, 4, [3, 5]), dict(args=", padding=[1, 2]", padding=(1, 2))),
    ("s2_p1", (3, 4, 3), dict(args=", stride=2, padding=1", stride=2, padding=1)),
    ("same_k3", (3, 4, 3), dict(args=', padding="same"', padding="same")),
    ("same_k35", (3, 4, [3, 5]), dict(args=', padding="same"', padding="same")),
    ("same_k4", (3, 4, 4), dict(args=', padding="same"', padding="same")),
    ("same_k24", (3, 4, [2, 4]), dict(args=', padding="same"', padding="same")),
    ("same_k2_d2", (3, 4, 2), dict(args=', padding="same", dilation=2', padding="same", dilation=2)),
    ("same_k3_d2", (3, 4, 3), dict(args=', padding="same", dilation=2', padding="same", dilation=2)),
    ("d2", (3, 4, 3), dict(args=", dilation=2", dilation=2)),
    ("d21_p1", (3, 4, 3), dict(args=", padding=1, dilation=[2, 1]", padding=1, dilation=(2, 1))),
    ("g2", (4, 6, 3), dict(args=", groups=2", groups=2)),
    ("g2_p1_s2", (4, 6, 3), dict(args=", stride=2, padding=1, groups=2", stride=2, padding=1, groups=2)),
    ("depthwise", (4, 4, 3), dict(args=", padding=1, groups=4", padding=1, groups=4)),
    ("depthwise_x2", (4, 8, 3), dict(args=", padding=1, groups=4", padding=1, groups=4)),
    ("nobias", (3, 4, 3), dict(args=", bias=false", bias=False)),
    ("mixed", (3, 5, [3, 5]), dict(args=", stride=2, padding=[1, 2], dilation=2", stride=2, padding=(1, 2),
                                   dilation=2)),
    ("c16_k3_p1", (16, 24, 3), dict(args=", padding=1", padding=1, hw=(6, 5))),
    # A channel loop iteration holds at most 16 taps: 1x1 over 20 channels takes 10 a turn,
    # 3x3 over 5 (prime) one.
    ("k1_c20", (20, 12, 1), {}),
    ("c5_k3_s2_p1", (5, 7, 3), dict(args=", stride=2, padding=1", stride=2, padding=1)),
    # Kernels of more than 16 taps loop over their columns, with each column's border lanes
    # picked from a table at run time (lower_conv2d.c, roll_kw).
    ("k5_p2", (3, 4, 5), dict(args=", padding=2", padding=2)),
    ("k7_s2_p3", (3, 8, 7), dict(args=", stride=2, padding=3", stride=2, padding=3)),
    ("k5_same_d2", (2, 4, 5), dict(args=', padding="same", dilation=2', padding="same", dilation=2)),
    ("k45_g2_p12", (4, 6, [4, 5]), dict(args=", padding=[1, 2], groups=2", padding=(1, 2), groups=2)),
    ("k5_p2_s4_w1", (3, 4, 5), dict(args=", stride=4, padding=2", stride=4, padding=2, hw=(9, 3))),
    # Stride 1 with rows as long in as out and 4 or more filters per block runs the plane as
    # one flat row when that takes fewer vectors (lower_conv2d.c, plan_flat): vectors cross rows, the column masks repeat
    # every lcm(W, 16) outputs (28: 4 rows), the rows at the top and bottom borders and the
    # last vector (overlapping its predecessor) have their own.
    ("flat_p1_28", (3, 8, 3), dict(args=", padding=1", padding=1, hw=(28, 28))),
    ("flat_p1_9x56", (2, 8, 3), dict(args=", padding=1", padding=1, hw=(9, 56))),
    ("flat_p1_7", (16, 24, 3), dict(args=", padding=1", padding=1, hw=(7, 7))),
    ("flat_g2_14", (8, 8, 3), dict(args=", padding=1, groups=2", padding=1, groups=2, hw=(14, 14))),
    ("flat_same_d2_12", (4, 8, 3), dict(args=', padding="same", dilation=2', padding="same",
                                        dilation=2, hw=(12, 12))),
    ("flat_k13_20", (3, 4, [1, 3]), dict(args=", padding=[0, 1]", padding=(0, 1), hw=(20, 20))),
    ("flat_same_k4_10", (3, 8, 4), dict(args=', padding="same"', padding="same", hw=(10, 10))),
    # ... and with the kernel columns a loop, each row's and kernel row's masks picked by it
    ("flat_k5_p2_28", (1, 6, 5), dict(args=", padding=2", padding=2, hw=(28, 28))),
    ("flat_k5_g2_7", (4, 8, 5), dict(args=", padding=2, groups=2", padding=2, groups=2, hw=(7, 7))),
    # (depthwise layers stay row by row: too few filters per block to pay for flat loads)
    ("dw_k5_p2_7", (4, 4, 5), dict(args=", padding=2, groups=4", padding=2, groups=4, hw=(7, 7))),
    ("flat_k7_p3_14", (2, 4, 7), dict(args=", padding=3", padding=3, hw=(14, 14))),
    ("flat_k5_same_d2_12", (2, 4, 5), dict(args=', padding="same", dilation=2', padding="same",
                                           dilation=2, hw=(12, 12))),
]
for _tag, (_cin, _cout, _k), _kw in CONVS:
    case(f"conv2d_{_tag}", _conv(_cin, _cout, _k, **_kw),
         f"conv2d {_cin}->{_cout} kernel {_k} {_kw.get('args', '').lstrip(', ')}".rstrip(),
         batches=IMG, rtol=RTOL_ACC, atol=ATOL_ACC)


def _conv_named(c):
    c.input("x", ["N", 3, 7, 13])
    c.conv("y", 3, 4, (3, 3))
    c.body = ["output y = conv2d(x=x, filters=4, kernel=3, stride=1, padding=0, dilation=1, groups=1, bias=true)"]
    c.ref = lambda t: {"y": F.conv2d(t["x"], t["y.weight"], t["y.bias"])}


case("conv2d_named_args", _conv_named, "conv2d with every argument passed by name",
     batches=IMG, rtol=RTOL_ACC, atol=ATOL_ACC)


# ---------------------------------------------------------------------------------------------
# pooling: x [N, 3, 7, 9] and [N, 2, 5, 7] (sizes that make ceil_mode drop a window)
def _pool(op, call, hw, **kw):
    def fn(c):
        c.input("x", ["N", 3 if hw == (7, 9) else 2, hw[0], hw[1]])
        c.body = [f"output y = {call}"]
        if op == "maxpool2d":
            c.ref = lambda t: {"y": F.max_pool2d(t["x"], **kw)}
        else:
            c.ref = lambda t: {"y": F.avg_pool2d(t["x"], **kw)}
    return fn


POOLS = [
    ("k2", "{op}(x, 2)", (7, 9), dict(kernel_size=2)),
    ("k3", "{op}(x, 3)", (7, 9), dict(kernel_size=3)),
    ("k3_s2", "{op}(x, 3, stride=2)", (7, 9), dict(kernel_size=3, stride=2)),
    ("k2_s1", "{op}(x, 2, stride=1)", (7, 9), dict(kernel_size=2, stride=1)),
    ("k3_s2_p1", "{op}(x, 3, stride=2, padding=1)", (7, 9), dict(kernel_size=3, stride=2, padding=1)),
    ("k2_p1", "{op}(x, 2, padding=1)", (7, 9), dict(kernel_size=2, padding=1)),
    ("k23_s12", "{op}(x, [2, 3], stride=[1, 2])", (7, 9), dict(kernel_size=(2, 3), stride=(1, 2))),
    ("k3_p01", "{op}(x, 3, stride=1, padding=[0, 1])", (7, 9), dict(kernel_size=3, stride=1, padding=(0, 1))),
    ("k2_ceil", "{op}(x, 2, ceil_mode=true)", (7, 9), dict(kernel_size=2, ceil_mode=True)),
    ("k3_s2_ceil", "{op}(x, 3, stride=2, ceil_mode=true)", (7, 9),
     dict(kernel_size=3, stride=2, ceil_mode=True)),
    ("k3_s2_p1_ceil", "{op}(x, 3, stride=2, padding=1, ceil_mode=true)", (7, 9),
     dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    # 5x7, k2 s2 p1 ceil: the last ceil window would start in the right padding and is dropped
    ("k2_p1_ceil_drop", "{op}(x, 2, padding=1, ceil_mode=true)", (5, 7),
     dict(kernel_size=2, padding=1, ceil_mode=True)),
    # 6x8, k3 s2 p1 ceil: the last window covers one input row, one padding row and one row past
    # the padding; PyTorch's avgpool divides by 2 rows (count_include_pad) or 1 (without), not 3
    ("k3_s2_p1_ceil_partial", "{op}(x, 3, stride=2, padding=1, ceil_mode=true)", (6, 8),
     dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
]
for _op in ("maxpool2d", "avgpool2d"):
    for _tag, _call, _hw, _kw in POOLS:
        rt, at = (RTOL, ATOL) if _op == "maxpool2d" else (RTOL_ACC, ATOL)
        case(f"{_op}_{_tag}", _pool(_op, _call.format(op=_op), _hw, **_kw),
             f"{_call.format(op=_op)} on {list(_hw)}", batches=IMG, rtol=rt, atol=at)
for _tag, _call, _hw, _kw in POOLS:
    if "padding" not in _call:
        continue
    call = _call.format(op="avgpool2d")[:-1] + ", count_include_pad=false)"
    case(f"avgpool2d_{_tag}_nopad", _pool("avgpool2d", call, _hw, count_include_pad=False, **_kw),
         f"{call} on {list(_hw)}: padding excluded from the divisor", batches=IMG, rtol=RTOL_ACC, atol=ATOL)


def _gap(c):
    c.input("x", ["N", 3, 7, 9])
    c.body = ["output y = global_avgpool(x)"]
    c.ref = lambda t: {"y": F.adaptive_avg_pool2d(t["x"], 1)}


case("global_avgpool", _gap, "global_avgpool [N, 3, 7, 9] -> [N, 3, 1, 1]", batches=IMG,
     rtol=RTOL_ACC, atol=ATOL)


def _gap_flat(c):
    c.input("x", ["N", 6, 5, 5])
    c.body = ["output y = global_avgpool(x) -> flatten"]
    c.ref = lambda t: {"y": F.adaptive_avg_pool2d(t["x"], 1).flatten(1)}


case("global_avgpool_flatten", _gap_flat, "global_avgpool -> flatten", batches=IMG, rtol=RTOL_ACC, atol=ATOL)


# ---------------------------------------------------------------------------------------------
# batchnorm / layernorm
def _bn(decl, eps=None, nbt=False):
    def fn(c):
        c.input("x", decl)
        c.bn("y", decl[1], nbt=nbt)
        arg = "" if eps is None else f", eps={eps}"
        c.body = [f"output y = batchnorm(x{arg})"]
        e = 1e-5 if eps is None else float(eps)
        c.ref = lambda t: {"y": F.batch_norm(t["x"], t["y.running_mean"], t["y.running_var"],
                                             t["y.weight"], t["y.bias"], False, 0.0, e)}
    return fn


case("batchnorm", _bn(["N", 4, 5, 6]), "batchnorm on [N, 4, 5, 6], eps default 1e-5", batches=IMG)
case("batchnorm_eps", _bn(["N", 4, 5, 6], eps="1e-3"), "batchnorm eps=1e-3", batches=IMG)
case("batchnorm_rank2", _bn(["N", 6]), "batchnorm on [N, 6] (BatchNorm1d): channel axis 1")
case("batchnorm_rank3", _bn(["N", 4, 7]), "batchnorm on [N, 4, 7] (BatchNorm1d): channel axis 1")
case("batchnorm_nbt", _bn(["N", 3, 5, 5], nbt=True),
     "weights include y.num_batches_tracked (I64): accepted and ignored", batches=IMG)


def _ln(decl, eps=None, offset=0.0):
    def fn(c):
        c.input("x", decl)
        if offset:
            c.input("x", decl, data=c.inputs["x"][1] + offset)
        c.ln("y", decl[-1])
        arg = "" if eps is None else f", eps={eps}"
        c.body = [f"output y = layernorm(x{arg})"]
        e = 1e-5 if eps is None else float(eps)
        c.ref = lambda t: {"y": F.layer_norm(t["x"], (decl[-1],), t["y.weight"], t["y.bias"], e)}
    return fn


case("layernorm", _ln(["N", 10]), "layernorm over the last axis of [N, 10]", rtol=RTOL_ACC, atol=ATOL_ACC)
case("layernorm_eps", _ln(["N", 3, 7], eps="1e-3"), "layernorm on [N, 3, 7], eps=1e-3",
     rtol=RTOL_ACC, atol=ATOL_ACC)
# Inputs with mean 20 and std 1: E[x^2] - E[x]^2 in float32 loses everything; a two-pass or
# Welford variance is fine, but the float32 mean of 64 values near 20 still carries ~1e-6
# absolute error, which becomes ~1e-6 relative error in x - mean: rtol/atol 1e-4 is ample.
case("layernorm_offset", _ln(["N", 64], offset=20.0),
     "layernorm on inputs with mean 20, std 1: catches one-pass variance", rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------------------------------------
# matmul (NumPy semantics; both operands are inputs)
def _matmul(adecl, bdecl, extra_syms=None):
    def fn(c):
        if extra_syms:
            c.syms.update(extra_syms)
        c.input("a", adecl)
        c.input("b", bdecl)
        c.body = ["output y = matmul(a, b)"]
        c.ref = lambda t: {"y": torch.matmul(t["a"], t["b"])}
    return fn


MATMULS = [
    ("2d", ["N", 6], [6, 5]),
    ("2d_k1", ["N", 1], [1, 4]),
    ("3d", ["N", 3, 4], ["N", 4, 5]),
    ("bc_4d_2d", ["N", 3, 4, 5], [5, 6]),
    ("bc_2d_3d", [3, 4], ["N", 4, 5]),
    ("bc_batch", ["N", 1, 3, 4], [2, 4, 5]),
    ("1d_rhs", ["N", 4], [4]),          # [N, 4] @ [4] -> [N]
    ("1d_lhs", [4], ["N", 4, 3]),       # [4] @ [N, 4, 3] -> [N, 3]
    ("1d_1d", ["N"], ["N"]),            # dot product -> shape []
    ("nt", ["N", 5], [5, "N"]),         # [N, 5] @ [5, N] -> [N, N]
    ("large_k", ["N", 67], [67, 9]),
    # constant K and P: the register-tiled kernel over b as it lies (cg_gemm), with masked
    # loads for the columns past the last full panel
    ("tiled_bc", ["N", 3, 37, 30], [30, 50]),
    ("tiled_3d", ["N", 13, 40], ["N", 40, 140]),
    ("tiled_p17", ["N", 5, 9], [9, 17]),
]
for _tag, _ad, _bd in MATMULS:
    case(f"matmul_{_tag}", _matmul(_ad, _bd), f"matmul(a, b) with a {fmt(_ad)}, b {fmt(_bd)}",
         rtol=RTOL_ACC, atol=ATOL_ACC)

# A symbolic K or P (a second symbol S): register tiles of 6 rows x 2 vectors of columns over
# runtime sizes (lower_matmul.c, rows_tiled), the last rows one at a time, the columns past
# the last whole chunk with run-time lane masks. S is not a multiple of any vector width.
MATMULS_SYM = [
    ("sym_p", ["N", 13, 9], [9, "S"], 57),
    ("sym_k", ["N", 8, "S"], ["N", "S", 40], 23),
    ("sym_attn", ["N", "S", 16], ["N", 16, "S"], 35),
    ("sym_p64", ["N", 7, 5], [5, "S"], 64),
]
for _tag, _ad, _bd, _s in MATMULS_SYM:
    case(f"matmul_{_tag}", _matmul(_ad, _bd, {"S": _s}),
         f"matmul(a, b) with a {fmt(_ad)}, b {fmt(_bd)}, S = {_s}", rtol=RTOL_ACC, atol=ATOL_ACC)


def _matmul_sym_epi(c):
    c.syms["S"] = 45
    c.input("a", ["N", 6, 11])
    c.input("b", ["N", 11, "S"])
    c.input("c", ["N", 6, "S"])
    c.body = ["output y = matmul(a, b) -> add(c) -> relu"]
    c.ref = lambda t: {"y": F.relu(torch.matmul(t["a"], t["b"]) + t["c"])}


case("matmul_sym_epilogue", _matmul_sym_epi,
     "matmul over a symbolic P (S = 45) with add and relu fused, the cut chunk's included",
     rtol=RTOL_ACC, atol=ATOL_ACC)


# ---------------------------------------------------------------------------------------------
# concat
def _concat(decls, axis, extra_syms=None):
    names = "abcdef"[:len(decls)]

    def fn(c):
        if extra_syms:
            c.syms.update(extra_syms)
        for n, d in zip(names, decls):
            c.input(n, d)
        arg = "" if axis is None else f", axis={axis}"
        c.body = [f"output y = concat({', '.join(names)}{arg})"]
        c.ref = lambda t: {"y": torch.cat([t[n] for n in names], dim=1 if axis is None else axis)}
    return fn


case("concat_axis1", _concat([["N", 3, 4], ["N", 2, 4]], None), "concat of 2 tensors, axis=1 (default)")
case("concat_axis1_3", _concat([["N", 3, 4], ["N", 1, 4], ["N", 5, 4]], 1), "concat of 3 tensors, axis=1")
case("concat_axism1", _concat([["N", 3, 4], ["N", 3, 2]], -1), "concat axis=-1")
case("concat_axis2", _concat([["N", 3, 4], ["N", 3, 7], ["N", 3, 1]], 2), "concat axis=2 of 3 tensors")
case("concat_axis0", _concat([["N", 3], ["N", 3]], 0), "concat axis=0: [N, 3] ++ [N, 3] -> [2N, 3]")
case("concat_axis0_m", _concat([["N", 3], ["M", 3]], 0, {"M": 2}),
     "concat axis=0 of two symbolic sizes N and M (M = 2)")
case("concat_one", _concat([["N", 3, 4]], 1), "concat of a single tensor")


def _concat_nodes(c):
    c.input("x", ["N", 4])
    c.body = ["output y = concat(relu(x), x, neg(x), axis=1)"]
    c.ref = lambda t: {"y": torch.cat([F.relu(t["x"]), t["x"], -t["x"]], 1)}


case("concat_nodes", _concat_nodes, "concat of nested calls and the input itself")


# ---------------------------------------------------------------------------------------------
# whole models
def _lenet(c):
    c.input("x", ["N", 1, 28, 28])
    c.conv("c1", 1, 6, 5)
    c.conv("c2", 6, 16, 5)
    c.dense("f3", 400, 120)
    c.dense("f4", 120, 84)
    c.dense("logits", 84, 10)
    c.body = [
        "c1 = conv2d(x, 6, kernel=5, padding=2) -> relu -> maxpool2d(2)",
        "c2 = conv2d(c1, 16, kernel=5) -> relu -> maxpool2d(2)",
        "f3 = flatten(c2) -> dense(120) -> relu      # parameters f3.weight [120, 400], f3.bias [120]",
        "f4 = dense(f3, 84) -> relu",
        "output logits = dense(f4, 10)",
    ]

    def ref(t):
        h = F.max_pool2d(F.relu(F.conv2d(t["x"], t["c1.weight"], t["c1.bias"], padding=2)), 2)
        h = F.max_pool2d(F.relu(F.conv2d(h, t["c2.weight"], t["c2.bias"])), 2)
        h = F.relu(F.linear(h.flatten(1), t["f3.weight"], t["f3.bias"]))
        h = F.relu(F.linear(h, t["f4.weight"], t["f4.bias"]))
        return {"logits": F.linear(h, t["logits.weight"], t["logits.bias"])}
    c.ref = ref


case("lenet5", _lenet, "the SPEC's LeNet-5", batches=IMG, rtol=RTOL_MODEL, atol=ATOL_MODEL)


def _cifar(c):
    c.input("x", ["N", 3, 32, 32])
    c.conv("c1", 3, 8, 3)
    c.conv("c2", 8, 16, 3)
    c.dense("logits", 16 * 8 * 8, 10)
    c.body = [
        "c1 = conv2d(x, 8, kernel=3, padding=1) -> relu -> maxpool2d(2)",
        "c2 = conv2d(c1, 16, kernel=3, padding=1) -> relu -> maxpool2d(2)",
        "output logits = flatten(c2) -> dense(10)",
    ]

    def ref(t):
        h = F.max_pool2d(F.relu(F.conv2d(t["x"], t["c1.weight"], t["c1.bias"], padding=1)), 2)
        h = F.max_pool2d(F.relu(F.conv2d(h, t["c2.weight"], t["c2.bias"], padding=1)), 2)
        return {"logits": F.linear(h.flatten(1), t["logits.weight"], t["logits.bias"])}
    c.ref = ref


case("cifar_cnn", _cifar, "small CIFAR-style CNN on 3x32x32", batches=IMG, rtol=RTOL_MODEL, atol=ATOL_MODEL)


def _resblock(c):
    c.input("x", ["N", 8, 9, 9])
    c.conv("conv1", 8, 8, 3, bias=False)
    c.bn("bn1", 8)
    c.conv("conv2", 8, 8, 3, bias=False)
    c.bn("r", 8)
    c.body = [
        'h = conv2d(x, 8, kernel=3, padding=1, bias=false, name="conv1") -> batchnorm(name="bn1") -> relu',
        'r = conv2d(h, 8, kernel=3, padding=1, bias=false, name="conv2") -> batchnorm',
        "output y = add(r, x) -> relu",
    ]

    def ref(t):
        def bn(h, p):
            return F.batch_norm(h, t[p + ".running_mean"], t[p + ".running_var"], t[p + ".weight"],
                                t[p + ".bias"], False, 0.0, 1e-5)
        h = F.relu(bn(F.conv2d(t["x"], t["conv1.weight"], padding=1), "bn1"))
        r = bn(F.conv2d(h, t["conv2.weight"], padding=1), "r")
        return {"y": F.relu(r + t["x"])}
    c.ref = ref


case("resnet_block", _resblock,
     "ResNet basic block: conv-bn-relu-conv-bn + identity, relu; 8 channels, 9x9", batches=IMG,
     rtol=RTOL_MODEL, atol=ATOL_MODEL)


def _resblock_flat(c):
    c.input("x", ["N", 8, 28, 28])
    c.conv("a", 8, 8, 3)
    c.conv("b", 8, 8, 3)
    c.body = [
        "a = conv2d(x, 8, kernel=3, padding=1) -> relu",
        "b = conv2d(a, 8, kernel=3, padding=1)",
        "output y = add(b, x) -> relu",
    ]

    def ref(t):
        a = F.relu(F.conv2d(t["x"], t["a.weight"], t["a.bias"], padding=1))
        return {"y": F.relu(F.conv2d(a, t["b.weight"], t["b.bias"], padding=1) + t["x"])}
    c.ref = ref


case("resblock_28", _resblock_flat,
     "residual block at 28x28 (flat planes, the add and relu fused into the second conv)",
     batches=IMG, rtol=RTOL_MODEL, atol=ATOL_MODEL)


def _two_io(c):
    c.input("a", ["N", 6])
    c.input("b", ["N", 4])
    c.dense("fa", 6, 8)
    c.dense("fb", 4, 8)
    c.dense("y", 16, 3)
    c.body = [
        "fa = dense(a, 8) -> relu",
        "fb = dense(b, 8) -> tanh",
        "output h = concat(fa, fb, axis=1)     # an output that is also used below",
        "output y = dense(h, 3) -> softmax",
    ]

    def ref(t):
        h = torch.cat([F.relu(F.linear(t["a"], t["fa.weight"], t["fa.bias"])),
                       torch.tanh(F.linear(t["b"], t["fb.weight"], t["fb.bias"]))], 1)
        return {"h": h, "y": F.softmax(F.linear(h, t["y.weight"], t["y.bias"]), -1)}
    c.ref = ref


case("two_in_two_out", _two_io, "two inputs and two outputs (the first output feeds the second)",
     rtol=RTOL_MODEL, atol=ATOL_MODEL)


def _mlp_ln(c):
    c.input("x", ["N", 5, 12])
    c.dense("h", 12, 24)
    c.ln("n", 24)
    c.dense("y", 24, 12)
    c.body = [
        'h = dense(x, 24) -> gelu(approximate="tanh")',
        "n = layernorm(h, eps=1e-6) -> dropout(p=0.1)",
        "output y = dense(n, 12) -> add(x) -> log_softmax(axis=1)",
    ]

    def ref(t):
        h = F.gelu(F.linear(t["x"], t["h.weight"], t["h.bias"]), approximate="tanh")
        n = F.layer_norm(h, (24,), t["n.weight"], t["n.bias"], 1e-6)
        return {"y": F.log_softmax(F.linear(n, t["y.weight"], t["y.bias"]) + t["x"], dim=1)}
    c.ref = ref


case("transformer_mlp", _mlp_ln, "rank-3 dense, gelu, layernorm, residual add, log_softmax(axis=1)",
     rtol=RTOL_MODEL, atol=ATOL_MODEL)


# ---------------------------------------------------------------------------------------------
def check_close(got, ref, rtol, atol):
    """Largest |got - ref| / (atol + rtol |ref|): <= 1 passes."""
    got, ref = got.astype(np.float64), ref.astype(np.float64)
    if got.shape != ref.shape:
        return float("inf")
    if got.size == 0:
        return 0.0
    return float(np.max(np.abs(got - ref) / (atol + rtol * np.abs(ref))))


def run_case(base, batch, rtol, atol, comment, fn):
    name = base if batch is None else f"{base}_b{batch}"
    c = Case(name, base, batch)
    fn(c)
    text = c.text(comment)

    t64 = T({k: v for k, (_, v) in c.inputs.items()}, torch.float64)
    p64 = T(c.params, torch.float64)
    with torch.no_grad():
        outs = {k: v.detach().numpy().astype(np.float64) for k, v in c.ref({**t64, **p64}).items()}
        outs32 = {k: v.detach().numpy() for k, v in
                  c.ref({**T({k: v for k, (_, v) in c.inputs.items()}, torch.float32),
                         **T(c.params, torch.float32)}).items()}
        try:
            iouts, ops, expected = interpret(text, t64, p64)
        except NndError as e:
            raise SystemExit(f"{name}: model.nnd: {e}\n{text}")
    given = {k for k in c.params if not k.endswith(".num_batches_tracked")}
    if expected != given:
        raise SystemExit(f"{name}: parameters {sorted(given)} but the model uses {sorted(expected)}")
    if list(iouts) != list(outs):
        raise SystemExit(f"{name}: outputs {list(iouts)} vs reference {list(outs)}")
    for k in outs:
        i = iouts[k].numpy()
        # 1e-9: torch's float64 softplus returns x itself above 20 (off by < 2e-9)
        if i.shape != outs[k].shape or not np.allclose(i, outs[k], rtol=1e-9, atol=1e-12):
            raise SystemExit(f"{name}: interpreter and reference disagree on {k}: "
                             f"{i.shape} vs {outs[k].shape}, max diff {np.max(np.abs(i - outs[k]))}")
        if not np.all(np.isfinite(outs[k])):
            raise SystemExit(f"{name}: non-finite reference for {k}")
    worst = max(check_close(outs32[k], outs[k], rtol, atol) for k in outs)
    if worst > 0.25:
        raise SystemExit(f"{name}: float32 PyTorch uses {worst:.3f} of the tolerance (want <= 0.25)")

    d = os.path.join(OUT, name)
    os.makedirs(d)
    with open(os.path.join(d, "model.nnd"), "w") as f:
        f.write(text)
    if c.params:
        write_safetensors(os.path.join(d, "weights.safetensors"), c.params)
    for k, (_, v) in c.inputs.items():
        save_npy(os.path.join(d, f"in_{k}.npy"), v)
    for k, v in outs.items():
        save_npy(os.path.join(d, f"out_{k}.npy"), v, np.float64)  # a 0-d output stays 0-d
    return f"{name} {rtol:g} {atol:g} {','.join(sorted(ops))}", worst, ops


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    lines, covered, worst_all = [], set(), []
    for base, batches, rtol, atol, comment, fn in REGISTRY:
        for b in batches:
            line, worst, ops = run_case(base, b, rtol, atol, comment, fn)
            lines.append(line)
            covered.update(ops)
            worst_all.append((worst, line.split()[0]))
    missing = set(SCHEMA) - covered
    if missing:
        raise SystemExit(f"operators without a case: {sorted(missing)}")
    with open(os.path.join(OUT, "MANIFEST"), "w") as f:
        f.write("\n".join(lines) + "\n")
    size = sum(os.path.getsize(os.path.join(r, n)) for r, _, ns in os.walk(OUT) for n in ns)
    print(f"{len(lines)} cases, {len(covered)} operators, {size / 1e6:.2f} MB in {OUT}")
    print("float32 PyTorch's largest use of a case's tolerance:",
          ", ".join(f"{n} {w:.3f}" for w, n in sorted(worst_all, reverse=True)[:6]))


if __name__ == "__main__":
    sys.exit(main())
