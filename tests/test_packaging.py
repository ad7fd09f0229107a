"""The packaging files: gradsim.spec bundles what the app loads, the desktop files are valid, the icons
are what their names say, and the self-test notices a broken installation.

The spec is executed here as PyInstaller would execute it, with recording stand-ins for PyInstaller's
build steps, so the test checks the lists the build really receives rather than the spec's text.
"""

from __future__ import annotations

import ast
import configparser
import fnmatch
import functools
import json
import os
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESOURCES = ROOT / "gradsim" / "resources"
MIME_NS = "{http://www.freedesktop.org/standards/shared-mime-info}"


class _Step:
    """Stands in for one of PyInstaller's build steps (Analysis, PYZ, EXE, COLLECT, BUNDLE)."""

    def __init__(self, kind: str, log: list, *args, **kwargs) -> None:
        self.kind, self.args, self.kwargs = kind, args, kwargs
        log.append(self)
        if kind == "Analysis":
            self.scripts = list(args[0])
            self.pure = []
            self.binaries = list(kwargs.get("binaries", []))
            self.datas = list(kwargs.get("datas", []))


def _run_spec(work: Path, platform: str) -> dict[str, list[_Step]]:
    """The spec's build steps, in order, as PyInstaller would receive them on ``platform``."""
    import types

    log: list[_Step] = []
    namespace = {
        "__name__": "__main__",
        "__file__": str(ROOT / "gradsim.spec"),
        "SPECPATH": str(ROOT),
        "workpath": str(work),
        "DISTPATH": str(work / "dist"),
    }
    for kind in ("Analysis", "PYZ", "EXE", "COLLECT", "BUNDLE"):
        namespace[kind] = lambda *a, _k=kind, **kw: _Step(_k, log, *a, **kw)
    # the Windows version resource is built from PyInstaller's classes: stand-ins that keep their arguments
    versioninfo = types.ModuleType("PyInstaller.utils.win32.versioninfo")
    for name in ("FixedFileInfo", "StringFileInfo", "StringStruct", "StringTable", "VarFileInfo", "VarStruct",
                 "VSVersionInfo"):
        setattr(versioninfo, name, lambda *a, _n=name, **kw: (_n, a, kw))
    stubs = {name: types.ModuleType(name) for name in ("PyInstaller", "PyInstaller.utils", "PyInstaller.utils.win32")}
    stubs["PyInstaller.utils.win32.versioninfo"] = versioninfo
    saved_modules = {name: sys.modules.get(name) for name in stubs}
    saved_platform = sys.platform
    source = (ROOT / "gradsim.spec").read_text(encoding="utf-8")
    try:
        sys.modules.update(stubs)
        sys.platform = platform
        exec(compile(source, "gradsim.spec", "exec"), namespace)  # noqa: S102 - our own build file
    finally:
        sys.platform = saved_platform
        for name, module in saved_modules.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
    steps: dict[str, list[_Step]] = {}
    for step in log:
        steps.setdefault(step.kind, []).append(step)
    return steps


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    """The spec's build steps on this platform."""
    return _run_spec(tmp_path_factory.mktemp("pyinstaller-work"), sys.platform)


def _bundled_path(datas, source: Path) -> PurePosixPath | None:
    """Where ``source`` lands inside the bundle, given PyInstaller's (source, destination) pairs."""
    for src, dest in datas:
        src = Path(src).resolve()
        if source == src:
            return PurePosixPath(dest) / source.name
        if src.is_dir() and src in source.parents:
            return PurePosixPath(dest) / PurePosixPath(*source.relative_to(src).parts)
    return None


