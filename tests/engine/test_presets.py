"""Presets stored as numbers must still be what their recipe makes."""

import json

import numpy as np
import pytest

from gradsim.paths import resource

pytest.importorskip("torch")


def test_pytorch_example_preset_regenerates_identically():
    from scripts.make_presets import pytorch_example

    stored = json.loads(resource("presets", "pytorch_example.gradsim.json").read_text())
    fresh = pytorch_example()
    for key in ("W_hh", "W_xh", "x"):
        np.testing.assert_array_equal(np.array(stored[key]), np.array(fresh[key]))
