#!/usr/bin/env python3
"""make_seeds.py: the generated part of the fuzz seed corpora (Python standard library only).

Writes fuzz/corpus/safetensors/gen_*.safetensors (valid and subtly broken weights for
fuzz_safetensors' fixed model), fuzz/corpus/npy/gen_*.npy (every header form npy.c reads)
and fuzz/corpus/onnx/gen_*.onnx (small models whose weights are initializers, which the
ONNX test data's node tests lack, including PyTorch's Shape/Gather/Unsqueeze/Concat
flatten). The output is deterministic; the files are committed, so fuzzing needs no Python.
Run from anywhere: python3 fuzz/make_seeds.py
"""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def out(kind, name, data):
    d = os.path.join(HERE, "corpus", kind)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "gen_" + name), "wb") as f:
        f.write(data)


# --- safetensors ---------------------------------------------------------------------------

# fuzz_safetensors.c's model: conv2d c (1 -> 2 channels, 3x3), batchnorm bn, dense fc
# (32 -> 3), layernorm y.
PARAMS = [("c.weight", [2, 1, 3, 3]), ("c.bias", [2]), ("bn.weight", [2]), ("bn.bias", [2]),
          ("bn.running_mean", [2]), ("bn.running_var", [2]), ("fc.weight", [3, 32]),
          ("fc.bias", [3]), ("y.weight", [3]), ("y.bias", [3])]

SIZES = {"F32": 4, "F64": 8, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "U8": 1, "BOOL": 1}


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def values(dtype, n, seed):
    vals = [((i * 37 + seed * 11) % 17 - 8) / 8.0 for i in range(n)]
    if dtype == "F32":
        return struct.pack("<%df" % n, *vals)
    if dtype == "F64":
        return struct.pack("<%dd" % n, *vals)
    if dtype == "F16":
        return struct.pack("<%de" % n, *vals)
    if dtype == "BF16":
        return b"".join(struct.pack("<f", v)[2:] for v in vals)
    if dtype == "I64":
        return struct.pack("<%dq" % n, *range(n))
    return bytes(n * SIZES[dtype])


def safetensors(tensors, meta=None, pad=True, header_extra=""):
    """tensors: (name, dtype, shape[, data]) tuples laid out back to back."""
    header, blob = {}, b""
    if meta is not None:
        header["__metadata__"] = meta
    for i, t in enumerate(tensors):
        name, dtype, shape = t[:3]
        data = t[3] if len(t) > 3 else values(dtype, numel(shape), i)
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(blob), len(blob) + len(data)]}
        blob += data
    h = (json.dumps(header, separators=(",", ":")) + header_extra).encode()
    if pad:
        h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + blob


def model_params(dtype="F32", skip=(), extra=()):
    return [(n, dtype, s) for n, s in PARAMS if n not in skip] + list(extra)


def safetensors_seeds():
    for dt in ("F32", "F64", "F16", "BF16"):
        out("safetensors", "model_%s.safetensors" % dt.lower(), safetensors(model_params(dt)))
    out("safetensors", "model_meta.safetensors",
        safetensors(model_params(), meta={"format": "pt", "note": "seed"}))
    out("safetensors", "model_nbt.safetensors",
        safetensors(model_params(extra=[("bn.num_batches_tracked", "I64", [])])))
    out("safetensors", "model_missing.safetensors", safetensors(model_params(skip=("fc.bias",))))
    out("safetensors", "model_extra.safetensors",
        safetensors(model_params(extra=[("unused.weight", "F32", [4])])))
    wrong = [(n, "F32", [3, 30] if n == "fc.weight" else s) for n, s in PARAMS]
    out("safetensors", "model_wrong_shape.safetensors", safetensors(wrong))
    out("safetensors", "model_i32.safetensors",
        safetensors([(n, "I32" if n == "c.bias" else "F32", s) for n, s in PARAMS]))
    out("safetensors", "model_unpadded.safetensors", safetensors(model_params(), pad=False))
    out("safetensors", "empty.safetensors", safetensors([]))
    out("safetensors", "scalar_and_zero.safetensors",
        safetensors([("s", "F32", []), ("z", "F32", [0, 5]), ("u8", "U8", [3]),
                     ("b", "BOOL", [2])]))
    out("safetensors", "other_dtype.safetensors", safetensors([("q", "F8_E4M3", [4], b"\0" * 4)]))
    # Two tensors over the same bytes, and offsets past the data block.
    h = b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' \
        b'"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}'
    out("safetensors", "overlap.safetensors", struct.pack("<Q", len(h)) + h + bytes(12))
    h = b'{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}'
    out("safetensors", "truncated_data.safetensors", struct.pack("<Q", len(h)) + h + bytes(8))
    h = b'{"a":{"dtype":"F32","shape":[1152921504606846976],"data_offsets":[0,4]}}'
    out("safetensors", "huge_shape.safetensors", struct.pack("<Q", len(h)) + h + bytes(4))
    out("safetensors", "huge_header_len.safetensors", struct.pack("<Q", 1 << 60) + b"{}")
    h = b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32",' \
        b'"shape":[1],"data_offsets":[4,8]}}'
    out("safetensors", "duplicate.safetensors", struct.pack("<Q", len(h)) + h + bytes(8))


