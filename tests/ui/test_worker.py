"""The compute worker's lanes, cancellation and signals (no main window needed).

Jobs here block on events the test controls, so every wait is on a condition or a signal.
"""

from __future__ import annotations

import os
import threading

import pytest

from gradsim.engine.cancel import check_cancelled
from gradsim.engine.errors import InputError
from gradsim.ui.worker import (
    BACKGROUND,
    FILES,
    REUSED_RESULTS,
    VISIBLE,
    ComputeWorker,
    GeneratorTask,
    describe_error,
    read_off_gui_thread,
)


@pytest.fixture
def worker(qtbot):
    w = ComputeWorker()
    yield w
    w.shutdown()


def blocked(started: threading.Event, release: threading.Event, value=None):
    """A job that waits until the test releases it, staying cancellable meanwhile."""
    started.set()
    while not release.wait(0.005):
        check_cancelled()
    return value


def collect(worker):
    results: dict[str, object] = {}
    worker.finished.connect(lambda key, _id, result: results.__setitem__(key, result))
    return results


def test_submit_finished_and_idle_work_as_before(worker, qtbot):
    results = collect(worker)
    with qtbot.waitSignal(worker.finished):
        worker.submit("flow:main", pow, 2, 10)
    assert results["flow:main"] == 1024
    qtbot.waitUntil(worker.is_idle)


def test_a_kept_result_is_delivered_again_without_computing(worker, qtbot):
    """``reuse``: the same call again (undo, redo, reset) is answered with the kept result, through
    the same queued signal, after the caller has its request id; other arguments, unhashable
    arguments and requests without ``reuse`` are computed; only the last REUSED_RESULTS are kept."""
    calls = []

    def square(x):
        calls.append(x)
        return [x, x]  # a new object each time it is computed

    got = []
    worker.finished.connect(lambda key, request_id, result: got.append((key, request_id, result)))

    def ask(*args, reuse=True):
        with qtbot.waitSignal(worker.finished):
            request_id = worker.submit("flow:main", square, *args, reuse=reuse)
            assert not got or got[-1][1] != request_id  # not delivered before the caller has the id
        qtbot.waitUntil(worker.is_idle)
        assert got[-1][:2] == ("flow:main", request_id)
        return got[-1][2]

    first = ask(3)
    assert ask(3) is first and calls == [3] and worker.reused == 1
    assert ask(4) == [4, 4] and calls == [3, 4]
    assert ask(3, reuse=False) == [3, 3] and calls == [3, 4, 3]  # without reuse: computed
    assert ask((1, [2])) == [(1, [2])] * 2 and ask((1, [2])) is not got[-2][2]  # a list cannot be hashed
    for x in range(100, 100 + REUSED_RESULTS):  # push 3 and 4 out of the kept results
        ask(x)
    before = len(calls)
    ask(3)
    assert len(calls) == before + 1 and worker.reused == 1


def test_errors_arrive_as_exceptions_made_one_line_for_the_bar(worker, qtbot):
    caught = []
    worker.errored.connect(lambda key, _id, exc: caught.append(exc))

    def refuse():
        raise InputError("x.json: bad\nsecond line")

    def crash():
        raise KeyError("weight_hh_l0")

    with qtbot.waitSignal(worker.errored):
        worker.submit("flow:main", refuse)
    with qtbot.waitSignal(worker.errored):
        worker.submit("flow:main", crash)
    assert isinstance(caught[0], InputError) and describe_error(caught[0]) == "x.json: bad\\nsecond line"
    assert isinstance(caught[1], KeyError) and describe_error(caught[1]) == "KeyError: 'weight_hh_l0'"


@pytest.mark.parametrize("other", ["background", "file"])
def test_visible_scene_never_waits_behind_a_background_job_or_a_file(worker, qtbot, other):
    """Before torch is imported, background and file jobs take turns (they may import it); the
    visible scene's jobs run beside either."""
    worker.set_visible("flow")
    results = collect(worker)
    started, release = threading.Event(), threading.Event()
    if other == "background":
        worker.submit("agreement:main", blocked, started, release, "slow")
        assert worker.lane_of("agreement:main") == BACKGROUND
    else:
        worker.submit("open:file", blocked, started, release, "slow", lane=FILES)
    qtbot.waitUntil(started.is_set)
    assert worker.lane_of("flow:main") == VISIBLE
    with qtbot.waitSignal(worker.finished):
        worker.submit("flow:main", pow, 3, 3)
    assert results == {"flow:main": 27}  # while the other job still runs
    release.set()
    qtbot.waitUntil(lambda: len(results) == 2)


