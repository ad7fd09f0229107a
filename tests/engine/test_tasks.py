"""Copy-memory and adding-problem generators: layout, targets, determinism, chance levels."""

import numpy as np
import pytest

from gradsim.engine import tasks
from gradsim.engine.errors import InputError


def test_copy_memory_layout_and_targets():
    rng = np.random.default_rng(0)
    symbols, categories, delay = 3, 5, 7
    b = tasks.copy_memory_batch(rng, 32, symbols, categories, delay)
    length = symbols + delay + symbols
    assert b.inputs.shape == (32, length) and b.inputs.dtype == np.int64
    assert b.targets.shape == (32, symbols) and b.targets.dtype == np.int64
    assert b.length == length == tasks.copy_length(symbols, delay)
    # the answer is the first L symbols, as categories 0..K-1
    np.testing.assert_array_equal(b.targets, b.inputs[:, :symbols] - 1)
    assert b.targets.min() >= 0 and b.targets.max() < categories
    # D blanks, then the marker, then L-1 blanks
    assert (b.inputs[:, symbols : symbols + delay] == tasks.BLANK).all()
    assert (b.inputs[:, symbols + delay] == categories + 1).all()
    assert (b.inputs[:, symbols + delay + 1 :] == tasks.BLANK).all()
    # read out at the marker and the L-1 steps after it
    np.testing.assert_array_equal(b.readout, np.arange(symbols + delay, length))
    # the symbols never collide with blank or marker ids
    assert ((b.inputs[:, :symbols] >= 1) & (b.inputs[:, :symbols] <= categories)).all()


def test_copy_memory_zero_delay_single_symbol():
    b = tasks.copy_memory_batch(np.random.default_rng(1), 4, 1, 8, 0)
    assert b.inputs.shape == (4, 2)
    assert (b.inputs[:, 1] == 9).all()
    np.testing.assert_array_equal(b.readout, [1])


def test_copy_memory_uses_every_category_evenly():
    b = tasks.copy_memory_batch(np.random.default_rng(2), 40000, 1, 8, 1)
    counts = np.bincount(b.targets.ravel(), minlength=8) / b.targets.size
    assert np.allclose(counts, 1 / 8, atol=0.01)


def test_determinism_by_seed():
    a = tasks.copy_memory_batch(np.random.default_rng(42), 16, 2, 8, 5)
    b = tasks.copy_memory_batch(np.random.default_rng(42), 16, 2, 8, 5)
    c = tasks.copy_memory_batch(np.random.default_rng(43), 16, 2, 8, 5)
    np.testing.assert_array_equal(a.inputs, b.inputs)
    np.testing.assert_array_equal(a.targets, b.targets)
    assert not np.array_equal(a.inputs, c.inputs)
    x = tasks.adding_batch(np.random.default_rng(7), 8, 10)
    y = tasks.adding_batch(np.random.default_rng(7), 8, 10)
    np.testing.assert_array_equal(x.inputs, y.inputs)
    np.testing.assert_array_equal(x.targets, y.targets)


def test_adding_problem_markers_and_sums():
    length = 11
    b = tasks.adding_batch(np.random.default_rng(3), 500, length)
    assert b.inputs.shape == (500, length, 2) and b.inputs.dtype == np.float32
    assert b.targets.shape == (500, 1)
    values, markers = b.inputs[..., 0], b.inputs[..., 1]
    assert ((values >= 0) & (values < 1)).all()
    assert (markers.sum(axis=1) == 2).all()
    half = length // 2
    assert (markers[:, :half].sum(axis=1) == 1).all()
    assert (markers[:, half:].sum(axis=1) == 1).all()
    np.testing.assert_allclose(b.targets[:, 0], (values * markers).sum(axis=1), rtol=1e-6)
    np.testing.assert_array_equal(b.readout, [length - 1])


def test_chance_levels_against_simulation():
    assert tasks.copy_chance(8) == 0.125
    assert tasks.copy_chance_loss(8) == pytest.approx(np.log(8))
    # constant answer 1.0 on the adding problem, estimated by sampling the task itself
    b = tasks.adding_batch(np.random.default_rng(5), 200_000, 6)
    hits = np.mean(np.abs(b.targets[:, 0] - 1.0) < tasks.ADDING_TOLERANCE)
    assert hits == pytest.approx(tasks.adding_chance(), abs=0.003)
    mse = np.mean((b.targets[:, 0] - 1.0) ** 2)
    assert mse == pytest.approx(tasks.ADDING_CHANCE_LOSS, abs=0.003)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"batch": 0, "symbols": 1, "categories": 8, "delay": 3},
        {"batch": 4, "symbols": 0, "categories": 8, "delay": 3},
        {"batch": 4, "symbols": 1, "categories": 1, "delay": 3},
        {"batch": 4, "symbols": 1, "categories": 8, "delay": -1},
        {"batch": 4, "symbols": 1.5, "categories": 8, "delay": 3},
    ],
)
def test_bad_copy_arguments_are_refused(kwargs):
    with pytest.raises(InputError):
        tasks.copy_memory_batch(np.random.default_rng(0), **kwargs)


def test_bad_adding_length_is_refused():
    with pytest.raises(InputError, match="length"):
        tasks.adding_batch(np.random.default_rng(0), 4, 1)
