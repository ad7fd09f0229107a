"""From the app to the slides: a scene's animation as GIF, WebP or MP4, rendered frame by frame.

Frames are rendered, not captured from the screen: for frame ``i`` the scene is put at animation time
``i / fps`` (``Scene.seek_animation``) and the window's content is drawn into an image. So the result
is smooth whatever the machine's load, carries no window chrome, and the same command gives the same
file. GIF and WebP go through Pillow (GIF: one adaptive palette for the whole clip, and Pillow stores
only the rectangle that changed between frames); MP4 through the optional imageio-ffmpeg package,
whose wheel ships an ffmpeg binary.

``render_frames`` drives any sequence of "shots" (a scene at a time, or a lesson step at a time), so a
scene's pulse and a lesson played step by step share one renderer.

A scene may say two more things to a recording (the training lab does; others need not):
``recording_problem()`` returns why there is nothing to record (a one-line refusal instead of a
still clip), and ``animation_is_replay = True`` marks an animation that plays back something already
computed: a recording of ``--seconds S`` then plays it whole within S (its last frames hold the end),
and the scene is left at its end when the recording ends or is cancelled.
"""

from __future__ import annotations

import io
import math
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QEventLoop
from PySide6.QtGui import QImage

from ..engine.errors import InputError

FORMATS = {".gif": "GIF", ".webp": "WebP", ".mp4": "MP4"}
DEFAULT_SIZE = (1280, 720)
MAX_SIZE = (3840, 2160)  # a recording's largest frame (4K UHD)
DEFAULT_FPS = 30
MAX_SECONDS = 120
MAX_FPS = 60
HOLD_SECONDS = 0.7  # after the pulse reaches h₁, keep the last picture a moment
STILL_SECONDS = 3.0  # a scene without animation: a short still clip


@dataclass(frozen=True)
class Shot:
    """``frames`` frames of one picture: ``prepare()`` once, then ``seek(t)`` before each frame, and
    ``finish()`` (if any) once its frames are drawn or the recording stopped part-way."""

    frames: int
    prepare: Callable[[], None]
    seek: Callable[[float], None]
    finish: Callable[[], None] | None = None


@dataclass(frozen=True)
class Recording:
    path: Path
    frames: int
    size: tuple[int, int]
    bytes: int


def check_target(path: str | Path) -> str:
    """The format of ``path`` from its suffix; a one-line refusal for an unknown suffix or a missing
    optional package (before anything is rendered)."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise InputError(f"{Path(path).name}: record to .gif, .webp or .mp4, not {suffix or 'no suffix'!r}")
    if suffix == ".mp4":
        try:
            import imageio_ffmpeg  # noqa: F401
        except ImportError:
            raise InputError("MP4 needs the optional imageio-ffmpeg package: pip install \"gradsim[video]\" "
                             "(or record a .gif or .webp)") from None
    else:
        try:
            import PIL  # noqa: F401
        except ImportError:
            raise InputError("GIF and WebP need Pillow: pip install pillow") from None
    parent = Path(path).expanduser().resolve().parent
    if not parent.is_dir():
        raise InputError(f"{path}: the folder {parent} does not exist")
    return FORMATS[suffix]


def check_timing(seconds: float | None, fps: int) -> None:
    if not 1 <= fps <= MAX_FPS:
        raise InputError(f"--fps: {fps} is outside 1..{MAX_FPS}")
    if seconds is not None and not (0 < seconds <= MAX_SECONDS and math.isfinite(seconds)):
        raise InputError(f"--seconds: {seconds:g} is outside 0..{MAX_SECONDS}")


def scene_seconds(scene, seconds: float | None) -> float:
    """How long to record a scene: what was asked, else its animation and a short hold."""
    if seconds is not None:
        return seconds
    length = scene.animation_length()
    return min(MAX_SECONDS, length + HOLD_SECONDS) if length else STILL_SECONDS


def _settle() -> None:
    """Let queued drawing happen (pyqtgraph's view ranges, relayouts) before a frame is drawn."""
    app = QCoreApplication.instance()
    for _ in range(3):
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents)


def render_frames(widget, shots: Iterable[Shot], fps: int, size: tuple[int, int] | None = None) -> Iterator[QImage]:
    """Each shot's frames as images; scaled to ``size`` when the window had to be drawn larger."""
    from PySide6.QtCore import Qt

    for shot in shots:
        shot.prepare()
        try:
            for i in range(shot.frames):
                shot.seek(i / fps)
                _settle()
                image = widget.grab().toImage()
                if size is not None and (image.width(), image.height()) != size:
                    image = image.scaled(*size, Qt.AspectRatioMode.IgnoreAspectRatio,
                                         Qt.TransformationMode.SmoothTransformation)
                yield image.convertToFormat(QImage.Format.Format_RGB888)
        finally:
            if shot.finish is not None:
                shot.finish()


def _to_pil(image: QImage):
    from PIL import Image

    data = bytes(image.constBits())
    return Image.frombuffer("RGB", (image.width(), image.height()), data, "raw", "RGB", image.bytesPerLine(), 1)


