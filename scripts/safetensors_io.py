"""safetensors and .npy files for nnd's Python generators (numpy only; no safetensors package).

Used by examples/digits/train.py, examples/lenet5/make_lenet5.py,
examples/resnet_block/make_resnet_block.py and tests/ref/gen_refs.py, which put this folder
on sys.path themselves.

safetensors layout: an 8-byte little-endian unsigned header length n; n bytes of UTF-8 JSON,
{name: {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}}, written compactly and
padded with spaces to a multiple of 8; then the raw little-endian C-order data, the tensors
back to back in the order given, offsets relative to the end of the header.

write_safetensors(path, tensors) -> None
    tensors: dict name -> array, or an iterable of (name, array) pairs; an array is a numpy
    array or a torch tensor. The file keeps each array's dtype: float32 -> F32,
    float64 -> F64, float16 -> F16, int64 -> I64 (a 0-d array, such as PyTorch's
    num_batches_tracked, keeps shape []), int32/int16/int8/uint8 -> I32/I16/I8/U8; any other
    dtype raises TypeError. Cast first to store another dtype (the generators write F32).

read_safetensors(path) -> dict name -> numpy array
    For verification: the tensors in header order (the "__metadata__" entry skipped), each a
    fresh writable array of the file's dtype and shape. Asserts the layout: the header length
    is a multiple of 8 and the tensors tile the data section exactly, sizes matching shapes.

verify_safetensors(path, tensors) -> dict name -> numpy array
    read_safetensors(path), asserting it holds exactly `tensors` (as write_safetensors takes
    them): the same names in the same order, dtypes, shapes and values. Returns what was read.

save_npy(path, arr, dtype=np.float32) -> None
    np.save of arr converted to dtype in C order (a numpy array or torch tensor; a 0-d
    array stays 0-d, which np.ascontiguousarray would make shape [1]).
"""
import json
import struct

import numpy as np

# safetensors dtype name <-> little-endian numpy dtype
DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
          "I8": "i1", "U8": "u1"}
_NAME_OF = {np.dtype(v).newbyteorder("="): k for k, v in DTYPES.items()}


def _numpy(arr):
    """A numpy array from a numpy array, a torch tensor or anything np.asarray takes."""
    if hasattr(arr, "detach"):  # torch.Tensor, without importing torch here
        arr = arr.detach().cpu().numpy()
    return np.asarray(arr)


def _items(tensors):
    return list(tensors.items()) if isinstance(tensors, dict) else list(tensors)


def write_safetensors(path, tensors):
    """Write tensors (dict name -> array, or (name, array) pairs) to path; see the module doc."""
    header, blobs, off = {}, [], 0
    for name, arr in _items(tensors):
        arr = _numpy(arr)
        dt = _NAME_OF.get(arr.dtype.newbyteorder("="))
        if dt is None:
            raise TypeError(f"{name}: dtype {arr.dtype} has no safetensors dtype here")
        # np.array, not np.ascontiguousarray: the latter turns a 0-d array into shape [1]
        b = np.array(arr, dtype=DTYPES[dt], order="C").tobytes()
        if name in header:
            raise ValueError(f"duplicate tensor name {name}")
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    """{name: np.ndarray} from a safetensors file, checking its layout; see the module doc."""
    with open(path, "rb") as f:
        raw = f.read()
    assert len(raw) >= 8, f"{path}: shorter than the 8-byte header length"
    (n,) = struct.unpack("<Q", raw[:8])
    assert n % 8 == 0 and 8 + n <= len(raw), f"{path}: bad header length {n}"
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data, out, spans = raw[8 + n:], {}, []
    for name, t in header.items():
        if name == "__metadata__":
            continue
        b, e = t["data_offsets"]
        dt = np.dtype(DTYPES[t["dtype"]])
        assert 0 <= b <= e <= len(data) and e - b == dt.itemsize * int(np.prod(t["shape"])), name
        out[name] = np.frombuffer(data[b:e], dtype=dt).reshape(t["shape"]).copy()
        spans.append((b, e))
    pos = 0
    for b, e in sorted(spans):
        assert b == pos, f"{path}: gap or overlap in the data at byte {pos}"
        pos = e
    assert pos == len(data), f"{path}: {len(data) - pos} trailing bytes after the tensors"
    return out


def verify_safetensors(path, tensors):
    """Read path back and assert it holds exactly tensors; returns what was read."""
    back = read_safetensors(path)
    want = [(name, _numpy(arr)) for name, arr in _items(tensors)]
    assert list(back) == [name for name, _ in want], (list(back), [name for name, _ in want])
    for name, arr in want:
        got = back[name]
        same_dtype = got.dtype == arr.dtype.newbyteorder("<")
        assert same_dtype and got.shape == arr.shape, (name, got.dtype, got.shape)
        assert np.array_equal(got, arr), name
    return back


def save_npy(path, arr, dtype=np.float32):
    """np.save(path, arr as a C-order dtype array); 0-d arrays stay 0-d."""
    np.save(path, np.array(_numpy(arr), dtype=dtype, order="C"))
