"""Subject-verb agreement: a synthetic corpus, small recurrent models that predict the verb's number,
their accuracy against subject-verb distance, and the gradient signal the verb sends back to every
token (saliency).

Why this exists: "the gradient vanishes" is abstract until it is tied to a task a reader knows. In
"The cats, which we adopted from the shelter that opened last year, sit quietly" the verb must agree
with a subject 13 tokens back. A network reads the sentence left to right and, when it reaches the
verb, must still know whether the subject was singular or plural. Training can only teach it to keep that
bit if the verb's error signal reaches the subject's token, and in a vanilla RNN that signal shrinks by
roughly a constant factor per token.

Conventions used throughout:

- ``distance`` = verb position minus subject position: "The cat sits" has distance 1 and the cats
  sentence 13 (as in the seeds). The network reads the sentence with the verb replaced by a
  placeholder token and answers at the verb's own step, so the verb's gradient crosses exactly
  ``distance`` recurrent steps back to the subject: the seeds' "13 copies of diag(1 - h^2) W_hh".
- Number labels: 0 = singular, 1 = plural. The model outputs one logit for "plural"; the loss is the
  binary cross-entropy of that logit against the subject's number.
- Token ids: 0 is padding, 1 the verb placeholder, then the vocabulary's words in sorted order
  (lower case).

Two corpora, from the same vocabulary (``resources/agreement/vocabulary.json``):

- :func:`training_batch`: "the", a subject noun, ``distance - 1`` random filler words, then the verb
  placeholder. Each filler is, with probability ``attractor_rate``, an *attractor* (a noun of the
  opposite number) and with the same probability a noun of the subject's own number, so the nouns in
  between carry no hint of the answer. (With attractors alone, "the opposite of any noun seen" answers
  without any memory; a vanilla RNN trained that way scored 100 % at distance 30.) This is what the
  models are trained and scored on.
- :func:`generate_sentence`: readable sentences built from prepositional phrases and relative clauses
  whose nouns are attractors, padded with adverbs to an exact distance, for the sentence view; plus
  the seeds' example sentences (:func:`seed_sentences`).

torch is imported inside the functions that need it: importing this module loads neither torch nor Qt.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from gradsim.engine.errors import InputError
from gradsim.engine.files import read_json
from gradsim.paths import resource

SINGULAR, PLURAL = 0, 1
NUMBER_NAMES = ("singular", "plural")
CELLS = ("rnn", "lstm")
CELL_LABELS = {"rnn": "vanilla RNN", "lstm": "LSTM"}
PAD = "<pad>"
#: Stands in for the verb in the network's input: the network answers at this step.
VERB_SLOT = "<verb>"

MAX_DISTANCE = 60
FIXED_DISTANCES = (5, 10, 15, 20, 25, 30)
MIXED_RANGE = (1, 40)
#: The seeds' "typical gradient decay factor" per step, used only as a labelled reference value.
SEED_DECAY_FACTOR = 0.7

MODELS_FORMAT = "gradsim.agreement-models/1"
VOCABULARY_FORMAT = "gradsim.agreement-vocabulary/1"
SENTENCES_FORMAT = "gradsim.agreement-sentences/1"
MAX_DATA_BYTES = 1024 * 1024  # a vocabulary or sentences file (the shipped ones are 2 KB)


# --------------------------------------------------------------------------------------------------
# vocabulary


@dataclass(frozen=True)
class Vocabulary:
    """The corpus's words. ``words[i]`` is the token of id ``i`` (id 0 is padding)."""

    nouns: tuple[tuple[str, str], ...]
    subject_nouns: tuple[str, ...]
    verbs: tuple[tuple[str, str], ...]
    verb_tails: dict[str, tuple[str, ...]]
    fillers: dict[str, tuple[str, ...]]
    two_word_pads: tuple[tuple[str, str], ...]
    words: tuple[str, ...]

    @property
    def size(self) -> int:
        return len(self.words)

    @property
    def index(self) -> dict[str, int]:
        return _word_index(self.words)

    def encode(self, tokens: Sequence[str]) -> np.ndarray:
        """Token ids of ``tokens`` (case-insensitive); an unknown word raises :class:`InputError`."""
        index = self.index
        ids = []
        for token in tokens:
            key = token.lower()
            if key not in index:
                raise InputError(f"the word {token!r} is not in the agreement vocabulary")
            ids.append(index[key])
        return np.asarray(ids, dtype=np.int64)

    def number_of(self, word: str) -> int | None:
        """SINGULAR or PLURAL for a noun, ``None`` for any other word."""
        return _number_in(self.nouns, word)

    def filler_words(self) -> tuple[str, ...]:
        """Every word that carries no number: what the training corpus draws its fillers from."""
        numbered = {w for pair in self.nouns + self.verbs for w in pair}
        return tuple(w for w in self.words[2:] if w not in numbered)

    def fingerprint(self) -> str:
        """A string that changes whenever the id assignment changes (stored with trained weights)."""
        return " ".join(self.words)


@lru_cache(maxsize=8)
def _word_index(words: tuple[str, ...]) -> dict[str, int]:
    return {w: i for i, w in enumerate(words)}


def _read_json(path: Path, fmt: str) -> dict[str, Any]:
    """A vocabulary or sentences file, read as strictly as every JSON file gradsim opens."""
    data = read_json(path, MAX_DATA_BYTES, "agreement data")
    if not isinstance(data, dict) or data.get("format") != fmt:
        raise InputError(f"{path.name}: not a {fmt} file")
    return data


