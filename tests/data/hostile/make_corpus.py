"""Write gradsim's own corpus of hostile and damaged files (``python tests/data/hostile/make_corpus.py``).

Every kind of input of issue 17, small enough to commit: each file is a few kB at most, yet
declares or expands to gigabytes, nests 100,000 levels deep, hides terminal escapes in a key, or
carries a pickle that would run code. ``expected.json`` maps each file to the reader that must refuse
it and a fragment of the one-line refusal. Named pipes and ``/dev/zero`` links are not files one can
commit: the tests make them in a temporary folder.

Run again after changing it; the output is deterministic.
"""

from __future__ import annotations

import io
import json
import pickle
import struct
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEEP = 100_000

GOOD_SCENARIO = {
    "format": "gradsim.scenario/1",
    "activation": "tanh",
    "W_hh": [[0.5, 0.1], [0.0, 0.4]],
    "W_xh": [[1.0], [0.5]],
    "x": [[0.1], [0.2], [0.3]],
}


def scenario_with(raw_value: str, key: str = "W_hh", generated: bool = False) -> bytes:
    """A scenario whose ``key`` holds ``raw_value`` written verbatim (JSON text json.dumps cannot make)."""
    if generated:
        doc = {"format": "gradsim.scenario/1", "hidden": 4, "steps": 5, key: "@@"}
    else:
        doc = dict(GOOD_SCENARIO)
        doc[key] = "@@"
    return json.dumps(doc).replace('"@@"', raw_value).encode()


