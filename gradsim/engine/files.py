"""One guarded way to read and write every file gradsim touches.

Teachers open files students send them and practitioners open model files from anywhere, so every
reader here assumes the file may be hostile or damaged:

* **Regular files only.** A path is opened without blocking (``O_NONBLOCK``) and the *opened* file
  is checked with ``fstat``: a named pipe, a device (``/dev/zero``, ``/dev/urandom``), a socket or a
  folder is refused at once, before a single byte is read, and a symlink swapped between a check
  and the open cannot slip through (there is no separate check).
* **Sizes are enforced while reading**, never trusted from ``stat`` (``/proc`` files report 0 bytes,
  files grow while read): reading stops one byte past the limit and refuses.
* **Strict JSON**: UTF-8, no ``NaN``/``Infinity``, integers of at most :data:`MAX_INT_DIGITS` digits,
  floats finite (``1e400`` is refused, not turned into infinity), nesting at most ``max_depth``
  deep, checked *before* the parser recurses (a 100,000-deep file never reaches Python's recursion
  limit, on any thread's stack).
* **Zip archives** (PyTorch's ``.pt`` format) have each member's declared size, and for compressed
  members the real inflated size, bounded before ``torch.load`` allocates anything.

Every refusal is one :class:`~gradsim.engine.errors.InputError` line naming the file.

Writing: :func:`dumps_json` (strict JSON, non-finite numbers as ``null``), :func:`format_csv` /
:func:`write_csv` (the same convention: a non-finite number is an empty cell) and
:func:`atomic_write` (a temporary file in the same folder, then a rename, so a crash or a full disk
never leaves half a file where a good one was).

Qt-free and torch-free: the engine, the monitor, the command line and the app all use it.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import re
import stat
import tempfile
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from .errors import InputError

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB

MAX_INT_DIGITS = 20  # 2**64 has 20 digits; longer integers in a data file are damage or an attack
DEFAULT_MAX_DEPTH = 64
_CHUNK = 1 * MIB


def size_text(n: float) -> str:
    """``n`` bytes for a message: ``512 bytes``, ``3.2 MB``, ``2.0 GB``."""
    if n < 1000:
        return f"{int(n)} bytes"
    for unit, scale in (("kB", 1e3), ("MB", 1e6), ("GB", 1e9), ("TB", 1e12)):
        if n < scale * 1000 or unit == "TB":
            return f"{n / scale:.1f} {unit}"
    return f"{n:.3g} bytes"  # pragma: no cover


# ---------------------------------------------------------------------------------------------------
# opening and reading


def _kind_of(mode: int) -> str | None:
    """What a non-regular file is, in words (None for a regular file)."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def open_regular(path: str | os.PathLike[str], what: str = "file") -> IO[bytes]:
    """Open ``path`` for reading if, and only if, it is a regular file; never blocks.

    The open uses ``O_NONBLOCK`` (a FIFO with no writer would otherwise wait forever) and the kind
    of file is read from the open descriptor, so what is checked is what is read.
    """
    where = os.fspath(path)
    flags = os.O_RDONLY
    for name in ("O_NONBLOCK", "O_CLOEXEC", "O_NOCTTY", "O_BINARY"):
        flags |= getattr(os, name, 0)
    try:
        fd = os.open(where, flags)
    except FileNotFoundError:
        raise InputError(f"{where}: cannot read the {what}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{where}: is a folder, not a {what}") from None
    except OSError as exc:
        if os.path.isdir(where):  # Windows refuses to open folders with EACCES
            raise InputError(f"{where}: is a folder, not a {what}") from None
        raise InputError(f"{where}: cannot read the {what} ({exc.strerror or exc})") from None
    try:
        mode = os.fstat(fd).st_mode
        kind = _kind_of(mode)
        if kind is not None:
            raise InputError(f"{where}: is {kind}, not a {what}; only regular files are read")
        if hasattr(os, "set_blocking") and flags & getattr(os, "O_NONBLOCK", 0):
            with contextlib.suppress(OSError):
                os.set_blocking(fd, True)  # a regular file: plain reads from here on
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_limited(f: IO[bytes], limit: int, where: str, what: str = "file") -> bytes:
    """All bytes of an open file, refusing once more than ``limit`` have been read."""
    buf = bytearray()
    try:
        while True:
            chunk = f.read(min(_CHUNK, limit + 1 - len(buf)))
            if not chunk:
                break
            buf += chunk
            if len(buf) > limit:
                raise InputError(f"{where}: the {what} is larger than the {size_text(limit)} limit")
    except OSError as exc:
        raise InputError(f"{where}: cannot read the {what} ({exc.strerror or exc})") from None
    return bytes(buf)