def _pairs(data: Any, what: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(data, list) or not all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(w, str) and w for w in p) for p in data
    ):
        raise InputError(f"vocabulary.json: {what} must be a list of [singular, plural] word pairs")
    return tuple((p[0].lower(), p[1].lower()) for p in data)


def _words(data: Any, what: str) -> tuple[str, ...]:
    if not isinstance(data, list) or not all(isinstance(w, str) and w for w in data):
        raise InputError(f"vocabulary.json: {what} must be a list of words")
    return tuple(w.lower() for w in data)


@lru_cache(maxsize=4)
def load_vocabulary(path: str | None = None) -> Vocabulary:
    """Read the vocabulary JSON (default: the shipped ``resources/agreement/vocabulary.json``)."""
    p = Path(path) if path else resource("agreement", "vocabulary.json")
    data = _read_json(p, VOCABULARY_FORMAT)
    nouns = _pairs(data.get("nouns"), "nouns")
    verbs = _pairs(data.get("verbs"), "verbs")
    subject_nouns = _words(data.get("subject_nouns"), "subject_nouns")
    singular_nouns = {s for s, _ in nouns}
    if not subject_nouns or not set(subject_nouns) <= singular_nouns:
        raise InputError("vocabulary.json: subject_nouns must be singular forms listed in nouns")
    raw_fillers = data.get("fillers")
    if not isinstance(raw_fillers, dict):
        raise InputError("vocabulary.json: fillers must be an object of word lists")
    fillers = {k: _words(v, f"fillers.{k}") for k, v in raw_fillers.items() if k != "two_word_pad"}
    pads = _pairs(raw_fillers.get("two_word_pad", []), "fillers.two_word_pad")
    needed = ("determiner", "preposition", "adjective", "pronoun", "relative", "past_verb", "adverb")
    missing = [k for k in needed if not fillers.get(k)]
    if missing:
        raise InputError(f"vocabulary.json: missing filler group(s) {', '.join(missing)}")
    raw_tails = data.get("verb_tails", {})
    if not isinstance(raw_tails, dict):
        raise InputError("vocabulary.json: verb_tails must be an object")
    tails = {k.lower(): _words(v, f"verb_tails.{k}") for k, v in raw_tails.items()}
    numbered = {w for pair in nouns + verbs for w in pair}
    plain = {w for group in fillers.values() for w in group} | {w for pair in pads for w in pair}
    clash = sorted(numbered & plain)
    if clash:
        raise InputError(f"vocabulary.json: filler word(s) also listed as noun or verb: {', '.join(clash)}")
    words = (PAD, VERB_SLOT, *sorted(numbered | plain | {w for t in tails.values() for w in t}))
    return Vocabulary(nouns, subject_nouns, verbs, tails, fillers, pads, words)


# --------------------------------------------------------------------------------------------------
# sentences


@dataclass(frozen=True)
class Sentence:
    """One sentence of the sentence view.

    ``subject`` and ``verb`` are 0-based token indices; ``attractors`` the indices of nouns of the
    opposite number standing between them; ``source`` is ``"seed"`` or ``"generated"``.
    """

    tokens: tuple[str, ...]
    subject: int
    verb: int
    number: int
    attractors: tuple[int, ...] = ()
    source: str = "generated"
    note: str = ""

    @property
    def distance(self) -> int:
        """Verb position minus subject position = recurrent steps from the subject to the answer."""
        return self.verb - self.subject

    @property
    def text(self) -> str:
        out = ""
        for tok in self.tokens:
            out += tok if (not out or tok in {",", "."}) else " " + tok
        return out

    @property
    def read_tokens(self) -> tuple[str, ...]:
        """What the network reads: the tokens before the verb, then the verb placeholder."""
        return (*self.tokens[: self.verb], VERB_SLOT)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tokens": list(self.tokens),
            "subject": self.subject,
            "verb": self.verb,
            "number": NUMBER_NAMES[self.number],
            "attractors": list(self.attractors),
            "distance": self.distance,
            "source": self.source,
            "text": self.text,
        }