@functools.cache
def _package_nodes() -> tuple[tuple[Path, tuple[ast.AST, ...]], ...]:
    """Every syntax node of the package's modules that mention ``resource`` or ``PySide6``, by file:
    parsed and walked once per test process. The two tests that read them look for ``resource(...)``
    calls and ``PySide6`` imports, which cannot be written without those words; parsing and walking
    every module took 0.5 s, and most modules mention neither."""
    out = []
    for path in sorted((ROOT / "gradsim").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if "resource" in text or "PySide6" in text:
            out.append((path, tuple(ast.walk(ast.parse(text)))))
    return tuple(out)


def _resource_calls() -> list[tuple[Path, int, list[str | None]]]:
    """Every ``resource(...)`` call in the package: literal parts as strings, computed parts as None."""
    calls = []
    for path, nodes in _package_nodes():
        for node in nodes:
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "resource":
                parts = [a.value if isinstance(a, ast.Constant) and isinstance(a.value, str) else None for a in node.args]
                calls.append((path, node.lineno, parts))
    return calls


def test_spec_bundles_every_resource_file_under_resources(spec):
    datas = spec["Analysis"][0].datas
    files = [p for p in RESOURCES.rglob("*") if p.is_file()]
    assert files
    for path in files:
        inside = _bundled_path(datas, path.resolve())
        expected = PurePosixPath("gradsim", "resources", *path.relative_to(RESOURCES).parts)
        assert inside == expected, f"{path.relative_to(ROOT)} is not bundled as {expected} (got {inside})"


def test_every_resource_the_code_loads_exists_and_is_bundled(spec):
    datas = spec["Analysis"][0].datas
    calls = _resource_calls()
    assert len(calls) >= 3  # the app loads its icon, presets and content through resource()
    for path, line, parts in calls:
        literal = []
        for part in parts:
            if part is None:
                break
            literal.append(part)
        where = f"{path.relative_to(ROOT)}:{line}"
        assert literal, f"{where}: resource() with no literal folder or file name"
        target = RESOURCES.joinpath(*literal)
        assert target.exists(), f"{where}: resources/{'/'.join(literal)} does not exist"
        probe = target if target.is_file() else next(p for p in target.rglob("*") if p.is_file())
        assert _bundled_path(datas, probe.resolve()) is not None, f"{where}: {target} is not bundled"


def test_spec_includes_every_gradsim_module_and_scene(spec):
    from gradsim.ui.scenes import REGISTRY

    hidden = set(spec["Analysis"][0].kwargs["hiddenimports"])
    for path in (ROOT / "gradsim").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        assert module in hidden, module
    for _scene_id, _title, target in REGISTRY:
        module = target.split(":")[0]
        if (ROOT / Path(*module.split("."))).with_suffix(".py").exists():
            assert module in hidden


def test_spec_excludes_other_bindings_and_dev_tools(spec):
    excludes = set(spec["Analysis"][0].kwargs["excludes"])
    for name in ("PyQt5", "PyQt6", "PySide2", "tkinter", "pytest", "_pytest", "hypothesis", "ruff", "IPython", "tests"):
        assert name in excludes, name
    # the Qt modules the app imports must not be excluded
    used = set()
    for _path, nodes in _package_nodes():
        for node in nodes:
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("PySide6."):
                used.add(node.module)
    assert {"PySide6.QtCore", "PySide6.QtWidgets"} <= used
    assert not used & excludes, used & excludes
    assert not {"numpy", "torch", "pyqtgraph", "PySide6", "gradsim"} & excludes


def test_spec_copies_no_qt_plugins_by_hand(spec):
    analysis = spec["Analysis"][0]
    assert analysis.binaries == []
    for src, _dest in analysis.datas:
        assert "PySide6" not in str(src) and "plugins" not in str(src), src


@pytest.mark.parametrize("platform, names", [
    ("linux", ["gradsim"]),
    ("darwin", ["gradsim"]),
    ("win32", ["gradsim", "gradsim-cli"]),
])
def test_spec_makes_one_program_and_a_console_twin_on_windows_only(tmp_path, platform, names):
    """Linux and macOS: one executable (a windowed program prints to its terminal there). Windows: an
    .exe is a GUI or a console program, so the console twin is the only way to read `--self-test`."""
    steps = _run_spec(tmp_path, platform)
    exes = {step.kwargs["name"]: step.kwargs for step in steps["EXE"]}
    assert list(exes) == names
    assert exes["gradsim"]["console"] is False
    if "gradsim-cli" in exes:
        assert exes["gradsim-cli"]["console"] is True
    for options in exes.values():
        assert options["exclude_binaries"] is True  # one folder, not one file
        assert options["upx"] is False
        if options["icon"] is not None:
            assert Path(options["icon"]).is_file()
    assert (options["version"] is not None) == (platform == "win32")
    (collect,) = steps["COLLECT"]
    assert collect.kwargs["name"] == "gradsim"
    assert [a for a in collect.args if isinstance(a, _Step) and a.kind == "EXE"] == steps["EXE"]
    assert ("BUNDLE" in steps) == (platform == "darwin")


def test_frozen_entry_imports_torch_before_qt_on_windows_only(spec):
    (entry,) = spec["Analysis"][0].scripts
    source = Path(entry).read_text(encoding="utf-8")
    tree = ast.parse(source)
    guarded = [n for n in tree.body if isinstance(n, ast.If) and "win32" in ast.unparse(n.test)]
    assert any(isinstance(s, ast.Import) and s.names[0].name == "torch" for g in guarded for s in ast.walk(g))
    assert not any(isinstance(n, ast.Import) and n.names[0].name == "torch" for n in tree.body)  # lazy elsewhere
    assert source.index("import torch") < source.index("from gradsim.cli import main")


def test_windows_and_macos_icons_exist():
    ico = (RESOURCES / "icons" / "gradsim.ico").read_bytes()
    reserved, kind, count = struct.unpack_from("<HHH", ico)
    assert (reserved, kind) == (0, 1) and count >= 4
    sizes = set()
    for i in range(count):
        w, _h, _c, _r, _planes, _bits, length, offset = struct.unpack_from("<BBBBHHII", ico, 6 + 16 * i)
        blob = ico[offset:offset + length]
        assert blob[:8] == b"\x89PNG\r\n\x1a\n"
        embedded = struct.unpack(">I", blob[16:20])[0]
        assert (w or 256) == embedded  # the directory's size (0 meaning 256) is the image's
        sizes.add(embedded)
    assert {16, 32, 48, 256} <= sizes
    icns = (RESOURCES / "icons" / "gradsim.icns").read_bytes()
    assert icns[:4] == b"icns" and struct.unpack(">I", icns[4:8])[0] == len(icns)
    spec_text = (ROOT / "gradsim.spec").read_text(encoding="utf-8")
    assert '"gradsim.ico"' in spec_text and '"gradsim.icns"' in spec_text  # the icons the spec uses there


def test_png_icons_have_the_sizes_their_names_say():
    pngs = sorted((RESOURCES / "icons").glob("gradsim-*.png"))
    assert {p.stem for p in pngs} >= {"gradsim-16", "gradsim-32", "gradsim-48", "gradsim-128", "gradsim-256"}
    for path in pngs:
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", path
        width, height = struct.unpack(">II", data[16:24])
        size = int(path.stem.split("-")[1])
        assert (width, height) == (size, size), path
    root = ET.parse(RESOURCES / "icons" / "gradsim.svg").getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg" and root.get("viewBox") == "0 0 256 256"


def _desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # keys are case-sensitive in desktop files
    parser.read(RESOURCES / "gradsim.desktop", encoding="utf-8")
    return parser["Desktop Entry"]


def _mime_type() -> ET.Element:
    root = ET.parse(RESOURCES / "gradsim-mime.xml").getroot()
    assert root.tag == f"{MIME_NS}mime-info"
    (mime,) = root.findall(f"{MIME_NS}mime-type")
    return mime


def test_desktop_file_is_valid_and_opens_scenarios():
    entry = _desktop_entry()
    assert entry["Type"] == "Application"
    assert entry["Name"] == "gradsim" and entry["Comment"]
    exec_words = entry["Exec"].split()
    assert exec_words[0] == "gradsim" and exec_words.count("%f") == 1 and len(exec_words) == 2
    assert entry["Terminal"] == "false"
    assert entry["Icon"] == "gradsim" and (RESOURCES / "icons" / "gradsim.svg").is_file()
    categories = entry["Categories"]
    assert categories.endswith(";") and "Education" in categories.split(";")
    assert entry["MimeType"].endswith(";")
    assert _mime_type().get("type") in entry["MimeType"].split(";")
    validator = shutil.which("desktop-file-validate")
    if validator:
        out = subprocess.run([validator, str(RESOURCES / "gradsim.desktop")], capture_output=True, text=True)
        assert out.returncode == 0 and "error" not in out.stdout.lower(), out.stdout + out.stderr


def test_mime_xml_declares_the_scenario_file_type():
    mime = _mime_type()
    assert mime.get("type") == "application/x-gradsim-scenario+json"
    assert mime.find(f"{MIME_NS}comment").text
    assert mime.find(f"{MIME_NS}sub-class-of").get("type") == "application/json"
    (glob,) = mime.findall(f"{MIME_NS}glob")
    pattern = glob.get("pattern")
    assert pattern == "*.gradsim.json" and int(glob.get("weight", "50")) > 50  # beats plain *.json
    scenarios = [p.name for p in (RESOURCES / "presets").glob("*.json") if '"gradsim.scenario/1"' in p.read_text()]
    assert scenarios and all(fnmatch.fnmatch(name, pattern) for name in scenarios)
    assert not fnmatch.fnmatch("data.json", pattern)


@pytest.mark.skipif(not shutil.which("update-mime-database"), reason="shared-mime-info is not installed")
def test_mime_xml_installs_and_qt_recognises_a_scenario(tmp_path):
    packages = tmp_path / "mime" / "packages"
    packages.mkdir(parents=True)
    shutil.copy(RESOURCES / "gradsim-mime.xml", packages / "gradsim-mime.xml")
    out = subprocess.run(["update-mime-database", str(tmp_path / "mime")], capture_output=True, text=True)
    # it exits 0 even on a malformed file, so read what it says (a note about the search path is fine)
    assert out.returncode == 0 and "error" not in out.stderr.lower(), out.stderr
    assert "application/x-gradsim-scenario+json" in (tmp_path / "mime" / "globs2").read_text()
    probe = (
        "from PySide6.QtCore import QMimeDatabase\n"
        "db = QMimeDatabase()\n"
        "print(db.mimeTypeForFile('lesson.gradsim.json', QMimeDatabase.MatchMode.MatchExtension).name())\n"
    )
    env = {**os.environ, "XDG_DATA_DIRS": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "home")}
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=60)
    assert result.stdout.strip() == "application/x-gradsim-scenario+json", result.stdout + result.stderr