def read_bytes(path: str | os.PathLike[str], limit: int, what: str = "file") -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (see :func:`open_regular`)."""
    where = os.fspath(path)
    with open_regular(path, what) as f:
        return read_limited(f, limit, where, what)


# ---------------------------------------------------------------------------------------------------
# strict JSON


_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)


def json_depth(raw: bytes, limit: int) -> int:
    """The deepest nesting of ``[``/``{`` in JSON text, ignoring brackets inside strings.

    Returns early with a number ``<= limit`` when the text cannot be deeper (fewer brackets than
    the limit); otherwise the exact depth. Linear time, a few MB of memory at a time.
    """
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return 0
    stripped = _JSON_STRING.sub(b'""', raw)
    data = np.frombuffer(stripped, dtype=np.uint8)
    depth, carry = 0, 0
    step = 4 * MIB
    for start in range(0, data.size, step):
        block = data[start : start + step]
        delta = ((block == 0x5B) | (block == 0x7B)).astype(np.int32)
        delta -= ((block == 0x5D) | (block == 0x7D)).astype(np.int32)
        running = np.cumsum(delta, dtype=np.int64) + carry
        if running.size:
            depth = max(depth, int(running.max()))
            carry = int(running[-1])
    return depth


def _int_parser(max_digits: int):
    def parse(token: str) -> int:
        digits = len(token) - (token[0] == "-")
        if digits > max_digits:
            raise InputError(f"an integer of {digits} digits (at most {max_digits} are read)")
        return int(token)

    return parse


_parse_int = _int_parser(MAX_INT_DIGITS)


def _parse_float(token: str) -> float:
    value = float(token)
    if not math.isfinite(value):
        shown = token if len(token) <= 24 else token[:20] + "…"
        raise InputError(f"the number {shown} is beyond the float64 range (non-finite)")
    return value


def _refuse_constant(token: str) -> Any:
    raise InputError(f"{token} is not allowed (only finite numbers)")


def loads_json(
    raw: bytes | bytearray | str, where: str, max_depth: int = DEFAULT_MAX_DEPTH, max_int_digits: int = MAX_INT_DIGITS
) -> Any:
    """Parse JSON strictly (see the module docstring); refusals are one line starting ``where: ``.
    ``max_int_digits`` may be raised for documents that hold wide integers on purpose (a random
    generator's 128-bit state)."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else bytes(raw)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{where}: not UTF-8 text") from None
    if json_depth(data, max_depth) > max_depth:
        raise InputError(f"{where}: JSON nested more than {max_depth} levels deep")
    try:
        return json.loads(
            text,
            parse_int=_parse_int if max_int_digits == MAX_INT_DIGITS else _int_parser(max_int_digits),
            parse_float=_parse_float,
            parse_constant=_refuse_constant,
        )
    except InputError as exc:
        raise InputError(f"{where}: not valid JSON: {exc}") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:  # pragma: no cover - the depth check comes first
        raise InputError(f"{where}: JSON nested too deeply") from None
    except (ValueError, OverflowError, MemoryError) as exc:
        raise InputError(f"{where}: not valid JSON ({type(exc).__name__})") from None


def read_json(
    path: str | os.PathLike[str], limit: int, what: str = "file", max_depth: int = DEFAULT_MAX_DEPTH
) -> Any:
    """A strict JSON document from a regular file of at most ``limit`` bytes."""
    return loads_json(read_bytes(path, limit, what), os.fspath(path), max_depth)


# ---------------------------------------------------------------------------------------------------
# zip archives (PyTorch's file format)


def check_zip_archive(f: IO[bytes], where: str, limit: int, what: str = "file") -> int:
    """Bound a zip archive before anything inflates it; return the total size of its members.

    Each member's declared size must fit in ``limit`` together with the others, and a member must be
    stored as it is (``torch.save`` never compresses), as long as it says and inside the file: a
    small file holding a huge deflated record is refused without inflating anything.
    """
    try:
        f.seek(0, os.SEEK_END)
        file_size = f.tell()
        f.seek(0)
        archive = zipfile.ZipFile(f)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
        raise InputError(f"{where}: not a valid zip archive ({one_word(exc)})") from None
    total = 0
    try:
        members = archive.infolist()
        if len(members) > 100_000:
            raise InputError(f"{where}: the {what} holds {len(members)} records, too many to open")
        for info in members:
            if info.file_size < 0 or info.compress_size < 0:
                raise InputError(f"{where}: record {info.filename!r} declares a negative size")
            total += info.file_size
            if total > limit:
                raise InputError(
                    f"{where}: the {what}'s records add up to {size_text(total)} or more, over the "
                    f"{size_text(limit)} limit"
                )
            if info.header_offset + info.compress_size > file_size:
                raise InputError(f"{where}: record {info.filename!r} runs past the end of the file")
            if info.compress_type == zipfile.ZIP_STORED:
                if info.compress_size != info.file_size:
                    raise InputError(f"{where}: record {info.filename!r} declares two different sizes")
                continue
            # torch.save never compresses a record; a compressed one is a hand-made file whose real
            # size only inflating it would tell (a 1 MB file can hold a 1 GB record): refused
            raise InputError(f"{where}: record {info.filename!r} is compressed, which PyTorch never writes")
    except InputError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError) as exc:
        raise InputError(f"{where}: damaged zip archive ({one_word(exc)})") from None
    finally:
        f.seek(0)
    return total


def one_word(exc: BaseException) -> str:
    """The first line of an exception's message (its type name if empty), for a refusal."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return first[:160]


# ---------------------------------------------------------------------------------------------------
# writing: strict JSON, CSV, atomic files


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float as ``None`` and NumPy scalars and arrays as Python values."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (bool, int, str)) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, np.generic):
        return json_safe(value.item())
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, complex):
        return {"real": json_safe(value.real), "imag": json_safe(value.imag)}
    return value


def dumps_json(value: Any, **kwargs: Any) -> str:
    """Strict JSON text: a non-finite number (NaN, infinity) is written as ``null``, never as the
    ``NaN``/``Infinity`` spellings strict parsers reject."""
    return json.dumps(json_safe(value), allow_nan=False, **kwargs)


def csv_cell(value: Any) -> Any:
    """One CSV cell: floats at full precision (``repr``), a non-finite or missing number empty."""
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value)).lower()
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return repr(v) if math.isfinite(v) else ""
    if isinstance(value, np.integer):
        return int(value)
    return value


def format_csv(columns: Mapping[str, Sequence[Any]]) -> str:
    """Columns as CSV text: a header row, then one row per index (shorter columns end in empty cells)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    keys = list(columns)
    writer.writerow(keys)
    length = max((len(columns[k]) for k in keys), default=0)
    for i in range(length):
        writer.writerow([csv_cell(columns[k][i]) if i < len(columns[k]) else "" for k in keys])
    return buf.getvalue()


def check_writable(path: str | os.PathLike[str], what: str = "file") -> Path:
    """Refuse, before any work, a path that cannot become a file: a missing folder, a folder, a
    device or other special file, or a folder where gradsim may not write."""
    p = Path(path)
    where = os.fspath(path)
    if not where:
        raise InputError(f"no file name given for the {what}")
    if p.is_dir():
        raise InputError(f"{where}: is a folder; give the {what} a file name")
    if p.exists():
        try:
            kind = _kind_of(os.stat(p).st_mode)
        except OSError as exc:
            raise InputError(f"{where}: cannot write the {what} ({exc.strerror or exc})") from None
        if kind is not None:
            raise InputError(f"{where}: is {kind}; the {what} must be a regular file")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"{where}: the folder {parent} does not exist")
    if p.exists() and not os.access(p, os.W_OK):
        raise InputError(f"{where}: cannot write the {what} (permission denied)")
    try:  # the real test: can a file be made beside it (a read-only disk, /proc, no permission)?
        fd, probe = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".probe", dir=str(parent))
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise InputError(f"{where}: cannot write in the folder {parent} ({exc.strerror or exc})") from None
    return p


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], what: str = "file", mode: str = "wb") -> Iterator[IO[Any]]:
    """Write a file atomically: the body writes into a temporary file in the same folder, which
    replaces ``path`` only once it is complete and flushed to disk. On any failure the temporary
    file is removed, ``path`` is left as it was, and an ``OSError`` becomes one :class:`InputError`
    line naming the file."""
    p = check_writable(path, what)
    where = os.fspath(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=str(p.parent))
    except OSError as exc:
        raise InputError(f"{where}: cannot write the {what} ({exc.strerror or exc})") from None
    try:
        kwargs = {} if "b" in mode else {"encoding": "utf-8", "newline": ""}
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise InputError(f"{where}: cannot write the {what} ({exc.strerror or exc})") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_text(path: str | os.PathLike[str], text: str, what: str = "file") -> None:
    """``text`` as UTF-8, written atomically (see :func:`atomic_write`)."""
    with atomic_write(path, what, "w") as f:
        f.write(text)


def write_csv(path: str | os.PathLike[str], columns: Mapping[str, Sequence[Any]], what: str = "CSV table") -> None:
    """Columns as a CSV file (see :func:`format_csv`), written atomically."""
    write_text(path, format_csv(columns), what)
