"""A reader for ``.safetensors`` files in NumPy, checked at every step.

Layout: 8 bytes, the header length N as a little-endian unsigned 64-bit integer; N bytes of UTF-8
JSON, an object mapping each tensor name to ``{"dtype", "shape", "data_offsets": [begin, end]}``
(plus an optional ``"__metadata__"`` object of strings); then the raw data, little-endian and
row-major, with offsets counted from the first byte after the header. Tensors may not overlap and
must cover the data without gaps.

Why our own reader rather than the ``safetensors`` package (whose header parsing is validated in
Rust): the format holds no code and its checks fit in one screen, and we need what the package does
not give a hostile-file reader: the file opened without blocking and refused unless regular, its
size enforced while reading, one-line messages naming the file, and the memory the tensors will take
bounded before any of them is built. Every field of the header is checked for its type (a list
where a dtype belongs, a string where a shape belongs), every shape for its size (each dimension at
most 2**40, the product bounded as it is computed, so a zero-sized shape with a huge dimension or a
shape that overflows int64 are refused), and every span for lying inside the file. The package would
add a compiled dependency to the offline app for none of this. ``tests/engine/test_monitor.py``
reads files made by a writer of its own that follows the format's description (sharing no code with
this reader), and ``tests/engine/test_files.py`` fuzzes every header field.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gradsim.engine.budget import MEMORY_BUDGET_BYTES, check_memory
from gradsim.engine.errors import InputError
from gradsim.engine.files import GIB, MIB, loads_json, read_bytes

MAX_HEADER_BYTES = 100 * MIB  # the reference implementation's limit too
MAX_FILE_BYTES = 1 * GIB
MAX_TENSORS = 100_000
MAX_NDIM = 8
MAX_DIM = 2**40

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
# bytes per element once read (BF16 and F16 come back as float32)
_OUT_ITEMSIZE = {"F16": 4, "BF16": 4}


@dataclass(frozen=True)
class TensorEntry:
    """One tensor of the header: where its bytes lie in the data section."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int

    @property
    def count(self) -> int:
        return (self.end - self.begin) // DTYPES[self.dtype][1]


def parse_safetensors(data: bytes, where: str) -> tuple[list[TensorEntry], dict[str, str], memoryview]:
    """Validate the whole layout of a ``.safetensors`` file held in ``data``, building no tensor:
    the entries, the metadata and the data section."""

    def refuse(why: str) -> InputError:
        return InputError(f"{where}: not a valid safetensors file: {why}")

    if len(data) < 8:
        raise refuse("shorter than the 8-byte header length")
    n = int.from_bytes(data[:8], "little")
    if n > MAX_HEADER_BYTES or n > len(data) - 8:
        raise refuse(f"header length {n} does not fit in the file")
    try:
        header = loads_json(data[8 : 8 + n], "header", max_depth=3)
    except InputError as exc:
        raise refuse(f"the header is not JSON: {str(exc).split(': ', 1)[-1]}") from None
    if not isinstance(header, dict):
        raise refuse("the header is not a JSON object")
    body = memoryview(data)[8 + n :]
    metadata = header.pop("__metadata__", None)
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise refuse("__metadata__ is not an object of strings")
    if len(header) > MAX_TENSORS:
        raise refuse(f"{len(header)} tensors, more than {MAX_TENSORS}")

    entries: list[TensorEntry] = []
    for name, info in header.items():
        if not isinstance(info, dict):
            raise refuse(f"entry {name!r} is not an object")
        extra = sorted(set(info) - {"dtype", "shape", "data_offsets"})
        if extra:
            raise refuse(f"tensor {name!r} has an unknown field {extra[0]!r}")
        dtype = info.get("dtype")
        if not isinstance(dtype, str) or dtype not in DTYPES:
            raise refuse(f"tensor {name!r} has unsupported dtype {dtype!r}")
        shape = info.get("shape")
        if (
            not isinstance(shape, list)
            or len(shape) > MAX_NDIM
            or not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= MAX_DIM for d in shape)
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
        if not (0 <= begin <= end <= len(body)):
            raise refuse(f"tensor {name!r} lies outside the data ({begin}..{end} of {len(body)} bytes)")
        itemsize = DTYPES[dtype][1]
        nbytes = itemsize
        for d in shape:  # bounded as it grows: a shape never needs more bytes than the file has
            nbytes *= d
            if nbytes > len(body):
                raise refuse(f"tensor {name!r} of shape {shape} needs more bytes than the file holds")
        if end - begin != nbytes:
            raise refuse(f"tensor {name!r} has {end - begin} bytes for shape {shape} of {dtype}")
        entries.append(TensorEntry(name, dtype, tuple(shape), begin, end))
    position = 0
    for entry in sorted(entries, key=lambda e: (e.begin, e.end)):
        if entry.begin != position:
            what = "overlaps the tensor before it" if entry.begin < position else "leaves a gap before it"
            raise refuse(f"tensor {entry.name!r} {what}")
        position = entry.end
    if position != len(body):
        raise refuse(f"{len(body) - position} bytes after the last tensor")
    return entries, {str(k): v for k, v in metadata.items()}, body


def tensor_from_entry(entry: TensorEntry, body: memoryview, where: str) -> np.ndarray:
    """The entry's values as a new array in native byte order (F16 and BF16 as float32)."""
    np_dtype = DTYPES[entry.dtype][0]
    raw = np.frombuffer(body[entry.begin : entry.end], dtype=np_dtype).reshape(entry.shape)
    if entry.dtype == "BF16":
        return (raw.astype(np.uint32) << 16).view(np.float32)
    if entry.dtype == "BOOL":
        if raw.size and raw.max() > 1:
            raise InputError(f"{where}: not a valid safetensors file: tensor {entry.name!r} holds booleans other than 0 and 1")
        return raw.astype(bool)
    if entry.dtype == "F16":
        return raw.astype(np.float32)
    return raw.astype(raw.dtype.newbyteorder("="))


def read_safetensors(
    path: str | os.PathLike[str], keep: Callable[[str], bool] | None = None
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """``(tensors, metadata)`` of a ``.safetensors`` file; floats come back as float64 except BF16
    and F16, which come back as float32 (exactly representable). ``keep(name)`` picks the tensors
    to build (all by default). Raises ``InputError`` naming the file and the fault for anything
    malformed, and for tensors that would take more memory than gradsim's budget."""
    where = os.fspath(path)
    data = read_bytes(path, MAX_FILE_BYTES, "safetensors file")
    entries, metadata, body = parse_safetensors(data, where)
    chosen = [e for e in entries if keep is None or keep(e.name)]
    out_bytes = sum(e.count * _OUT_ITEMSIZE.get(e.dtype, DTYPES[e.dtype][1]) for e in chosen)
    check_memory(len(data) + out_bytes, "reading these tensors", where)
    return {e.name: tensor_from_entry(e, body, where) for e in chosen}, metadata


def safetensors_names(path: str | os.PathLike[str]) -> list[str]:
    """The tensor names of a ``.safetensors`` file (the file is validated whole)."""
    where = os.fspath(path)
    entries, _, _ = parse_safetensors(read_bytes(path, MAX_FILE_BYTES, "safetensors file"), where)
    return [e.name for e in entries]


__all__ = ["DTYPES", "MAX_FILE_BYTES", "MEMORY_BUDGET_BYTES", "TensorEntry", "parse_safetensors", "read_safetensors"]