def test_no_torchscript_in_the_package():
    """TorchScript needs the source of what it compiles, which a frozen app does not ship."""
    for path in (ROOT / "gradsim").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for word in ("jit.script", "jit.trace", "torch.jit.load", "@torch.jit"):
            assert word not in text, f"{path.relative_to(ROOT)} uses {word}"


def test_build_output_is_not_committed():
    ignored = (ROOT / ".gitignore").read_text().split()
    assert "build/" in ignored and "dist/" in ignored


def test_build_script_is_valid_python():
    ast.parse((ROOT / "scripts" / "build-app").read_text(encoding="utf-8"))


# -- the self-test ----------------------------------------------------------------------------------
def test_engine_checks_pass_here(tmp_path):
    pytest.importorskip("torch")
    from gradsim.selftest import ENGINE_CHECKS, run_checks

    results = run_checks(ENGINE_CHECKS)
    assert [r.name for r in results if not r.ok] == [], [r.detail for r in results]


def test_self_test_without_gui_writes_its_report(tmp_path, capsys):
    pytest.importorskip("torch")
    from gradsim.selftest import run_self_test

    assert run_self_test(report_dir=tmp_path, gui=False) == 0
    report = (tmp_path / "gradsim-self-test.txt").read_text()
    assert "SELF-TEST PASSED" in report and "[FAIL]" not in report
    assert str(tmp_path / "gradsim-self-test.txt") in capsys.readouterr().out