def _check_int(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise InputError(f"{name} must be an integer from {low} to {high}, got {value!r}")
    return int(value)


def _check_number(number: Any) -> int:
    if number in ("singular", SINGULAR) and not isinstance(number, bool):
        return SINGULAR
    if number in ("plural", PLURAL) and not isinstance(number, bool):
        return PLURAL
    raise InputError(f"number must be 'singular' or 'plural', got {number!r}")


@lru_cache(maxsize=2)
def seed_sentences(path: str | None = None) -> tuple[Sentence, ...]:
    """The example sentences the seed texts discuss, with subject, verb and attractors marked."""
    vocab = load_vocabulary()
    p = Path(path) if path else resource("agreement", "sentences.json")
    data = _read_json(p, SENTENCES_FORMAT)
    raw = data.get("sentences")
    if not isinstance(raw, list) or not raw:
        raise InputError(f"{p.name}: sentences must be a non-empty list")
    out = []
    for i, item in enumerate(raw):
        try:
            tokens = tuple(str(t) for t in item["tokens"])
            subject, verb = int(item["subject"]), int(item["verb"])
        except (KeyError, TypeError, ValueError):
            raise InputError(f"{p.name}: sentence {i + 1} needs tokens, subject and verb") from None
        if not 0 <= subject < verb < len(tokens):
            raise InputError(f"{p.name}: sentence {i + 1} has subject/verb indices out of order")
        number = vocab.number_of(tokens[subject])
        if number is None:
            raise InputError(f"{p.name}: sentence {i + 1}: {tokens[subject]!r} is not a known noun")
        verb_number = _number_in(vocab.verbs, tokens[verb])
        if verb_number is not None and verb_number != number:
            raise InputError(f"{p.name}: sentence {i + 1}: the verb does not agree with the subject")
        vocab.encode(tokens[:verb])  # every token the model reads must be known
        attractors = tuple(
            j for j in range(subject + 1, verb) if vocab.number_of(tokens[j]) == 1 - number
        )
        out.append(Sentence(tokens, subject, verb, number, attractors, "seed", str(item.get("note", ""))))
    return tuple(out)


def _number_in(pairs: tuple[tuple[str, str], ...], word: str) -> int | None:
    """SINGULAR or PLURAL if ``word`` is one of the (singular, plural) ``pairs``, else ``None``."""
    key = word.lower()
    for singular, plural in pairs:
        if key == singular:
            return SINGULAR
        if key == plural:
            return PLURAL
    return None


def generate_sentence(distance: int, number: Any = "plural", seed: int = 0, attractors: bool = True) -> Sentence:
    """A readable sentence whose verb stands exactly ``distance`` tokens after its subject.

    Between them: at most one relative clause (", which we adopted ... ," or "that the dogs chased"),
    a chain of prepositional phrases ("near the dogs behind the old gardens") and, to land on the
    distance exactly, a one- or two-word adverbial. With ``attractors`` every noun in between has
    the opposite number of the subject (the hard case: a reader that tracks "the last noun" gets the
    verb wrong); without, they share the subject's number. Deterministic in its arguments.
    """
    distance = _check_int("distance", distance, 1, MAX_DISTANCE)
    num = _check_number(number)
    seed = _check_int("seed", seed, 0, 2**32 - 1)
    vocab = load_vocabulary()
    rng = np.random.default_rng([seed, distance, num, int(attractors), 7])
    f = vocab.fillers
    noun_number = 1 - num if attractors else num

    def pick(seq: Sequence[Any]) -> Any:
        return seq[int(rng.integers(len(seq)))]

    def noun() -> tuple[str, bool]:
        return pick(vocab.nouns)[noun_number], True

    def word(group: str) -> tuple[str, bool]:
        w = pick(f[group])
        return ("I" if w == "i" else w), False

    def prepositional(room: int) -> list[tuple[str, bool]]:
        """One prepositional phrase of 3 or 4 words (with an adjective), or [] if room < 3."""
        if room < 3:
            return []
        adjective = [word("adjective")] if room >= 4 and rng.random() < 0.4 else []
        return [word("preposition"), ("the", False), *adjective, noun()]

    def adverbial(room: int) -> list[tuple[str, bool]]:
        if room >= 2 and vocab.two_word_pads:
            return [(w, False) for w in pick(vocab.two_word_pads)]
        return [word("adverb")] if room >= 1 else []

    room = distance - 1
    clause: list[tuple[str, bool]] = []
    closing: list[tuple[str, bool]] = []
    choice = rng.random()
    if room >= 5 and choice < 0.45:
        clause = [(",", False), ("which", False), word("pronoun"), word("past_verb")]
        closing = [(",", False)]
    elif room >= 4 and choice < 0.7:
        clause = [word("relative"), ("the", False), noun(), word("past_verb")]
    elif room >= 3 and choice < 0.85:
        clause = [word("relative"), word("pronoun"), word("past_verb")]
    room -= len(clause) + len(closing)
    phrases: list[tuple[str, bool]] = []
    while room >= 3:
        pp = prepositional(room)
        phrases += pp
        room -= len(pp)
    pad = adverbial(room) if room else []
    room -= len(pad)
    if room:  # two-word pads unavailable: fill with single adverbs
        pad += [word("adverb") for _ in range(room)]
    middle = clause + phrases + pad + closing
    subject = pick(vocab.subject_nouns)
    subject = subject if num == SINGULAR else dict(vocab.nouns)[subject]
    verb_pair = pick(vocab.verbs)
    tails = vocab.verb_tails.get(verb_pair[0], ())
    tokens = ["The", subject, *(w for w, _ in middle), verb_pair[num], *([pick(tails)] if tails else []), "."]
    attractor_idx = tuple(2 + i for i, (_, is_noun) in enumerate(middle) if is_noun and attractors)
    return Sentence(tuple(tokens), 1, 1 + distance, num, attractor_idx, "generated")


# --------------------------------------------------------------------------------------------------
# the training corpus


@dataclass(frozen=True)
class AgreementBatch:
    """A batch of the training corpus.

    ``ids`` ``(B, T)`` int64, right-padded with 0; sample ``b`` is "the", its subject at position 1,
    ``distances[b] - 1`` fillers, and the verb placeholder at ``readout[b] = distances[b] + 1``, where
    the model's answer is read. ``target`` is the subject's number; ``attractor`` marks the positions
    holding a noun of the opposite number.
    """

    ids: np.ndarray
    distances: np.ndarray
    readout: np.ndarray
    target: np.ndarray
    attractor: np.ndarray


def training_batch(
    rng: np.random.Generator,
    batch: int,
    distance: int | Sequence[int] | np.ndarray,
    attractor_rate: float = 0.15,
    vocab: Vocabulary | None = None,
) -> AgreementBatch:
    """Draw ``batch`` training sequences; ``distance`` is one int or one per sample."""
    vocab = vocab or load_vocabulary()
    batch = _check_int("batch", batch, 1, 1_000_000)
    if not (isinstance(attractor_rate, (int, float)) and 0.0 <= attractor_rate <= 0.5):
        raise InputError(f"attractor_rate must be a number from 0 to 0.5, got {attractor_rate!r}")
    d = np.broadcast_to(np.asarray(distance), (batch,)).astype(np.int64)
    if d.min() < 1 or d.max() > MAX_DISTANCE:
        raise InputError(f"distance must be from 1 to {MAX_DISTANCE}")
    index = vocab.index
    singular_ids = np.array([index[s] for s, _ in vocab.nouns])
    plural_ids = np.array([index[p] for _, p in vocab.nouns])
    filler_ids = np.array([index[w] for w in vocab.filler_words() if w != "the"])
    length = int(d.max()) + 2
    target = rng.integers(0, 2, batch)
    noun_pick = rng.integers(0, len(vocab.nouns), batch)
    ids = np.zeros((batch, length), dtype=np.int64)
    ids[:, 0] = index["the"]
    ids[:, 1] = np.where(target == PLURAL, plural_ids[noun_pick], singular_ids[noun_pick])
    fill = filler_ids[rng.integers(0, len(filler_ids), (batch, length - 2))]
    u = rng.random((batch, length - 2))
    is_attr = u < attractor_rate
    is_same = (u >= attractor_rate) & (u < 2 * attractor_rate)
    noun_pick = rng.integers(0, len(vocab.nouns), (batch, length - 2))
    plural_row = (target == PLURAL)[:, None]
    attr_word = np.where(plural_row, singular_ids[noun_pick], plural_ids[noun_pick])
    same_word = np.where(plural_row, plural_ids[noun_pick], singular_ids[noun_pick])
    body = np.where(is_attr, attr_word, np.where(is_same, same_word, fill))
    inside = np.arange(length - 2)[None, :] < (d - 1)[:, None]
    ids[:, 2:] = np.where(inside, body, 0)
    ids[np.arange(batch), d + 1] = index[VERB_SLOT]
    attractor = np.zeros((batch, length), dtype=bool)
    attractor[:, 2:] = is_attr & inside
    return AgreementBatch(ids, d.copy(), d + 1, target.astype(np.int64), attractor)


# --------------------------------------------------------------------------------------------------
# models


@dataclass(frozen=True)
class TrainConfig:
    """One training run. ``distance`` None means a uniform mix of distances over ``mixed_range``."""

    cell: str = "rnn"
    distance: int | None = 10
    mixed_range: tuple[int, int] = MIXED_RANGE
    steps: int = 800
    batch: int = 64
    lr: float = 3e-3
    clip: float = 1.0
    attractor_rate: float = 0.15
    embedding: int = 16
    hidden: int = 32
    forget_bias: float = 2.0
    seed: int = 0

    def validate(self) -> TrainConfig:
        if self.cell not in CELLS:
            raise InputError(f"unknown cell {self.cell!r} (choose rnn or lstm)")
        if self.distance is not None:
            _check_int("distance", self.distance, 1, MAX_DISTANCE)
        lo, hi = self.mixed_range
        _check_int("mixed range start", lo, 1, MAX_DISTANCE)
        _check_int("mixed range end", hi, lo, MAX_DISTANCE)
        _check_int("steps", self.steps, 1, 1_000_000)
        _check_int("batch", self.batch, 1, 4096)
        _check_int("embedding", self.embedding, 1, 256)
        _check_int("hidden", self.hidden, 1, 512)
        _check_int("seed", self.seed, 0, 2**32 - 1)
        for name in ("lr", "clip"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise InputError(f"{name} must be a positive number, got {v!r}")
        if not (isinstance(self.forget_bias, (int, float)) and math.isfinite(self.forget_bias)):
            raise InputError(f"forget_bias must be a finite number, got {self.forget_bias!r}")
        return self

    @property
    def regime(self) -> str:
        """``mixed`` or ``dNN`` (the fixed training distance)."""
        return "mixed" if self.distance is None else f"d{self.distance:02d}"

    @property
    def key(self) -> str:
        """Name of the run in a model bank: ``rnn/d10/s0``, ``lstm/mixed/s2``."""
        return f"{self.cell}/{self.regime}/s{self.seed}"

    @property
    def regime_label(self) -> str:
        if self.distance is None:
            return f"mixed distances {self.mixed_range[0]}-{self.mixed_range[1]}"
        return f"fixed distance {self.distance}"


def build_network(cell: str, vocab_size: int, embedding: int = 16, hidden: int = 32,
                  forget_bias: float = 2.0, seed: int = 0, dtype: Any = None):
    """Embedding -> one recurrent layer (``torch.nn.RNN`` tanh or ``torch.nn.LSTM``) -> linear logit.

    Returned as a ``torch.nn.ModuleDict`` with keys ``embedding``, ``rnn``, ``head``. PyTorch's default
    initialisation, drawn under ``seed`` without touching the global generator. The LSTM's forget
    gate starts open: its input bias is ``forget_bias`` and its hidden bias 0 (their sum is the bias).
    """
    import torch

    if cell not in CELLS:
        raise InputError(f"unknown cell {cell!r} (choose rnn or lstm)")
    dtype = dtype or torch.float32
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        rnn_cls = torch.nn.RNN if cell == "rnn" else torch.nn.LSTM
        net = torch.nn.ModuleDict(
            {
                "embedding": torch.nn.Embedding(vocab_size, embedding, padding_idx=0),
                "rnn": rnn_cls(embedding, hidden, batch_first=True),
                "head": torch.nn.Linear(hidden, 1),
            }
        )
    if cell == "lstm":
        with torch.no_grad():
            net["rnn"].bias_ih_l0[hidden : 2 * hidden] = forget_bias
            net["rnn"].bias_hh_l0[hidden : 2 * hidden] = 0.0
    return net.to(dtype)


def network_logits(net, ids, readout):
    """Logit of "plural" for each sequence, read from the hidden state at its ``readout`` position."""
    import torch

    ids_t = torch.as_tensor(ids, dtype=torch.long)
    out, _ = net["rnn"](net["embedding"](ids_t))
    idx = torch.as_tensor(readout, dtype=torch.long)
    last = out[torch.arange(out.shape[0]), idx]
    return net["head"](last).squeeze(-1)


@dataclass
class TrainProgress:
    """Yielded by :func:`train_steps` after each optimiser step."""

    step: int
    steps: int
    loss: float


def train_steps(config: TrainConfig, vocab: Vocabulary | None = None) -> Iterator[TrainProgress]:
    """Train one model; one yield per optimiser step, and the generator returns the state dict.

    Driving it step by step lets the GUI's worker pause or stop between steps; use
    :func:`train_model` to run it to the end. The data come from a NumPy generator seeded with
    ``config.seed``, the initial weights from torch under the same seed: the run is reproducible.
    """
    import torch

    config.validate()
    vocab = vocab or load_vocabulary()
    net = build_network(config.cell, vocab.size, config.embedding, config.hidden,
                        config.forget_bias, config.seed)
    opt = torch.optim.Adam(net.parameters(), lr=config.lr)
    rng = np.random.default_rng([config.seed, 1])
    lo, hi = config.mixed_range
    for step in range(1, config.steps + 1):
        if config.distance is None:
            dist: Any = rng.integers(lo, hi + 1, config.batch)
        else:
            dist = config.distance
        b = training_batch(rng, config.batch, dist, config.attractor_rate, vocab)
        logits = network_logits(net, b.ids, b.readout)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            logits, torch.as_tensor(b.target, dtype=logits.dtype)
        )
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), config.clip)
        opt.step()
        yield TrainProgress(step, config.steps, float(loss.detach()))
    return {k: v.detach().numpy().astype(np.float32) for k, v in net.state_dict().items()}


