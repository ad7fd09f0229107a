"""gradsim: see vanishing and exploding gradients in recurrent networks, and measure them.

Importing this package loads neither Qt nor torch; the desktop app lives in ``gradsim.ui`` and the
engine in ``gradsim.engine``.
"""

__version__ = "0.1.0"


def monitor(*args, **kwargs):
    """Per-timestep gradient monitor for your own PyTorch RNN/LSTM/GRU (see ``gradsim.monitor.core``).

    Imported on first call, so ``import gradsim`` stays free of torch.
    """
    from .monitor.core import monitor as _monitor

    return _monitor(*args, **kwargs)