def test_self_test_names_what_fails_when_resources_are_missing(tmp_path, monkeypatch, capsys):
    """A bundle that lost its resources folder: the self-test fails and says which checks and why."""
    pytest.importorskip("torch")
    import gradsim.paths
    from gradsim import selftest

    monkeypatch.setattr(gradsim.paths, "resources_dir", lambda: tmp_path / "nowhere")
    assert selftest.run_self_test(report_dir=tmp_path, gui=False) == 1
    report = (tmp_path / "gradsim-self-test.txt").read_text()
    assert "[FAIL] resources" in report and "icons/gradsim.svg" in report
    assert "[FAIL] PyTorch example preset" in report
    assert report.rstrip().splitlines()[-1].startswith("SELF-TEST FAILED: 2 of")


def test_a_check_that_raises_is_reported_with_its_reason():
    from gradsim.selftest import CheckFailed, format_report, run_checks

    def wrong() -> str:
        raise CheckFailed("0.5^20 = 1.0, expected 9.5e-07")

    def crashes() -> str:
        return {}["missing"]

    results = run_checks([("fine", lambda: "ok"), ("wrong value", wrong), ("crash", crashes)])
    assert [r.ok for r in results] == [True, False, False]
    report = format_report(results, ["header"])
    assert "[FAIL] wrong value" in report and "expected 9.5e-07" in report
    assert "KeyError" in report and "SELF-TEST FAILED: 2 of 3 checks: wrong value, crash" in report