def train_model(config: TrainConfig, vocab: Vocabulary | None = None) -> dict[str, np.ndarray]:
    """Run :func:`train_steps` to the end and return the trained state dict as float32 arrays."""
    gen = train_steps(config, vocab)
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


def load_network(cell: str, state: dict[str, np.ndarray], vocab_size: int, dtype: Any = None):
    """A network of ``cell`` with the weights of ``state`` (sizes taken from the arrays)."""
    import torch

    try:
        emb = state["embedding.weight"].shape[1]
        hid = state["head.weight"].shape[1]
    except (KeyError, IndexError):
        raise InputError("agreement weights lack embedding.weight or head.weight") from None
    net = build_network(cell, vocab_size, emb, hid, 0.0, 0, torch.float64)
    own = net.state_dict()
    if set(own) != set(state) or any(tuple(own[k].shape) != tuple(state[k].shape) for k in own):
        raise InputError(f"agreement weights do not fit a {CELL_LABELS.get(cell, cell)} of this vocabulary")
    net.load_state_dict({k: torch.as_tensor(np.asarray(v, dtype=np.float64)) for k, v in state.items()})
    return net.to(dtype or torch.float64)


def untrained_state(cell: str = "rnn", seed: int = 0, vocab: Vocabulary | None = None,
                    embedding: int = 16, hidden: int = 32, forget_bias: float = 2.0) -> dict[str, np.ndarray]:
    """The initial weights a training run with this seed starts from (PyTorch's default init)."""
    vocab = vocab or load_vocabulary()
    net = build_network(cell, vocab.size, embedding, hidden, forget_bias, seed)
    return {k: v.detach().numpy().astype(np.float32) for k, v in net.state_dict().items()}


