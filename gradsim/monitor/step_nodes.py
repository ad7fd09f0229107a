"""Find, in the autograd graph of one call of ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM``, the node that produced
each hidden state ``h_t``: the cheap way to read the exact total ``dL/dh_t``.

Why: PyTorch's CPU kernels for ``nn.RNN`` and ``nn.GRU`` (and for ``nn.LSTM`` whenever oneDNN is not
used, e.g. in float64) are not fused: each layer runs one small cell per timestep and stacks the hidden
states into the output with ``torch.stack``. The node that produced ``h_t`` receives, before it runs,
the sum of everything that flows back into ``h_t`` (from the output at step ``t``, from the step
``t + 1`` that consumed it, from ``h_n``): that sum *is* the total derivative ``dL/dh_t``. A pre-hook on
that node reads it for the price of a Python call, and the model's backward pass does exactly what it
does without the hook. Fused kernels (oneDNN LSTM on CPU, cuDNN) show one node per layer instead; for
them the monitor rebuilds the totals with :mod:`gradsim.monitor.recurrence`.

How the nodes are found, without relying on anything but the graph's shape: from the module's output,
walk back (not entering any ``StackBackward0``) to the stacks with ``T`` inputs: the top layer's
directions, in the order the output concatenates them (forward, then reverse). From the first step of
a layer, walk back the same way to the stacks of the layer below (its input). Any surprise (a count
that does not match the module's layers and directions, a walk that grows too long) returns ``None``
and the caller falls back to the recurrence. Stacked entry ``t`` is the state at input time ``t`` in
both directions (PyTorch reverses the reverse direction's outputs before stacking); the tests check the
totals against ``retain_grad`` on an unrolled copy.

torch is not imported here: the functions only read attributes of the nodes they are given.
"""

from __future__ import annotations

from typing import Any

STACK = "StackBackward0"
LEAF = "AccumulateGrad"
WALK_LIMIT = 4000  # nodes visited per walk; the walks are a few dozen nodes in practice


def _stacks_behind(starts: list[Any], steps: int, stop: set[Any]) -> list[Any] | None:
    """The ``StackBackward0`` nodes with ``steps`` inputs first met walking back from ``starts``
    (depth first, inputs in order), not walking through them, ``AccumulateGrad`` or ``stop``."""
    found: list[Any] = []
    seen: set[Any] = set()
    pending = list(reversed(starts))
    while pending:
        node = pending.pop()
        if node is None or node in seen or node in stop:
            continue
        seen.add(node)
        if len(seen) > WALK_LIMIT:
            return None
        kind = type(node).__name__
        if kind == STACK:
            if len(node.next_functions) == steps:
                found.append(node)
            continue
        if kind == LEAF:
            continue
        pending.extend(reversed([fn for fn, _ in node.next_functions]))
    return found


def find_step_nodes(
    output_fn: Any, steps: int, layers: int, directions: int, stop: set[Any]
) -> dict[tuple[int, int], list[tuple[Any, int]]] | None:
    """``{(layer, direction): [(node, output_nr) for t in 0..T-1]}`` for every layer and direction of
    one module call, or ``None`` when the graph does not have the unfused shape described above.

    ``output_fn`` is the ``grad_fn`` of the module's output sequence; ``stop`` holds the ``grad_fn`` of
    the module's input and initial state, where the walks must not go.
    """
    if output_fn is None or steps < 1:
        return None
    result: dict[tuple[int, int], list[tuple[Any, int]]] = {}
    stacks = _stacks_behind([output_fn], steps, stop)
    for layer in range(layers - 1, -1, -1):
        if stacks is None or len(stacks) != directions:
            return None
        for d, stack in enumerate(stacks):
            entries = list(stack.next_functions)
            if any(fn is None for fn, _ in entries) or len({id(fn) for fn, _ in entries}) != steps:
                return None
            result[(layer, d)] = entries
        if layer:
            # The first step of the forward direction depends on the layer's input and h_0 only.
            stacks = _stacks_behind([result[(layer, 0)][0][0]], steps, stop)
    return result