@pytest.mark.slow
def test_self_test_command_passes_offscreen(tmp_path):
    """`gradsim --self-test` opens every scene of this checkout offscreen and exits 0."""
    pytest.importorskip("torch")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "TMPDIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "gradsim", "--self-test"], capture_output=True, text=True,
                            env=env, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "SELF-TEST PASSED" in result.stdout and "[PASS] every scene opens and draws" in result.stdout
    shots = list(tmp_path.glob("gradsim-self-test-*/scene-flow.png"))
    assert shots and shots[0].stat().st_size > 1000


# -- the Linux release: archive, install.sh / uninstall.sh, .deb --------------------------------------------
# Built here from a stand-in app folder (a tiny script named `gradsim` beside the real resources, laid
# out as PyInstaller lays out the frozen app), so the test takes seconds; `scripts/build-app` makes the
# same files from the real app and self-tests them unpacked.
VERSION = "9.8.7"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
STAND_IN = '#!/bin/sh\necho "stand-in gradsim $*"\n'


@pytest.fixture(scope="module")
def build_app():
    from importlib.machinery import SourceFileLoader
    from importlib.util import module_from_spec, spec_from_loader

    loader = SourceFileLoader("build_app", str(ROOT / "scripts" / "build-app"))
    module = module_from_spec(spec_from_loader("build_app", loader))
    loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def stand_in_app(tmp_path_factory) -> Path:
    app = tmp_path_factory.mktemp("frozen") / "gradsim"
    shutil.copytree(RESOURCES, app / "_internal" / "gradsim" / "resources")
    (app / "gradsim").write_text(STAND_IN)
    (app / "gradsim").chmod(0o755)
    return app


def _torch_report(version: str, requires: list[str], wheel: str, also: tuple[str, ...] = ()) -> dict:
    """A ``pip install --dry-run --report`` document: torch and what pip resolved beside it."""
    items = [{"metadata": {"name": "torch", "version": version, "requires_dist": requires},
              "download_info": {"url": f"file:///somewhere/{wheel}"}}]
    items += [{"metadata": {"name": name, "version": "1.0"}, "download_info": {"url": f"file:///somewhere/{name}.whl"}}
              for name in also]
    return {"install": items}


LINUX_ONLY = ['nvidia-cudnn-cu13==9.20.0.48; platform_system == "Linux"',
              'nvidia-nccl-cu13==2.29.7; platform_system == "Linux"']


