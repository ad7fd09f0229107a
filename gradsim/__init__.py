"""gradsim: see vanishing and exploding gradients in recurrent networks, and measure them.

Importing this package loads neither Qt nor torch; the desktop app lives in ``gradsim.ui`` and the
engine in ``gradsim.engine``.
"""

__version__ = "0.1.0"