def test_switching_scenes_hands_the_old_job_to_the_background(worker, qtbot):
    worker.set_visible("agreement")
    results = collect(worker)
    started, release = threading.Event(), threading.Event()
    worker.submit("agreement:main", blocked, started, release, "slow")
    qtbot.waitUntil(started.is_set)
    worker.set_visible("flow")  # the user switches scenes while the agreement model computes
    with qtbot.waitSignal(worker.finished):
        worker.submit("flow:main", pow, 2, 5)
    assert results == {"flow:main": 32}
    release.set()
    qtbot.waitUntil(lambda: "agreement:main" in results)  # the old job still delivers


def test_cancel_and_supersede_stop_running_jobs(worker, qtbot):
    results = collect(worker)
    started, never = threading.Event(), threading.Event()
    worker.submit("flow:main", blocked, started, never)
    qtbot.waitUntil(started.is_set)
    assert worker.cancel("flow:main")
    qtbot.waitUntil(worker.is_idle)
    assert worker.cancelled_jobs == 1 and results == {}

    started.clear()
    worker.submit("flow:main", blocked, started, never, "stale")
    qtbot.waitUntil(started.is_set)
    with qtbot.waitSignal(worker.finished):
        worker.submit("flow:main", pow, 2, 2)  # the newer request cancels the stale one
    assert results == {"flow:main": 4} and worker.cancelled_jobs == 2


def test_shutdown_cancels_running_work(qtbot):
    worker = ComputeWorker()
    started, never = threading.Event(), threading.Event()
    worker.submit("flow:main", blocked, started, never)
    worker.submit("x:file", blocked, threading.Event(), never, lane=FILES)
    qtbot.waitUntil(started.is_set)
    assert worker.shutdown()  # every thread ended: cancelled at its next checkpoint
    assert not worker.accepting


def test_busy_follows_the_work(worker, qtbot):
    states = []
    worker.busy_changed.connect(states.append)
    started, release = threading.Event(), threading.Event()
    worker.submit("flow:main", blocked, started, release)
    qtbot.waitUntil(started.is_set)
    assert worker.busy
    release.set()
    qtbot.waitUntil(lambda: states and states[-1] is False)
    assert states == [True, False]


def test_pause_holds_jobs_at_their_checkpoints(worker, qtbot):
    results = collect(worker)
    with qtbot.waitSignal(worker.paused) as blocker:
        worker.set_paused(True)
    assert blocker.args == [True]
    worker.submit("flow:main", pow, 5, 2)
    assert not worker.is_idle()  # pending, not started while paused
    with qtbot.waitSignal(worker.finished):
        worker.set_paused(False)
    assert results == {"flow:main": 25}


def test_generator_task_pauses_and_cancels_a_long_step(qtbot):
    release = threading.Event()

    def job():
        yield 1
        while not release.wait(0.005):  # a long "training step" with engine checkpoints
            check_cancelled()
        yield 2

    task = GeneratorTask(job)
    with qtbot.waitSignal(task.paused_changed) as blocker:
        task.start(paused=True)
    assert blocker.args == [True]
    with qtbot.waitSignal(task.snapshot):
        task.step()
    with qtbot.waitSignal(task.ended) as ended:
        task.resume()
        assert task.stop(timeout=30, cancel_after=0.05)  # cancelled inside the long step
    assert ended.args == ["stopped"]


def test_read_off_gui_thread(tmp_path, qtbot, worker):
    path = tmp_path / "a.txt"
    path.write_text("hello")
    from gradsim.engine.files import read_bytes

    assert read_off_gui_thread(worker, read_bytes, path, 100) == b"hello"
    if hasattr(os, "mkfifo"):
        fifo = tmp_path / "pipe.gradsim.json"
        os.mkfifo(fifo)
        with pytest.raises(InputError, match="named pipe"):
            read_off_gui_thread(worker, read_bytes, fifo, 100)


def test_garbage_is_collected_on_the_gui_thread_not_a_worker(worker, qtbot):
    """A cycle dropped on the GUI thread is not collected by a worker thread that allocates (where
    Python's own collector would run, destroying any Qt objects in it on the wrong thread) but by the
    GUI thread's collector, within a few of its one-second rounds."""
    import gc

    collected_on = []

    class Cycle:
        def __init__(self):
            self.me = self

        def __del__(self):
            collected_on.append(threading.get_ident())

    assert not gc.isenabled()
    Cycle()  # garbage now, in the youngest generation: the next collection of any thread finds it

    def allocate():  # far past the youngest generation's threshold (700 objects)
        return len([[i] for i in range(50_000)])

    with qtbot.waitSignal(worker.finished, timeout=10000):
        worker.submit("garbage", allocate)
    # the worker's lists are gone again; new live objects take the youngest generation's count past
    # its threshold, so the GUI thread's next round collects it (if no round has yet)
    alive = [[] for _ in range(2 * gc.get_threshold()[0])]
    qtbot.waitUntil(lambda: bool(collected_on), timeout=10000)
    del alive
    assert collected_on == [threading.get_ident()]