def test_build_app_tells_a_cuda_torch_from_a_cpu_one(build_app):
    cpu = _torch_report("2.13.0+cpu", ["filelock", "sympy>=1.13.3"], "torch-2.13.0+cpu-cp311-linux_x86_64.whl",
                        ("filelock", "sympy"))
    # Windows and macOS wheels name nvidia-* packages for Linux only: pip resolves none of them there
    windows = _torch_report("2.13.0", ["filelock", *LINUX_ONLY], "torch-2.13.0-cp311-win_amd64.whl", ("filelock",))
    cuda = _torch_report("2.13.0", ["filelock", *LINUX_ONLY], "torch-2.13.0-cp311-manylinux_2_28_x86_64.whl",
                         ("filelock", "nvidia-cudnn-cu13", "nvidia-nccl-cu13", "nvidia-cublas"))
    tagged = _torch_report("2.13.0+cu126", [], "torch-2.13.0+cu126-cp311-linux_x86_64.whl")
    assert build_app.cuda_torch_reason(cpu) is None
    assert build_app.cuda_torch_reason(windows) is None
    reason = build_app.cuda_torch_reason(cuda)
    assert "CUDA" in reason and "manylinux_2_28" in reason and "3 nvidia-* CUDA packages" in reason
    assert "CUDA" in build_app.cuda_torch_reason(tagged)
    assert build_app.torch_source_args(None) == []
    assert build_app.torch_source_args("file:///wheels/cpu") == ["--index-url", "file:///wheels/cpu"]


def test_build_app_refuses_a_cuda_torch_in_one_line_before_downloading(build_app, monkeypatch):
    """pip is asked with --dry-run (it reads the wheels' metadata only); here its answer is a CUDA build."""
    cuda = _torch_report("2.13.0", LINUX_ONLY, "torch-2.13.0-cp311-manylinux_2_28_x86_64.whl",
                         ("nvidia-cudnn-cu13", "nvidia-nccl-cu13"))
    calls = []

    def fake_run(cmd, **kwargs):
        calls.append(cmd)
        Path(cmd[cmd.index("--report") + 1]).write_text(json.dumps(cuda))
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(build_app.subprocess, "run", fake_run)
    with pytest.raises(SystemExit) as refused:
        build_app.refuse_cuda_torch(Path(sys.executable), ["--index-url", "file:///x"], [])
    (cmd,) = calls
    assert "--dry-run" in cmd and "--no-deps" not in cmd and cmd[-1] == build_app.TORCH
    assert cmd[cmd.index("--index-url") + 1] == "file:///x"
    message = str(refused.value)
    assert "\n" not in message and "CUDA" in message and "--torch-index" in message
    assert build_app.TORCH_INDEX_ENV in message


def test_tarball_has_one_folder_with_the_app_and_its_scripts(build_app, stand_in_app, tmp_path):
    import tarfile

    tarball = build_app.make_tarball(stand_in_app, tmp_path / "dist", VERSION)
    assert tarball.name == f"gradsim-{VERSION}-linux-x86_64.tar.gz"
    assert [p.name for p in tarball.parent.iterdir()] == [tarball.name]  # written whole, no .part left
    with tarfile.open(tarball) as tar:
        members = {m.name: m for m in tar.getmembers()}
    top = f"gradsim-{VERSION}-linux-x86_64"
    assert {name.split("/")[0] for name in members} == {top}
    for name in ("gradsim", "install.sh", "uninstall.sh"):
        assert members[f"{top}/{name}"].mode & 0o111 == 0o111, name
    assert f"{top}/README.txt" in members and f"{top}/_internal/gradsim/resources/gradsim.desktop" in members
    assert all(m.uid == 0 and m.gid == 0 for m in members.values())
    assert sum(1 for name in members if name.endswith("/gradsim") and members[name].isfile()) == 1  # one program


def _unpack(build_app, tarball: Path, dest: Path) -> Path:
    import tarfile

    with tarfile.open(tarball) as tar:
        build_app.extract_all(tar, dest)
    (top,) = dest.iterdir()
    return top