# --------------------------------------------------------------------------------------------------
# accuracy


def accuracy_at(cell: str, state: dict[str, np.ndarray], distance: int, samples: int = 1000,
                seed: int = 12345, attractor_rate: float = 0.15, vocab: Vocabulary | None = None) -> float:
    """Held-out fraction of verbs whose number the model gets right at one distance.

    The evaluation sequences come from a generator seeded with ``(seed, distance)``, separate from any
    training seed, so every model is scored on the same sentences.
    """
    return float(accuracy_by_distance(cell, state, [distance], samples, seed, attractor_rate, vocab)[0])


# --------------------------------------------------------------------------------------------------
# the model bank (shipped weights)


@dataclass
class ModelBank:
    """Trained weights by key (``rnn/d05/s0`` ... ``lstm/mixed/s2``) with the configs that produced them.

    Several seeds per setting, because whether a vanilla RNN finds its way out of the initial
    plateau within the step budget depends on the seed: one run would hide that spread.
    """

    states: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    configs: dict[str, TrainConfig] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, config: TrainConfig, state: dict[str, np.ndarray], seconds: float = 0.0) -> None:
        self.states[config.key] = state
        self.configs[config.key] = config
        self.seconds[config.key] = seconds

    def fixed_distances(self, cell: str) -> list[int]:
        return sorted({c.distance for c in self.configs.values() if c.cell == cell and c.distance is not None})

    def seeds(self, cell: str, distance: int | None) -> list[int]:
        return sorted(c.seed for c in self.configs.values() if c.cell == cell and c.distance == distance)

    def get(self, cell: str, distance: int | None, seed: int) -> tuple[TrainConfig, dict[str, np.ndarray]]:
        key = TrainConfig(cell=cell, distance=distance, seed=seed).key
        if key not in self.states:
            raise InputError(f"no trained {CELL_LABELS.get(cell, cell)} for {key}")
        return self.configs[key], self.states[key]