def write(path: str | Path, frames: Iterable[QImage], total: int, fps: int,
          progress: Callable[[int, int], bool] | None = None) -> Recording:
    """Encode ``frames`` into ``path`` (atomically: a cancelled or failed run leaves no file).

    ``progress(done, total)`` is called after each frame; returning False cancels (InputError).
    """
    path = Path(path)
    kind = check_target(path)
    tmp = path.with_name(f".{path.name}.part")
    done = 0
    size = (0, 0)

    def counted() -> Iterator[QImage]:
        nonlocal done, size
        for image in frames:
            size = (image.width(), image.height())
            yield image
            done += 1
            if progress is not None and progress(done, total) is False:
                raise InputError(f"{path.name}: recording cancelled")

    try:
        if kind == "MP4":
            _write_mp4(tmp, counted(), fps)
        else:
            _write_pillow(tmp, counted(), fps, kind)
        tmp.replace(path)
    except OSError as exc:
        raise InputError(f"{path}: cannot write ({exc.strerror or exc})") from None
    finally:
        tmp.unlink(missing_ok=True)
        close = getattr(frames, "close", None)
        if close is not None:  # a renderer stopped part-way finishes its shot now, not when collected
            close()
    return Recording(path, done, size, path.stat().st_size)


def _write_pillow(path: Path, frames: Iterator[QImage], fps: int, kind: str) -> None:
    from PIL import Image

    duration = int(round(1000 / fps))
    images = []
    palette = None
    for image in frames:
        picture = _to_pil(image)
        if kind == "GIF":  # one palette for the clip: no colour flicker between frames, 1 byte/pixel
            if palette is None:
                palette = picture.quantize(colors=255, method=Image.Quantize.MEDIANCUT)
                picture = palette
            else:
                picture = picture.quantize(palette=palette, dither=Image.Dither.NONE)
        images.append(picture)
    if not images:
        raise InputError(f"{path.name}: nothing to record")
    buffer = io.BytesIO()
    if kind == "GIF":
        images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=duration, loop=0,
                       optimize=False, disposal=1)
    else:
        images[0].save(buffer, format="WEBP", save_all=True, append_images=images[1:], duration=duration, loop=0,
                       quality=80, method=4)
    path.write_bytes(buffer.getvalue())


def _write_mp4(path: Path, frames: Iterator[QImage], fps: int) -> None:
    import imageio_ffmpeg

    writer = None
    try:
        for image in frames:
            if writer is None:
                writer = imageio_ffmpeg.write_frames(str(path), (image.width(), image.height()), fps=fps,
                                                     codec="libx264", pix_fmt_out="yuv420p", macro_block_size=2,
                                                     output_params=["-f", "mp4"], quality=7)
                writer.send(None)
            writer.send(bytes(_to_pil(image).tobytes()))
    finally:
        if writer is not None:
            writer.close()


# -- what to record -------------------------------------------------------------------------------------
def scene_shots(window, scene, seconds: float | None, fps: int) -> list[Shot]:
    """The scene's animation as one shot; a one-line refusal when the scene has nothing to record."""
    problem = getattr(scene, "recording_problem", lambda: None)()
    if problem:
        raise InputError(problem)
    frames = max(1, round(scene_seconds(scene, seconds) * fps))
    length = scene.animation_length()
    if not (getattr(scene, "animation_is_replay", False) and length):
        return [Shot(frames, lambda: scene.seek_animation(0.0), scene.seek_animation)]
    seek = scene.seek_animation if seconds is None else replay_seek(scene.seek_animation, length, frames, fps)
    return [Shot(frames, lambda: seek(0.0), seek, lambda: scene.seek_animation(length))]


