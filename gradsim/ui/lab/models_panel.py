"""The controls of one model of the lab: its cell (a recurrent cell or the small Transformer), the
LSTM's forget-gate bias, the vanilla RNN's activation and ``W_hh``. The panel shows a
:class:`~gradsim.states.training.ModelSpec` and reports each change as ``changed(field, value)``; it
keeps no settings of its own."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFormLayout, QGroupBox

from ...engine.activations import ACTIVATIONS, get_activation
from ...engine.init import INITIALISERS
from ...engine.training import MODELS, TRANSFORMER_BLOCKS, TRANSFORMER_MLP
from ...states.training import SLOT_NAMES, ModelSpec
from ..controls import Choice, SliderSpin

# short names: a combo box shows its whole text in a projector's narrow drawer (the tooltips say more)
INIT_NAMES = {"gaussian": "Gaussian (radius)", "orthogonal": "Orthogonal", "identity": "Identity",
              "pytorch_default": "PyTorch default"}
CELL_NAMES = {"rnn": "Vanilla RNN", "lstm": "LSTM", "gru": "GRU", "transformer": "Transformer"}


class ModelPanel(QGroupBox):
    """Model A, B or C. B and C have a tick box: ticked, the model trains beside the others."""

    changed = Signal(str, object)  # field of ModelSpec, new value
    included = Signal(bool)  # the tick box of B or C

    def __init__(self, index: int) -> None:
        super().__init__(f"Model {SLOT_NAMES[index]}")
        self.index = index
        if index > 0:
            self.setCheckable(True)
            self.setToolTip(f"Tick to train model {SLOT_NAMES[index]} side by side with the others")
            self.toggled.connect(self.included.emit)
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.cell = Choice([(c, CELL_NAMES[c]) for c in MODELS], "rnn",
                           tooltip="Vanilla (Elman) RNN, LSTM or GRU, with PyTorch's equations, or a small causal "
                                   f"Transformer: {TRANSFORMER_BLOCKS} blocks of self-attention (up to 4 heads) and "
                                   f"an MLP {TRANSFORMER_MLP} × as wide, its width the Hidden setting; it has no "
                                   "recurrent state: attention reaches every earlier step in one hop")
        self.forget_bias = SliderSpin(-2.0, 6.0, 0.5, 3.0, decimals=1,
                                      tooltip="LSTM forget-gate bias at the start: a large value keeps the "
                                              "forget gate open (≈ 1), so the cell state carries the gradient back")
        self.activation = Choice([(a, get_activation(a).label) for a in ACTIVATIONS], "tanh",
                                 tooltip="Vanilla RNN activation f in hₜ = f(W_hh hₜ₋₁ + W_xh xₜ + b)")
        self.init = Choice([(i, INIT_NAMES[i]) for i in INITIALISERS], "pytorch_default",
                           tooltip="How the vanilla RNN's W_hh is drawn before training: Gaussian scaled to a "
                                   "spectral radius, orthogonal × gain, identity × gain (IRNN), or PyTorch's "
                                   "default uniform × scale")
        self.scale = SliderSpin(0.0, 2.5, 0.05, 1.0,
                                tooltip="Vanilla RNN W_hh scale: spectral radius (Gaussian), gain (orthogonal, "
                                        "identity) or multiplier of PyTorch's default")
        form.addRow("Cell", self.cell)
        form.addRow("Forget bias", self.forget_bias)
        form.addRow("Activation", self.activation)
        form.addRow("W_hh init", self.init)
        form.addRow("W_hh scale", self.scale)
        for name in ("cell", "activation", "init"):
            getattr(self, name).choiceChanged.connect(lambda value, name=name: self.changed.emit(name, value))
        for name in ("forget_bias", "scale"):
            getattr(self, name).valueChanged.connect(lambda value, name=name: self.changed.emit(name, float(value)))

    def show_model(self, model: ModelSpec, included: bool) -> None:
        """Put a model on the controls (the caller ignores the change signals meanwhile)."""
        if self.isCheckable():
            self.setChecked(included)
        self.cell.set_value(model.cell)
        self.forget_bias.setValue(model.forget_bias)
        self.activation.set_value(model.activation)
        self.init.set_value(model.init)
        self.scale.setValue(model.scale)
        # (the group box disables everything while unticked; enabling a child would undo that)
        self.forget_bias.setEnabled(included and model.cell == "lstm")
        for w in (self.activation, self.init, self.scale):
            w.setEnabled(included and model.cell == "rnn")
