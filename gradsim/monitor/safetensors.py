"""A reader for ``.safetensors`` files in NumPy, checked at every step.

Why our own: the format is simple and holds no code, and the reference package is not a dependency.
Layout: 8 bytes, the header length N as a little-endian unsigned 64-bit integer; N bytes of UTF-8
JSON, an object mapping each tensor name to ``{"dtype", "shape", "data_offsets": [begin, end]}``
(plus an optional ``"__metadata__"`` object of strings); then the raw data, little-endian and
row-major, with offsets counted from the first byte after the header. Tensors may not overlap and
must cover the data without gaps.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

from gradsim.engine.errors import InputError

MAX_HEADER_BYTES = 100 * 1024 * 1024
MAX_FILE_BYTES = 4 * 1024**3

# dtype name -> (NumPy dtype as stored, bytes per element)
DTYPES: dict[str, tuple[str, int]] = {
    "F64": ("<f8", 8),
    "F32": ("<f4", 4),
    "F16": ("<f2", 2),
    "BF16": ("<u2", 2),  # widened to float32 below
    "I64": ("<i8", 8),
    "I32": ("<i4", 4),
    "I16": ("<i2", 2),
    "I8": ("i1", 1),
    "U8": ("u1", 1),
    "BOOL": ("u1", 1),
}


def read_safetensors(path: str | os.PathLike[str]) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """``(tensors, metadata)`` of a ``.safetensors`` file; floats come back as float64 except BF16
    and F16, which come back as float32 (exactly representable). Raises ``InputError`` naming the
    file and the fault for anything malformed."""
    p = Path(path)

    def refuse(why: str) -> InputError:
        return InputError(f"{p}: not a valid safetensors file: {why}")

    try:
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise refuse(f"larger than {MAX_FILE_BYTES // 1024**3} GiB")
        data = p.read_bytes()
    except OSError as exc:
        raise InputError(f"{p}: cannot read the file ({exc.strerror})") from None
    if len(data) < 8:
        raise refuse("shorter than the 8-byte header length")
    n = int.from_bytes(data[:8], "little")
    if n > MAX_HEADER_BYTES or n > len(data) - 8:
        raise refuse(f"header length {n} does not fit in the file")
    try:
        header = json.loads(data[8 : 8 + n].decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise refuse(f"the header is not JSON ({exc})") from None
    if not isinstance(header, dict):
        raise refuse("the header is not a JSON object")
    body = memoryview(data)[8 + n :]
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise refuse("__metadata__ is not an object of strings")

    spans: list[tuple[int, int, str]] = []
    tensors: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if not isinstance(info, dict):
            raise refuse(f"entry {name!r} is not an object")
        dtype = info.get("dtype")
        if dtype not in DTYPES:
            raise refuse(f"tensor {name!r} has unsupported dtype {dtype!r}")
        shape = info.get("shape")
        if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
        ):
            raise refuse(f"tensor {name!r} has an invalid shape {shape!r}")
        offsets = info.get("data_offsets")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
        ):
            raise refuse(f"tensor {name!r} has invalid data_offsets")
        begin, end = offsets
        np_dtype, itemsize = DTYPES[dtype]
        count = math.prod(shape)
        if not (0 <= begin <= end <= len(body)):
            raise refuse(f"tensor {name!r} lies outside the data ({begin}..{end} of {len(body)} bytes)")
        if end - begin != count * itemsize:
            raise refuse(f"tensor {name!r} has {end - begin} bytes for shape {shape} of {dtype}")
        spans.append((begin, end, name))
        raw = np.frombuffer(body[begin:end], dtype=np_dtype).reshape(shape)
        if dtype == "BF16":
            arr = (raw.astype(np.uint32) << 16).view(np.float32)
        elif dtype == "BOOL":
            if raw.size and raw.max() > 1:
                raise refuse(f"tensor {name!r} holds booleans other than 0 and 1")
            arr = raw.astype(bool)
        elif dtype == "F16":
            arr = raw.astype(np.float32)
        else:
            arr = raw.astype(raw.dtype.newbyteorder("="))
        tensors[name] = arr.copy()
    spans.sort()
    position = 0
    for begin, end, name in spans:
        if begin != position:
            what = "overlaps the tensor before it" if begin < position else "leaves a gap before it"
            raise refuse(f"tensor {name!r} {what}")
        position = end
    if position != len(body):
        raise refuse(f"{len(body) - position} bytes after the last tensor")
    return tensors, {str(k): v for k, v in metadata.items()}


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed")