def default_models_path() -> Path:
    return resource("agreement", "models.npz")


def save_models(bank: ModelBank, path: str | Path, vocab: Vocabulary | None = None) -> None:
    """Write a bank as a plain ``.npz`` of float32 arrays plus one JSON string (no pickles)."""
    vocab = vocab or load_vocabulary()
    arrays: dict[str, np.ndarray] = {}
    meta = {"format": MODELS_FORMAT, "vocabulary": vocab.fingerprint(), "runs": {}}
    for key, state in bank.states.items():
        cfg = bank.configs[key]
        meta["runs"][key] = {**cfg.__dict__, "mixed_range": list(cfg.mixed_range),
                             "seconds": round(bank.seconds.get(key, 0.0), 2)}
        for name, value in state.items():
            arrays[f"{key}/{name}"] = np.asarray(value, dtype=np.float32)
    arrays["meta"] = np.array(json.dumps(meta, sort_keys=True))
    with open(path, "wb") as fh:
        np.savez_compressed(fh, **arrays)


def _expected_shapes(cell: str, vocab_size: int, embedding: int, hidden: int) -> dict[str, tuple[int, ...]]:
    """Parameter shapes of :func:`build_network` (as ``torch.nn.RNN``/``LSTM`` lay them out)."""
    gates = 1 if cell == "rnn" else 4
    return {
        "embedding.weight": (vocab_size, embedding),
        "rnn.weight_ih_l0": (gates * hidden, embedding),
        "rnn.weight_hh_l0": (gates * hidden, hidden),
        "rnn.bias_ih_l0": (gates * hidden,),
        "rnn.bias_hh_l0": (gates * hidden,),
        "head.weight": (1, hidden),
        "head.bias": (1,),
    }


def load_models(path: str | Path | None = None, vocab: Vocabulary | None = None) -> ModelBank:
    """Read a bank written by :func:`save_models`; refuses pickles, other vocabularies and bad shapes."""
    vocab = vocab or load_vocabulary()
    p = Path(path) if path else default_models_path()
    try:
        with np.load(p, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError) as exc:
        raise InputError(f"{p.name}: cannot read agreement weights ({exc.__class__.__name__})") from None
    try:
        meta = json.loads(str(arrays.pop("meta")))
    except (KeyError, json.JSONDecodeError):
        raise InputError(f"{p.name}: agreement weights without a readable meta record") from None
    if not isinstance(meta, dict) or meta.get("format") != MODELS_FORMAT:
        raise InputError(f"{p.name}: not a {MODELS_FORMAT} file")
    if meta.get("vocabulary") != vocab.fingerprint():
        raise InputError(f"{p.name}: weights were trained on another vocabulary; re-run scripts/train_agreement.py")
    bank = ModelBank()
    runs = meta.get("runs")
    if not isinstance(runs, dict):
        raise InputError(f"{p.name}: the meta record lists no runs")
    for key, run in runs.items():
        try:
            run = dict(run)
            seconds = float(run.pop("seconds", 0.0))
            run["mixed_range"] = tuple(run["mixed_range"])
            cfg = TrainConfig(**run).validate()
        except (TypeError, ValueError, KeyError):  # InputError is a ValueError: keep its message
            raise InputError(f"{p.name}: run {key} has missing, unknown or invalid settings") from None
        if cfg.key != key:
            raise InputError(f"{p.name}: run {key} is filed under the wrong name")
        prefix = key + "/"
        state = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
        for v in state.values():
            if v.dtype.kind != "f" or not np.all(np.isfinite(v)):
                raise InputError(f"{p.name}: run {key} holds non-finite or non-float weights")
        expected = _expected_shapes(cfg.cell, vocab.size, cfg.embedding, cfg.hidden)
        if {k: v.shape for k, v in state.items()} != expected:
            raise InputError(f"{p.name}: run {key} does not fit a {CELL_LABELS[cfg.cell]} of this vocabulary")
        bank.add(cfg, state, seconds)
    if not bank.states:
        raise InputError(f"{p.name}: no trained models inside")
    return bank


@lru_cache(maxsize=1)
def shipped_models() -> ModelBank:
    """The bank shipped in ``resources/agreement/models.npz`` (read once)."""
    return load_models()


