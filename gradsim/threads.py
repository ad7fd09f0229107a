"""How many threads torch computes with in gradsim's own programs, and the one call that sets it.

A thread count is a setting of the whole process, so it belongs to whoever owns the process. The
engine and the monitor (``gradsim.engine``, ``gradsim.monitor``) never change it: someone who
imports them into their own program keeps the ``torch.set_num_threads`` they chose. gradsim's own
programs own their process and call :func:`use_gradsim_threads` once: the command line at the start
of the verbs that run torch (``gradsim train``; ``gradsim flow`` for an LSTM or GRU), the app on its
worker thread as soon as torch is first imported (``gradsim.ui.worker.run_guarded``), and the
scripts that train the shipped models.

One intra-op thread: gradsim's matrices are small (tens to a few hundred units a side), and in the
app the other core is left to the GUI thread, which keeps drawing while a model trains.
"""

from __future__ import annotations

from typing import Any

TORCH_THREADS = 1


def use_gradsim_threads(torch: Any = None) -> None:
    """Set torch's intra-op thread count to :data:`TORCH_THREADS` for this process (pass the torch
    module when the caller has it; otherwise it is imported here)."""
    if torch is None:
        import torch
    torch.set_num_threads(TORCH_THREADS)