def replay_seek(seek: Callable[[float], None], length: float, frames: int, fps: int) -> Callable[[float], None]:
    """A replay of ``length`` seconds spread over a clip of ``frames`` frames: it ends a short hold
    before the clip does (the last frame always shows its end), whatever the clip's length."""
    hold = min(round(HOLD_SECONDS * fps), frames // 5)
    moving = frames - hold  # frames 0 .. moving-1 play the replay, from its start to its end

    def at(clip_seconds: float) -> None:
        i = round(clip_seconds * fps)
        seek(length if moving <= 1 or i >= moving - 1 else length * i / (moving - 1))

    return at


def lesson_shots(window, lesson, seconds_per_step: float | None, fps: int) -> list[Shot]:
    """Each step of a lesson: open it, wait for its picture, play its animation (if any)."""
    from .lesson_bar import open_configured

    shots = []
    for index, step in enumerate(lesson.steps):
        def prepare(i=index, s=step) -> None:
            window.lesson_bar.go_to(i)
            if not open_configured(window, s.scene, s.settings):
                raise InputError(f"lesson step {i + 1}: cannot open scene {s.scene!r}")
            finish_for_still(window, f"lesson step {i + 1}")  # a lab step replays its trained run
            window.current_scene().seek_animation(0.0)

        frames = max(1, round((seconds_per_step or 4.0) * fps))

        def seek(t: float, frames: int = frames) -> None:
            scene = window.current_scene()
            if scene is None:
                return
            length = scene.animation_length()
            if getattr(scene, "animation_is_replay", False) and length:  # the whole run within the step
                replay_seek(scene.seek_animation, length, frames, fps)(t)
            else:
                scene.seek_animation(t)

        # each step as long as its scene's animation (or as asked), at least long enough to read
        shots.append(Shot(frames, prepare, seek))
    return shots


STILL_TIMEOUT_S = 900.0  # the lab's two demo models train in well under a minute on 2 cores


def finish_for_still(window, where: str, keep_going: Callable[[], bool] = lambda: True, what: str = "recording",
                     timeout_s: float = STILL_TIMEOUT_S) -> None:
    """Wait until the current scene has drawn, then let it finish what its picture needs
    (:meth:`Scene.prepare_still`: the lab trains its models to the end) and draw that, processing
    events meanwhile so the worker's results arrive and a progress dialog can cancel
    (``keep_going()`` False: "``what`` cancelled")."""
    import time

    wait_until_drawn(window)
    scene = window.current_scene()
    deadline = time.monotonic() + timeout_s
    app = QCoreApplication.instance()
    prepared = False
    while scene.prepare_still():
        prepared = True
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        if not keep_going():
            raise InputError(f"{what} cancelled")
        if time.monotonic() > deadline:
            raise InputError(f"{where}: {scene.scene_id} did not finish within {timeout_s:.0f} s")
        time.sleep(0.01)
    if prepared:
        wait_until_drawn(window)


def wait_until_drawn(window, timeout_s: float = 120.0) -> None:
    """Process events until the worker is idle and the current scene has drawn once."""
    import time

    deadline = time.monotonic() + timeout_s
    app = QCoreApplication.instance()
    while time.monotonic() < deadline:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        scene = window.current_scene()
        if window.worker.is_idle() and (scene is None or scene.drawn_once):
            _settle()
            return
        time.sleep(0.005)
    raise InputError(f"scene '{window.current_scene().scene_id}' drew nothing within {timeout_s:.0f} s")


# -- the command line: gradsim gui ... --record FILE -------------------------------------------------------
def run_record(args) -> int:
    """``gradsim gui --scene ID [--preset P] [--scenario F] [--lesson L] [--open-run RUN] --record FILE
    [--seconds S] [--fps N] [--size WxH] [--projector]``: render, write, exit 0; a one-line error and
    exit 2. ``--open-run`` names a run saved by the lab or ``gradsim train --save``: the training lab
    replays it."""
    from .launch import parse_size, rendering_window, terminal_progress

    fps = int(getattr(args, "fps", None) or DEFAULT_FPS)
    seconds = getattr(args, "seconds", None)
    try:
        check_timing(seconds, fps)
        check_target(args.record)
        size = parse_size(getattr(args, "size", None), largest=MAX_SIZE) or DEFAULT_SIZE
        with rendering_window(projector=bool(args.projector)) as window:
            frames, total, _widget = _prepare_cli(window, args, size, seconds, fps)
            result = write(args.record, frames, total, fps,
                           terminal_progress(f"gradsim: {Path(args.record).name}", "frame"))
    except InputError as exc:
        print(f"gradsim gui: error: {exc}", file=sys.stderr)
        return 2
    print(f"gradsim gui: wrote {result.path} ({result.frames} frames, {result.size[0]}x{result.size[1]}, "
          f"{result.bytes / 1e6:.1f} MB)", file=sys.stderr)
    return 0


def _prepare_cli(window, args, size, seconds, fps):
    from ..lesson import load_builtin_lesson, load_lesson

    window.show()
    window.set_recording(True, size)
    scene_id = args.scene or window.scene_ids()[0]
    run_file = getattr(args, "open_run", None)
    if run_file:  # a run saved by the lab or gradsim train --save, replayed by the training lab
        if args.scene not in (None, "training"):
            raise InputError(f"--open-run: a saved run is replayed by the training lab (--scene training), "
                             f"not by '{args.scene}'")
        scene_id = "training"
    lesson = None
    if getattr(args, "lesson", None):
        lesson = load_builtin_lesson() if args.lesson == "builtin" else load_lesson(args.lesson)
        window.lesson_bar.set_lesson(lesson)
    scene = window.show_scene(scene_id)
    if getattr(args, "preset", None):
        try:
            scene.apply_preset(args.preset)
        except (ValueError, KeyError) as exc:
            raise InputError(f"--preset: {exc}") from None
    if args.scenario and not window.open_scenario_path(args.scenario):
        raise InputError(window.message_bar.label.text() or f"{args.scenario}: cannot open")
    if run_file and not scene.load_run_from(run_file):
        raise InputError(window.message_bar.label.text() or f"{run_file}: cannot open")
    window.message_bar.hide()
    window.toast.hide()  # "Loaded … from …" and such: not part of any frame
    wait_until_drawn(window)
    widget = window.centralWidget()
    if lesson is not None:
        shots = lesson_shots(window, lesson, seconds, fps)
    else:
        shots = scene_shots(window, window.current_scene(), seconds, fps)
    total = sum(s.frames for s in shots)
    return render_frames(widget, shots, fps, size), total, widget