@dataclass
class AccuracyCurves:
    """Accuracy against distance for each cell and training regime, one row per training seed.

    ``fixed[cell]`` ``(seeds, len(fixed_distances[cell]))``: the models trained at one fixed distance,
    each scored at its own distance. ``mixed[cell]`` ``(seeds, len(mixed_distances))``: the models
    trained on mixed distances, scored at every distance. ``transfer[cell]`` ``(seeds,
    len(mixed_distances))``: the models trained at the one fixed distance ``transfer_from``, scored at
    every distance (does a memory learned on short sentences hold over long ones?). ``chance`` = 0.5
    (both numbers are equally likely in the test sets). Means over seeds are methods.
    """

    fixed_distances: dict[str, np.ndarray]
    fixed: dict[str, np.ndarray]
    fixed_seeds: dict[str, list[int]]
    mixed_distances: np.ndarray
    mixed: dict[str, np.ndarray]
    mixed_seeds: dict[str, list[int]]
    samples: int
    transfer_from: int | None = None
    transfer: dict[str, np.ndarray] = field(default_factory=dict)
    chance: float = 0.5

    def fixed_mean(self, cell: str) -> np.ndarray:
        return self.fixed[cell].mean(axis=0)

    def mixed_mean(self, cell: str) -> np.ndarray:
        return self.mixed[cell].mean(axis=0)

    def transfer_mean(self, cell: str) -> np.ndarray:
        return self.transfer[cell].mean(axis=0)

    def summary(self, learned: float = 0.9) -> dict[str, Any]:
        """The figures the scene's explanation quotes.

        ``rnn_fixed`` / ``lstm_fixed``: mean accuracy at each fixed training distance;
        ``lstm_fixed_min``: the LSTM's worst single run; ``rnn_mixed_learned``: how many vanilla
        mixed-distance runs are at ``learned`` or better at every distance, of ``rnn_mixed_runs``;
        ``rnn_mixed_min_learned``: the lowest accuracy of those runs at any distance (NaN if none).
        """
        out: dict[str, Any] = {"chance": self.chance}
        for cell in CELLS:
            if cell in self.fixed:
                out[f"{cell}_fixed"] = {int(d): float(a) for d, a in
                                        zip(self.fixed_distances[cell], self.fixed_mean(cell), strict=True)}
                out[f"{cell}_fixed_min"] = float(self.fixed[cell].min())
            if cell in self.mixed:
                good = self.mixed[cell].min(axis=1) >= learned
                out[f"{cell}_mixed_runs"] = int(len(good))
                out[f"{cell}_mixed_learned"] = int(good.sum())
                out[f"{cell}_mixed_min_learned"] = float(self.mixed[cell][good].min()) if good.any() else math.nan
                out[f"{cell}_mixed_max_failed"] = (float(self.mixed[cell][~good].max()) if (~good).any()
                                                   else math.nan)
            if cell in self.transfer:
                far = self.mixed_distances > (self.transfer_from or 0)
                out[f"{cell}_transfer_from"] = self.transfer_from
                out[f"{cell}_transfer_far_mean"] = float(self.transfer[cell][:, far].mean()) if far.any() else math.nan
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "chance": self.chance,
            "samples": self.samples,
            "fixed": {c: {"distance": self.fixed_distances[c].tolist(), "seeds": self.fixed_seeds[c],
                          "accuracy": self.fixed[c].tolist()} for c in self.fixed},
            "mixed": {c: {"distance": self.mixed_distances.tolist(), "seeds": self.mixed_seeds[c],
                          "accuracy": self.mixed[c].tolist()} for c in self.mixed},
            "transfer_from": self.transfer_from,
            "transfer": {c: {"distance": self.mixed_distances.tolist(), "accuracy": self.transfer[c].tolist()}
                         for c in self.transfer},
        }


def accuracy_curves(bank: ModelBank | None = None, samples: int = 1000, seed: int = 12345,
                    mixed_distances: Sequence[int] | None = None,
                    transfer_from: int | None = FIXED_DISTANCES[0]) -> AccuracyCurves:
    """Score every model of the bank (default: the shipped one) on the same held-out sequences.

    ``transfer_from``: also score the vanilla RNNs trained at this fixed distance at every distance
    (None to skip).
    """
    bank = bank or shipped_models()
    md = np.arange(MIXED_RANGE[0], MIXED_RANGE[1] + 1) if mixed_distances is None else np.asarray(mixed_distances)
    fixed_d: dict[str, np.ndarray] = {}
    fixed: dict[str, np.ndarray] = {}
    fixed_seeds: dict[str, list[int]] = {}
    mixed: dict[str, np.ndarray] = {}
    mixed_seeds: dict[str, list[int]] = {}
    for cell in CELLS:
        ds = bank.fixed_distances(cell)
        if ds:
            seeds = sorted(set.intersection(*(set(bank.seeds(cell, d)) for d in ds)))
            fixed_d[cell] = np.asarray(ds, dtype=np.float64)
            fixed_seeds[cell] = seeds
            fixed[cell] = np.array(
                [[accuracy_at(cell, bank.get(cell, d, s)[1], d, samples, seed) for d in ds] for s in seeds]
            )
        seeds = bank.seeds(cell, None)
        if seeds:
            mixed_seeds[cell] = seeds
            mixed[cell] = np.array(
                [accuracy_by_distance(cell, bank.get(cell, None, s)[1], md, samples, seed) for s in seeds]
            )
    transfer: dict[str, np.ndarray] = {}
    if transfer_from is not None and bank.seeds("rnn", transfer_from):
        transfer["rnn"] = np.array(
            [accuracy_by_distance("rnn", bank.get("rnn", transfer_from, s)[1], md, samples, seed)
             for s in bank.seeds("rnn", transfer_from)]
        )
    return AccuracyCurves(fixed_d, fixed, fixed_seeds, md.astype(np.float64), mixed, mixed_seeds, samples,
                          transfer_from if transfer else None, transfer)


# --------------------------------------------------------------------------------------------------
# saliency


@dataclass
class Saliency:
    """How strongly the verb's loss reaches back to each token.

    ``grad_norm[t]`` = ``||dL_verb / dx_t||_2`` for the tokens the network read (``t <= verb``; at the
    verb's own step it read the verb placeholder), where ``x_t`` is the embedding vector fed at step t
    and ``L_verb`` the cross-entropy of the verb's number; NaN after the verb (never read).
    ``log10_grad_norm`` likewise (-inf for an exact zero). ``total`` = ``grad_norm[subject] /
    grad_norm[verb]``: the share of the signal entering at the verb's step that survives the
    ``distance`` recurrent steps back to the subject; ``per_step`` = ``total ** (1 / distance)``, its
    geometric mean per step (the seeds' "about 0.7"). ``seed_reference`` = ``0.7 ** distance``.
    ``p_plural`` is the model's probability that the verb is plural.
    """

    sentence: Sentence
    model: str
    grad_norm: np.ndarray
    log10_grad_norm: np.ndarray
    total: float
    per_step: float
    p_plural: float
    loss: float
    seed_reference: float

    @property
    def predicted(self) -> int:
        return PLURAL if self.p_plural > 0.5 else SINGULAR

    @property
    def correct(self) -> bool:
        return self.predicted == self.sentence.number