def _user_env(tmp_path: Path, path: str | None = None) -> dict:
    home = tmp_path / "home"  # (xdg-utils itself cannot take a home folder with spaces)
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
    env.update(HOME=str(home), XDG_DATA_HOME=str(home / ".local" / "share"), XDG_CONFIG_HOME=str(home / ".config"),
               XDG_DATA_DIRS="/usr/share", XDG_UTILS_INSTALL_MODE="user")
    if path is not None:
        env["PATH"] = path
    return env


def _path_without_xdg_utils(tmp_path: Path) -> str:
    """A PATH holding only the plain tools the scripts use: no xdg-utils."""
    tools = tmp_path / "tools"
    tools.mkdir()
    for name in ("sh", "sed", "mktemp", "rm", "mkdir", "cp", "ln", "id", "readlink", "dirname", "cat",
                 "update-mime-database", "update-desktop-database"):
        found = shutil.which(name)
        if found:
            (tools / name).symlink_to(found)
    return str(tools)


@pytest.mark.parametrize("with_xdg_utils", [True, False], ids=["xdg-utils", "plain-copy"])
def test_install_and_uninstall_register_the_app_for_one_user(build_app, stand_in_app, tmp_path, with_xdg_utils):
    if with_xdg_utils and not all(shutil.which(t) for t in ("xdg-desktop-menu", "xdg-icon-resource", "xdg-mime")):
        pytest.skip("xdg-utils is not installed")
    tarball = build_app.make_tarball(stand_in_app, tmp_path / "dist", VERSION)
    top = _unpack(build_app, tarball, tmp_path / "unpacked by a teacher")
    env = _user_env(tmp_path, None if with_xdg_utils else _path_without_xdg_utils(tmp_path))
    data, home = Path(env["XDG_DATA_HOME"]), Path(env["HOME"])

    done = subprocess.run(["sh", str(top / "install.sh")], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    desktop = data / "applications" / "gradsim.desktop"
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read(desktop, encoding="utf-8")
    entry = parser["Desktop Entry"]
    program = top.resolve() / "gradsim"
    assert entry["Exec"] == f'"{program}" %f'  # absolute, quoted: the folder's name has spaces
    assert entry["TryExec"] == str(program)
    assert entry["MimeType"] == _desktop_entry()["MimeType"]
    validator = shutil.which("desktop-file-validate")
    if validator:
        out = subprocess.run([validator, str(desktop)], capture_output=True, text=True)
        assert out.returncode == 0 and "error" not in out.stdout.lower(), out.stdout
    for size in ICON_SIZES:
        icon = data / "icons" / "hicolor" / f"{size}x{size}" / "apps" / "gradsim.png"
        assert icon.read_bytes() == (RESOURCES / "icons" / f"gradsim-{size}.png").read_bytes()
    assert (data / "mime" / "packages" / "gradsim-mime.xml").read_bytes() == (RESOURCES / "gradsim-mime.xml").read_bytes()
    if shutil.which("update-mime-database"):
        assert "application/x-gradsim-scenario+json" in (data / "mime" / "globs2").read_text()
    command = home / ".local" / "bin" / "gradsim"
    assert command.is_symlink() and command.resolve() == program
    ran = subprocess.run([str(command), "--version"], capture_output=True, text=True, env=env, timeout=30)
    assert ran.stdout.strip() == "stand-in gradsim --version"
    if with_xdg_utils:
        assert "application/x-gradsim-scenario+json=gradsim.desktop" in (home / ".config" / "mimeapps.list").read_text()

    undone = subprocess.run(["sh", str(top / "uninstall.sh")], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)
    assert undone.returncode == 0, undone.stdout + undone.stderr
    assert not desktop.exists() and not command.exists() and not command.is_symlink()
    assert not list(data.glob("icons/hicolor/*/apps/gradsim.png"))
    assert not (data / "mime" / "packages" / "gradsim-mime.xml").exists()
    mimeapps = home / ".config" / "mimeapps.list"
    assert not mimeapps.exists() or "gradsim.desktop" not in mimeapps.read_text()
    assert program.exists()  # the folder itself is the user's to delete


def test_install_refuses_a_folder_a_menu_entry_cannot_name(build_app, stand_in_app, tmp_path):
    tarball = build_app.make_tarball(stand_in_app, tmp_path / "dist", VERSION)
    top = _unpack(build_app, tarball, tmp_path / "costs $5")
    env = _user_env(tmp_path)
    done = subprocess.run(["sh", str(top / "install.sh")], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=60)
    assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "move the folder" in done.stderr
    assert not (Path(env["XDG_DATA_HOME"]) / "applications" / "gradsim.desktop").exists()


@pytest.mark.skipif(not shutil.which("dpkg-deb"), reason="dpkg-deb is not installed")
def test_deb_installs_the_app_in_opt_with_a_command_menu_entry_icons_and_file_type(build_app, stand_in_app,
                                                                                    tmp_path):
    deb = build_app.make_deb(stand_in_app, tmp_path / "dist", VERSION, tmp_path / "work", compression="gzip")
    assert deb.name == f"gradsim_{VERSION}_amd64.deb"
    assert not (tmp_path / "work" / "deb-root").exists()  # the staging tree is removed
    fields = subprocess.run(["dpkg-deb", "-f", str(deb), "Package", "Version", "Architecture", "Depends",
                             "Installed-Size"], capture_output=True, text=True, check=True).stdout
    info = dict(line.split(": ", 1) for line in fields.strip().splitlines())
    assert (info["Package"], info["Version"], info["Architecture"]) == ("gradsim", VERSION, "amd64")
    assert "libxcb-cursor0" in info["Depends"]
    payload_kib = sum(p.stat().st_size for p in stand_in_app.rglob("*") if p.is_file()) / 1024
    assert int(info["Installed-Size"]) >= payload_kib
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True).stdout
    assert all(" root/root " in line for line in listing.splitlines()), listing[:500]

    root = tmp_path / "root"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    app = root / "opt" / "gradsim" / "gradsim"
    assert app.read_text() == STAND_IN and os.access(app, os.X_OK)
    assert (root / "opt" / "gradsim" / "_internal" / "gradsim" / "resources" / "quiz.json").is_file()
    command = root / "usr" / "bin" / "gradsim"
    assert command.is_symlink() and os.readlink(command) == "/opt/gradsim/gradsim"
    ran = subprocess.run([str(root / os.readlink(command).lstrip("/")), "--self-test"], capture_output=True, text=True)
    assert ran.stdout.strip() == "stand-in gradsim --self-test"
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read(root / "usr" / "share" / "applications" / "gradsim.desktop", encoding="utf-8")
    assert parser["Desktop Entry"]["Exec"] == "/usr/bin/gradsim %f"
    for size in ICON_SIZES:
        icon = root / "usr" / "share" / "icons" / "hicolor" / f"{size}x{size}" / "apps" / "gradsim.png"
        assert struct.unpack(">II", icon.read_bytes()[16:24]) == (size, size)
    assert (root / "usr" / "share" / "icons" / "hicolor" / "scalable" / "apps" / "gradsim.svg").is_file()
    mime = root / "usr" / "share" / "mime" / "packages" / "gradsim.xml"
    assert mime.read_bytes() == (RESOURCES / "gradsim-mime.xml").read_bytes()
    # no maintainer scripts: the desktop, MIME and icon caches are refreshed by dpkg triggers
    control = subprocess.run(["dpkg-deb", "-I", str(deb)], capture_output=True, text=True, check=True).stdout
    assert "postinst" not in control and "preinst" not in control


def test_release_scripts_are_posix_sh():
    for name in ("install.sh", "uninstall.sh"):
        path = ROOT / "packaging" / name
        assert path.read_text().startswith("#!/bin/sh\n") and os.access(path, os.X_OK)
        assert subprocess.run(["sh", "-n", str(path)]).returncode == 0
        if shutil.which("shellcheck"):
            out = subprocess.run(["shellcheck", "-s", "sh", str(path)], capture_output=True, text=True)
            assert out.returncode == 0, out.stdout
