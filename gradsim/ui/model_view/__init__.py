"""Windows for the user's own models and runs: File ▸ Open model… and File ▸ Open run….

- :mod:`.file_scene`: the scene base for one opened file (progress and Stop, refusal, shutdown);
- :mod:`.model`: :class:`ModelView`, a saved ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` state dict;
- :mod:`.run`: :class:`RunView`, a ``gradsim.monitor`` run log, followed live;
- :mod:`.window`: the window around either, and the functions the main window calls.

Their states and worker jobs are Qt-free, in :mod:`gradsim.states.model_view` and
:mod:`gradsim.states.run_view`.
"""

from .model import MODEL_FILTER, ModelView
from .run import RunView
from .window import _FileWindow, open_model_window, open_run_window, restyle_windows

__all__ = ["MODEL_FILTER", "ModelView", "RunView", "_FileWindow", "open_model_window",
           "open_run_window", "restyle_windows"]