# --- npy ---------------------------------------------------------------------------------------

def npy(descr, shape_text, data, version=1, fortran="False", raw_header=None, pad=True):
    h = raw_header if raw_header is not None else \
        "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, shape_text)
    pre = 10 if version == 1 else 12
    if pad:
        h += " " * (-(pre + len(h) + 1) % 64)
    h = (h + "\n").encode("latin-1")
    size = struct.pack("<H", len(h)) if version == 1 else struct.pack("<I", len(h))
    return b"\x93NUMPY" + bytes([version, 0]) + size + h + data


def npy_seeds():
    f32 = lambda *v: struct.pack("<%df" % len(v), *v)
    out("npy", "f32_2x3.npy", npy("<f4", "(2, 3)", f32(1, -2, 0.25, 3, 1e-3, -0.0)))
    out("npy", "f32_rank4.npy", npy("<f4", "(1, 2, 1, 2)", f32(1, 2, 3, 4)))
    out("npy", "f32_rank8.npy", npy("<f4", "(1, 1, 1, 1, 1, 1, 1, 2)", f32(5, 6)))
    out("npy", "f64_be.npy", npy(">f8", "(2,)", struct.pack(">2d", 1e300, -2.5)))
    out("npy", "f64_le.npy", npy("<f8", "(3,)", struct.pack("<3d", 0.1, float("inf"), 5e-324)))
    out("npy", "f4_native.npy", npy("=f4", "(1,)", f32(3.5)))
    out("npy", "f4_plain.npy", npy("f4", "(1,)", f32(3.5)))
    out("npy", "scalar.npy", npy("<f4", "()", f32(7.5)))
    out("npy", "empty.npy", npy("<f4", "(0, 4)", b""))
    out("npy", "shape_int.npy", npy("<f4", "(2)", f32(1, 2)))
    out("npy", "shape_long.npy", npy("<f4", "(2L, 1L)", f32(1, 2)))
    out("npy", "v2.npy", npy("<f4", "(2,)", f32(1, 2), version=2))
    out("npy", "v3.npy", npy("<f4", "(2,)", f32(1, 2), version=3))
    out("npy", "keys_reordered.npy",
        npy("", "", f32(9), raw_header="{\"shape\": (1,), \"fortran_order\": False, "
                                       "\"descr\": \"<f4\"}"))
    out("npy", "fortran.npy", npy("<f4", "(2, 1)", f32(1, 2), fortran="True"))
    out("npy", "int64.npy", npy("<i8", "(2,)", struct.pack("<2q", 1, 2)))
    out("npy", "structured.npy",
        npy("", "", f32(1), raw_header="{'descr': [('a', '<f4')], 'fortran_order': False, "
                                       "'shape': (1,), }"))
    out("npy", "trailing_bytes.npy", npy("<f4", "(1,)", f32(1, 2)))
    out("npy", "unpadded.npy", npy("<f4", "(1,)", f32(1), pad=False))
    out("npy", "huge_dims.npy", npy("<f4", "(4294967296, 4294967296)", b""))


# --- ONNX: a minimal protobuf writer for the few messages a model needs ----------------------

def varint(v):
    v &= (1 << 64) - 1
    b = bytearray()
    while True:
        x = v & 0x7F
        v >>= 7
        b.append(x | (0x80 if v else 0))
        if not v:
            return bytes(b)


def fld(num, wire, payload):
    return varint(num << 3 | wire) + payload


def f_int(num, v):
    return fld(num, 0, varint(v))


def f_bytes(num, b):
    if isinstance(b, str):
        b = b.encode()
    return fld(num, 2, varint(len(b)) + b)


def f_float(num, v):
    return fld(num, 5, struct.pack("<f", v))


FLOAT, INT64 = 1, 7


def tensor(name, dims, vals, dtype=FLOAT, raw=True):
    t = b"".join(f_int(1, d) for d in dims) + f_int(2, dtype) + f_bytes(8, name)
    if raw:
        fmt = "<%d%s" % (len(vals), "f" if dtype == FLOAT else "q")
        return t + f_bytes(9, struct.pack(fmt, *vals))
    if dtype == FLOAT:
        return t + f_bytes(4, struct.pack("<%df" % len(vals), *vals))
    return t + f_bytes(7, b"".join(varint(v) for v in vals))


def attr(name, v):
    a = f_bytes(1, name)
    if isinstance(v, float):
        return a + f_float(2, v) + f_int(20, 1)
    if isinstance(v, int):
        return a + f_int(3, v) + f_int(20, 2)
    if isinstance(v, str):
        return a + f_bytes(4, v) + f_int(20, 3)
    if isinstance(v, bytes):  # a tensor
        return a + f_bytes(5, v) + f_int(20, 4)
    return a + b"".join(f_int(8, x) for x in v) + f_int(20, 7)