def safetensors_bytes(header: dict | bytes, data: bytes = b"") -> bytes:
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def zip_bytes(members: list[tuple[str, bytes, int]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data, method in members:
            z.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data, compress_type=method)
    return buf.getvalue()


def lie_about_size(archive: bytes, name: str, declared: int) -> bytes:
    """Rewrite the uncompressed size a zip declares for ``name`` (local header and central directory)."""
    out = bytearray(archive)
    encoded = name.encode()
    pos = 0
    while True:
        pos = out.find(b"PK\x03\x04", pos)
        if pos < 0:
            break
        n = struct.unpack_from("<H", out, pos + 26)[0]
        if bytes(out[pos + 30 : pos + 30 + n]) == encoded:
            struct.pack_into("<I", out, pos + 22, declared)
        pos += 4
    pos = 0
    while True:
        pos = out.find(b"PK\x01\x02", pos)
        if pos < 0:
            break
        n = struct.unpack_from("<H", out, pos + 28)[0]
        if bytes(out[pos + 46 : pos + 46 + n]) == encoded:
            struct.pack_into("<I", out, pos + 24, declared)
        pos += 4
    return bytes(out)


class _RunsCode:
    """A pickle that would call ``print`` on load (it must never run)."""

    def __reduce__(self):
        return (print, ("gradsim-hostile-payload-ran",))


def torch_files() -> dict[str, bytes]:
    """Model and run files written with torch (imported only here)."""
    import torch

    out: dict[str, bytes] = {}

    def saved(obj) -> bytes:
        buf = io.BytesIO()
        torch.save(obj, buf)
        return buf.getvalue()

    rnn = torch.nn.RNN(2, 3)
    state = rnn.state_dict()
    # sparse weights where dense ones belong
    sparse = dict(state)
    sparse["weight_hh_l0"] = state["weight_hh_l0"].to_sparse()
    out["model_sparse.pt"] = saved(sparse)
    # a 12-byte storage viewed as a 100,000 x 100,000 tensor (80 GB as float64)
    huge = dict(state)
    huge["weight_hh_l0"] = torch.zeros(3).as_strided((100_000, 100_000), (0, 0))
    out["model_zero_stride_view.pt"] = saved(huge)
    # code in the pickle
    out["model_pickle_code.pt"] = saved({"weight_hh_l0": _RunsCode()})
    # a deflated record that inflates far past the size it declares
    good = saved(state)
    with zipfile.ZipFile(io.BytesIO(good)) as z:
        members = [(i.filename, z.read(i.filename)) for i in z.infolist()]
    bomb = [(n, d, zipfile.ZIP_STORED) for n, d in members]
    bomb.append(("archive/data/bomb", b"\0" * 16 * 1024 * 1024, zipfile.ZIP_DEFLATED))
    out["model_inflates_past_declared.pt"] = lie_about_size(zip_bytes(bomb), "archive/data/bomb", 1024)
    # a record declaring 4 GB
    out["model_declares_4gb.pt"] = lie_about_size(good, members[-1][0], 0xFFFFFFF0)
    # a tensor of -1 elements: the size in the pickle patched, the archive rebuilt around it
    plain = saved({"rnn.weight_hh_l0": torch.zeros(7)})
    with zipfile.ZipFile(io.BytesIO(plain)) as z:
        records = [(i.filename, z.read(i.filename)) for i in z.infolist()]
    patched = [(n, d.replace(b"K\x00K\x07\x85", b"K\x00J\xff\xff\xff\xff\x85") if n.endswith("data.pkl") else d,
                zipfile.ZIP_STORED) for n, d in records]
    out["model_negative_numel.pt"] = zip_bytes(patched)
    # a legacy (pre-zip) pickle
    out["model_legacy_pickle.pt"] = pickle.dumps(_RunsCode())
    # saved runs
    out["run_pickle_code.gradsim-run.pt"] = saved({"format": "gradsim.run/1", "runs": [_RunsCode()]})
    out["run_damaged.gradsim-run.pt"] = saved({"format": "gradsim.run/1", "runs": [{"settings": "{}"}]})
    out["run_zero_stride.gradsim-run.pt"] = saved(
        {"format": "gradsim.run/1", "runs": [{"curves": {"loss": torch.zeros(1).as_strided((10**9,), (0,))}}]}
    )
    return out


def corpus() -> dict[str, tuple[bytes, str, str]]:
    """name -> (bytes, reader, fragment of the refusal)."""
    files: dict[str, tuple[bytes, str, str]] = {}

    def add(name: str, data: bytes, reader: str, fragment: str) -> None:
        files[name] = (data, reader, fragment)

    # scenarios
    add("huge_int_whh.gradsim.json", scenario_with("[[1" + "0" * 400 + ", 0], [0, 1]]"), "scenario", "digits")
    add("huge_int_input_scale.gradsim.json", scenario_with("1" + "0" * 400, "input_scale", True), "scenario", "digits")
    add("huge_int_forget_bias.gradsim.json", scenario_with("-1" + "0" * 400, "forget_bias", True), "scenario", "digits")
    add("digits_5000.gradsim.json", scenario_with("[[" + "7" * 5000 + ", 0], [0, 1]]"), "scenario", "digits")
    add("float_5000_digits.gradsim.json", scenario_with("[[0." + "3" * 5000 + ", 0], [0, 1]]"), "scenario-reads", "")
    add("e400.gradsim.json", scenario_with("1e400", "scale", True), "scenario", "float64 range")
    add("deep_100k.gradsim.json", b"[" * DEEP + b"]" * DEEP, "scenario", "nested")
    add("deep_in_key.gradsim.json", scenario_with("[" * DEEP + "]" * DEEP, "description"), "scenario", "nested")
    newline_key = "W_HH\nTraceback (most recent call last):\n  File \"x\", line 1\nOverflowError: fake"
    doc = dict(GOOD_SCENARIO)
    doc[newline_key] = 1
    add("newline_key.gradsim.json", json.dumps(doc).encode(), "scenario", "unknown key")
    doc = dict(GOOD_SCENARIO)
    doc["\x1b[2J\x1b[H\x1b[31mW"] = 1
    add("ansi_key.gradsim.json", json.dumps(doc).encode(), "scenario", "unknown key")
    add("nul_bytes.gradsim.json", b"\0" * 4096, "scenario", "not valid JSON")
    add("bidi_name.gradsim.json", json.dumps({**GOOD_SCENARIO, "name": 5, "\u202enoisrev": 1}).encode(), "scenario", "")

    # lessons and content
    add("deep.gradsim-lesson.json", b'{"format": "gradsim.lesson/1", "steps": ' + b"[" * DEEP + b"]" * DEEP + b"}",
        "lesson", "nested")
    add("ansi.gradsim-lesson.json",
        json.dumps({"format": "gradsim.lesson/1", "title": "t", "steps": [], "\x1b]0;owned\x07": 1}).encode(),
        "lesson", "")
    add("huge_int.gradsim-lesson.json", b'{"format": "gradsim.lesson/1", "title": ' + b"9" * 5000 + b"}",
        "lesson", "digits")

    # safetensors
    add("deep_header.safetensors", safetensors_bytes(b"[" * DEEP + b"]" * DEEP), "model", "nested")
    add("dtype_list.safetensors", safetensors_bytes({"w": {"dtype": ["F32"], "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4),
        "model", "unsupported dtype")
    add("zero_sized_huge_shape.safetensors",
        safetensors_bytes({"w": {"dtype": "F32", "shape": [0, 10**15], "data_offsets": [0, 0]}}), "model", "invalid shape")
    add("shape_overflows_int64.safetensors",
        safetensors_bytes({"w": {"dtype": "F32", "shape": [2**40, 2**40, 2**40], "data_offsets": [0, 4]}}, b"\0" * 4),
        "model", "more bytes")
    add("offsets_past_end.safetensors",
        safetensors_bytes({"w": {"dtype": "F32", "shape": [1000], "data_offsets": [0, 4000]}}, b"\0" * 4),
        "model", "outside the data")
    add("header_length_huge.safetensors", struct.pack("<Q", 2**63) + b"{}", "model", "does not fit")
    add("shape_as_string.safetensors",
        safetensors_bytes({"w": {"dtype": "F32", "shape": "1", "data_offsets": [0, 4]}}, b"\0" * 4), "model", "invalid shape")
    add("offsets_bool.safetensors",
        safetensors_bytes({"w": {"dtype": "F32", "shape": [1], "data_offsets": [False, True]}}, b"\0" * 4), "model",
        "data_offsets")

    # run logs
    header = {"format": "gradsim.runlog/1", "kind": "header", "thresholds": {"vanish": 1e-6, "explode": 1e3},
              "modules": [{"name": "rnn", "series": ["rnn/l0"]}], "parameters": []}
    head = json.dumps(header).encode() + b"\n"
    good_step = b'{"kind":"step","step":1,"layers":{"rnn/l0":[0.0,-1.0]},"params":{}}\n'
    damaged = (
        head
        + good_step
        + b'{"kind":"step","step":2,"layers":{"rnn/l0":[1' + b"0" * 400 + b"]},\"params\":{}}\n"
        + b"[" * DEEP + b"]" * DEEP + b"\n"
        + b'{"kind":"step","step":3,"layers":{"rnn/l0":["a string"]},"params":{}}\n'
        + b'{"kind":"step","step":4,"layers":{"rnn/l0":[1e400]},"params":{}}\n'
        + b'{"kind":"step","step":"5","layers":{},"params":{}}\n'
        + b"\xff\xfe not utf-8\n"
        + good_step.replace(b'"step":1', b'"step":6')
    )
    add("damaged_lines.gradsim-log.jsonl", damaged, "runlog-skips", "6")  # 6 damaged lines skipped
    wide = head + b'{"kind":"step","step":1,"layers":{"rnn/l0":[' + b",".join([b"0"] * 20000) + b"]},\"params\":{}}\n"
    wide += b"".join(b'{"kind":"step","step":%d,"layers":{"rnn/l0":[0]},"params":{}}\n' % i for i in range(2, 20001))
    add("declares_20000x20000_heatmap.gradsim-log.jsonl", wide, "runlog-heatmap", "")
    add("header_deep.gradsim-log.jsonl", b"[" * DEEP + b"]" * DEEP + b"\n", "runlog", "not JSON")
    add("header_modules_int.gradsim-log.jsonl",
        json.dumps({**header, "modules": [{"name": "x", "series": 5}]}).encode() + b"\n", "runlog", "modules")
    return files


def main() -> int:
    files = corpus()
    for name, data in torch_files().items():
        reader = "run" if name.startswith("run_") else "model"
        fragment = {"model_legacy_pickle.pt": "refused", "model_pickle_code.pt": "refused",
                    "run_pickle_code.gradsim-run.pt": "refused", "model_sparse.pt": "sparse",
                    "model_inflates_past_declared.pt": "compressed", "model_declares_4gb.pt": "limit",
                    "model_negative_numel.pt": "cannot read"}.get(name, "")
        files[name] = (data, reader, fragment)
    expected = {}
    for name, (data, reader, fragment) in sorted(files.items()):
        (HERE / name).write_bytes(data)
        expected[name] = {"reader": reader, "fragment": fragment}
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1) + "\n", encoding="utf-8")
    total = sum(len(d) for d, _, _ in files.values())
    print(f"wrote {len(files)} files, {total / 1e6:.1f} MB", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