def saliency(sentence: Sentence, cell: str, state: dict[str, np.ndarray], model: str = "",
             vocab: Vocabulary | None = None) -> Saliency:
    """Backpropagate the verb's loss to every read token's embedding, in float64."""
    import torch

    vocab = vocab or load_vocabulary()
    ids = vocab.encode(sentence.read_tokens)
    net = load_network(cell, state, vocab.size, torch.float64)
    emb = net["embedding"](torch.as_tensor(ids)[None]).detach().requires_grad_(True)
    out, _ = net["rnn"](emb)
    logit = net["head"](out[0, -1]).squeeze()
    loss = torch.nn.functional.binary_cross_entropy_with_logits(
        logit, torch.tensor(float(sentence.number), dtype=torch.float64)
    )
    (grad,) = torch.autograd.grad(loss, emb)
    norms = grad[0].norm(dim=1).numpy()
    n = len(sentence.tokens)
    grad_norm = np.full(n, np.nan)
    grad_norm[: len(ids)] = norms
    with np.errstate(divide="ignore"):
        log10 = np.log10(grad_norm)
    d = sentence.distance
    at_verb = grad_norm[sentence.verb]
    total = float(grad_norm[sentence.subject] / at_verb) if at_verb > 0 else float("nan")
    per_step = total ** (1.0 / d) if total > 0 else float("nan")
    return Saliency(
        sentence=sentence,
        model=model,
        grad_norm=grad_norm,
        log10_grad_norm=log10,
        total=total,
        per_step=per_step,
        p_plural=float(torch.sigmoid(logit.detach())),
        loss=float(loss.detach()),
        seed_reference=SEED_DECAY_FACTOR ** d,
    )


# --------------------------------------------------------------------------------------------------
# what the scene asks for

MODEL_CHOICES = ("untrained", "rnn", "lstm")
MODEL_LABELS = {"untrained": "untrained vanilla RNN", "rnn": "trained vanilla RNN", "lstm": "trained LSTM"}


def model_weights(model: str, training: str | int = "mixed", run: int = 0,
                  bank: ModelBank | None = None) -> tuple[str, dict[str, np.ndarray], str]:
    """``(cell, state, label)`` of one of the scene's models.

    ``model``: ``untrained`` (a vanilla RNN with PyTorch's initial weights for seed ``run``, i.e. what
    training run ``run`` starts from), ``rnn`` or ``lstm`` (shipped weights). ``training``: ``"mixed"``
    or a fixed training distance of the bank; ``run``: the training seed.
    """
    if model not in MODEL_CHOICES:
        raise InputError(f"unknown model {model!r} (choose one of {', '.join(MODEL_CHOICES)})")
    run = _check_int("run", run, 0, 2**32 - 1)
    if model == "untrained":
        return "rnn", untrained_state("rnn", run), f"untrained vanilla RNN (initial weights of seed {run})"
    bank = bank or shipped_models()
    distance = None if training == "mixed" else _check_int("training distance", training, 1, MAX_DISTANCE)
    config, state = bank.get(model, distance, run)
    return model, state, f"{CELL_LABELS[model]} trained on {config.regime_label} (seed {run})"


def sentence_for(source: str = "generated", distance: int = 13, number: Any = "plural", seed: int = 0,
                 attractors: bool = True) -> Sentence:
    """The scene's sentence: ``source`` is ``"generated"`` or ``"seed:<i>"`` (the i-th seed sentence)."""
    if source == "generated":
        return generate_sentence(distance, number, seed, attractors)
    if isinstance(source, str) and source.startswith("seed:") and source[5:].isdigit():
        examples = seed_sentences()
        i = int(source[5:])
        if i < len(examples):
            return examples[i]
    raise InputError(f"unknown sentence source {source!r} (generated or seed:0 .. seed:{len(seed_sentences()) - 1})")


def accuracy_by_distance(cell: str, state: dict[str, np.ndarray], distances: Sequence[int],
                         samples: int = 1000, seed: int = 12345, attractor_rate: float = 0.15,
                         vocab: Vocabulary | None = None) -> np.ndarray:
    """:func:`accuracy_at` for several distances, building the network once."""
    import torch

    vocab = vocab or load_vocabulary()
    net = load_network(cell, state, vocab.size, torch.float32)
    out = np.empty(len(distances))
    for i, d in enumerate(distances):
        b = training_batch(np.random.default_rng([seed, int(d), 99]), samples, int(d), attractor_rate, vocab)
        with torch.no_grad():
            logits = network_logits(net, b.ids, b.readout).numpy()
        out[i] = np.mean((logits > 0).astype(np.int64) == b.target)
    return out


@lru_cache(maxsize=2)
def shipped_accuracy_curves(samples: int = 1000, seed: int = 12345) -> AccuracyCurves:
    """:func:`accuracy_curves` of the shipped bank, computed once per process (it is deterministic)."""
    return accuracy_curves(shipped_models(), samples, seed)