def node(op, ins, outs, name=None, **attrs):
    n = b"".join(f_bytes(1, i) for i in ins) + b"".join(f_bytes(2, o) for o in outs)
    n += f_bytes(3, name or outs[0]) + f_bytes(4, op)
    return n + b"".join(f_bytes(5, attr(k, v)) for k, v in attrs.items())


def value_info(name, dims):
    shape = b"".join(f_bytes(1, f_bytes(2, d) if isinstance(d, str) else f_int(1, d))
                     for d in dims)
    tt = f_int(1, FLOAT) + f_bytes(2, shape)
    return f_bytes(1, name) + f_bytes(2, f_bytes(1, tt))


def model(nodes, inits, inputs, outputs, opset=13, name="g"):
    g = b"".join(f_bytes(1, n) for n in nodes) + f_bytes(2, name)
    g += b"".join(f_bytes(5, t) for t in inits)
    g += b"".join(f_bytes(11, value_info(n, d)) for n, d in inputs)
    g += b"".join(f_bytes(12, value_info(n, d)) for n, d in outputs)
    opset_id = f_bytes(1, "") + f_int(2, opset)
    return f_int(1, 8) + f_bytes(2, "make_seeds") + f_bytes(7, g) + f_bytes(8, opset_id)


def ramp(n, scale=0.1):
    return [((i * 7) % 11 - 5) * scale for i in range(n)]


def onnx_seeds():
    x4 = [("x", ["N", 1, 6, 6])]
    conv = model([node("Conv", ["x", "W", "B"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
                  node("Relu", ["c"], ["r"]),
                  node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
                  node("Flatten", ["p"], ["f"], axis=1),
                  node("Gemm", ["f", "G", "H"], ["y"], transB=1)],
                 [tensor("W", [2, 1, 3, 3], ramp(18)), tensor("B", [2], [0.1, -0.1]),
                  tensor("G", [4, 18], ramp(72)), tensor("H", [4], ramp(4), raw=False)],
                 x4, [("y", ["N", 4])])
    out("onnx", "conv_pool_gemm.onnx", conv)
    bn = model([node("BatchNormalization", ["x", "s", "b", "m", "v"], ["n"], epsilon=1e-3),
                node("AveragePool", ["n"], ["a"], kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                     count_include_pad=0),
                node("GlobalAveragePool", ["a"], ["y"])],
               [tensor("s", [1], [1.5]), tensor("b", [1], [0.5]), tensor("m", [1], [0.1]),
                tensor("v", [1], [2.0])], x4, [("y", ["N", 1, 1, 1])])
    out("onnx", "batchnorm_pool.onnx", bn)
    # PyTorch's flatten: Shape -> Gather(0) -> Unsqueeze -> Concat(-1) -> Reshape.
    flat = model([node("Shape", ["x"], ["s"]),
                  node("Constant", [], ["i"], value=tensor("iv", [], [0], dtype=INT64)),
                  node("Gather", ["s", "i"], ["g"], axis=0),
                  node("Unsqueeze", ["g", "ax"], ["u"]),
                  node("Concat", ["u", "m1"], ["shape"], axis=0),
                  node("Reshape", ["x", "shape"], ["y"])],
                 [tensor("ax", [1], [0], dtype=INT64), tensor("m1", [1], [-1], dtype=INT64)],
                 x4, [("y", ["N", 36])])
    out("onnx", "torch_flatten.onnx", flat)
    mlp = model([node("MatMul", ["x", "W"], ["m"]), node("Add", ["m", "b"], ["a"]),
                 node("Sigmoid", ["a"], ["s"]), node("Mul", ["s", "two"], ["t"]),
                 node("Softmax", ["t"], ["y"], axis=-1)],
                [tensor("W", [3, 2], ramp(6)), tensor("b", [2], [0.5, -0.5]),
                 tensor("two", [], [2.0])], [("x", ["batch", 3])], [("y", ["batch", 2])])
    out("onnx", "matmul_add.onnx", mlp)
    ln = model([node("LayerNormalization", ["x", "g", "b"], ["n"], axis=-1, epsilon=1e-5),
                node("Transpose", ["n"], ["t"], perm=[1, 0]),
                node("Clip", ["t", "lo", "hi"], ["y"])],
               [tensor("g", [4], [1.0] * 4), tensor("b", [4], [0.0] * 4),
                tensor("lo", [], [-1.0]), tensor("hi", [], [1.0])],
               [("x", [2, 4])], [("y", [4, 2])], opset=17)
    out("onnx", "layernorm_transpose_clip.onnx", ln)
    cat = model([node("Concat", ["x", "z"], ["c"], axis=1),
                 node("Reshape", ["c", "shape"], ["r"]),
                 node("LeakyRelu", ["r"], ["y"], alpha=0.2)],
                [tensor("shape", [2], [-1, 3], dtype=INT64)],
                [("x", [2, 3]), ("z", [2, 3])], [("y", [4, 3])], opset=9)
    out("onnx", "concat_reshape.onnx", cat)


if __name__ == "__main__":
    safetensors_seeds()
    npy_seeds()
    onnx_seeds()
