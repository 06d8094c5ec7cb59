"""Data the course ships or makes: a small text corpus and synthetic sequence generators.

Nothing is downloaded. The corpus (``data/corpus.txt``, about 40 KB) is English-like text
written by a small stochastic grammar in this module, so anyone can regenerate it
bit for bit with :func:`make_corpus`; it has the structure a character model can learn
at several time scales: spelling inside words, subject-verb agreement across a few
words, quotation marks that must close, capitals after full stops, paragraphs.

The numeric generators return ``torch.Tensor`` s and take an explicit ``generator``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from importlib import resources

import torch

from rnncourse._validation import check_int

__all__ = [
    "CharVocab",
    "ar_process",
    "load_corpus",
    "make_corpus",
    "noisy_sines",
]

CORPUS_SEED = 1990  # Elman's year; any fixed seed would do
CORPUS_CHARS = 40_000

_NOUNS = {  # singular -> plural
    "fisherman": "fishermen", "child": "children", "captain": "captains", "baker": "bakers",
    "river": "rivers", "boat": "boats", "dog": "dogs", "gull": "gulls", "lantern": "lanterns",
    "stranger": "strangers", "miller": "millers", "village": "villages", "storm": "storms",
    "teacher": "teachers", "horse": "horses", "letter": "letters", "garden": "gardens",
    "bell": "bells", "sailor": "sailors", "window": "windows",
}
_ANIMATE = ["fisherman", "child", "captain", "baker", "dog", "gull", "stranger", "miller",
            "teacher", "horse", "sailor"]
_THINGS = ["river", "boat", "lantern", "village", "storm", "letter", "garden", "bell", "window"]
_ADJECTIVES = ["old", "small", "quiet", "tired", "bright", "cold", "young", "patient",
               "careful", "grey", "wet", "distant"]
_VERBS_TRANSITIVE = {  # base form -> third person singular
    "watch": "watches", "carry": "carries", "find": "finds", "mend": "mends", "follow": "follows",
    "open": "opens", "remember": "remembers", "paint": "paints", "hear": "hears",
}
_VERBS_INTRANSITIVE = {"wait": "waits", "sleep": "sleeps", "sing": "sings", "listen": "listens",
                       "wander": "wanders", "rest": "rests", "laugh": "laughs"}
_ADVERBS = ["slowly", "quietly", "again", "at dawn", "before supper", "every morning",
            "without a word", "in the rain"]
_PLACES = ["by the river", "near the harbour", "in the garden", "under the bridge",
           "behind the mill", "on the hill", "at the edge of the village"]
_SPEAKERS = ["said", "asked", "whispered", "called"]


def _noun_phrase(rng: random.Random, nouns: list[str]) -> tuple[str, bool]:
    noun = rng.choice(nouns)
    plural = rng.random() < 0.35
    word = _NOUNS[noun] if plural else noun
    if rng.random() < 0.5:
        word = f"{rng.choice(_ADJECTIVES)} {word}"
    det = rng.choice(["the", "the", "some", "two"] if plural else ["the", "the", "a", "that"])
    if det == "a" and word[0] in "aeiou":
        det = "an"
    return f"{det} {word}", plural


def _clause(rng: random.Random) -> str:
    subject, plural = _noun_phrase(rng, _ANIMATE)
    if rng.random() < 0.6:
        base = rng.choice(list(_VERBS_TRANSITIVE))
        verb = base if plural else _VERBS_TRANSITIVE[base]
        obj, _ = _noun_phrase(rng, _THINGS + _ANIMATE)
        words = [subject, verb, obj]
    else:
        base = rng.choice(list(_VERBS_INTRANSITIVE))
        words = [subject, base if plural else _VERBS_INTRANSITIVE[base]]
    if rng.random() < 0.25:
        words.insert(1, "does not" if not plural else "do not")
        words[2] = base  # after an auxiliary the verb takes its base form
    if rng.random() < 0.5:
        words.append(rng.choice(_ADVERBS))
    if rng.random() < 0.4:
        words.append(rng.choice(_PLACES))
    return " ".join(words)


def _sentence(rng: random.Random) -> str:
    clause = _clause(rng)
    if rng.random() < 0.3:
        clause = f"{clause}, and {_clause(rng)}"
    if rng.random() < 0.2:
        speaker, _ = _noun_phrase(rng, _ANIMATE)
        mark = "?" if rng.random() < 0.3 else ","
        said = "asked" if mark == "?" else rng.choice(_SPEAKERS)
        return f'"{clause[0].upper()}{clause[1:]}{mark}" {said} {speaker}.'
    return f"{clause[0].upper()}{clause[1:]}."


def make_corpus(n_chars: int = CORPUS_CHARS, seed: int = CORPUS_SEED) -> str:
    """Write about ``n_chars`` characters of English-like text from the module's grammar.

    Paragraphs of 2-6 sentences, separated by blank lines; the text ends at a paragraph end.
    The shipped corpus is ``make_corpus()`` with the defaults.
    """
    check_int("n_chars", n_chars)
    rng = random.Random(seed)
    paragraphs: list[str] = []
    total = 0
    while total < n_chars:
        paragraph = " ".join(_sentence(rng) for _ in range(rng.randint(2, 6)))
        paragraphs.append(paragraph)
        total += len(paragraph) + 2
    return "\n\n".join(paragraphs) + "\n"


def load_corpus() -> str:
    """Return the shipped corpus (``rnncourse/data/corpus.txt``) as one string."""
    return resources.files("rnncourse").joinpath("data/corpus.txt").read_text(encoding="utf-8")


@dataclass(frozen=True)
class CharVocab:
    """A character vocabulary: ``encode`` text to a LongTensor of ids and ``decode`` back.

    Build one with ``CharVocab.from_text(text)``; ids follow sorted character order.
    """

    chars: tuple[str, ...]

    @classmethod
    def from_text(cls, text: str) -> CharVocab:
        """The vocabulary of the distinct characters of ``text``, in sorted order."""
        if not isinstance(text, str) or not text:
            raise ValueError(f"text: expected a non-empty str, got {text!r:.40}")
        return cls(tuple(sorted(set(text))))

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> torch.Tensor:
        """Text -> ids, (len(text),) int64; a character outside the vocabulary is an error."""
        index = {c: i for i, c in enumerate(self.chars)}
        unknown = sorted(set(text) - set(index))
        if unknown:
            raise ValueError(
                f"text: expected characters from the vocabulary, got unknown {unknown}")
        return torch.tensor([index[c] for c in text], dtype=torch.long)  # (L,)

    def decode(self, ids: torch.Tensor | list[int]) -> str:
        """Ids -> the text they stand for (the inverse of :meth:`encode`)."""
        return "".join(self.chars[int(i)] for i in ids)


def ar_process(
    length: int,
    coefficients: tuple[float, ...] = (0.6, 0.3),
    noise_std: float = 1.0,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""An autoregressive AR(p) series, x_t = \sum_{i=1}^p a_i x_{t-i} + \varepsilon_t.

    ``coefficients`` are a_1..a_p; ``epsilon_t ~ N(0, noise_std^2)``; x_t = 0 for t <= 0.
    Returns a float64 tensor of shape (length,). The first 100 steps are a discarded
    burn-in so the series starts near its stationary distribution.
    """
    check_int("length", length)
    p = len(coefficients)
    burn_in = 100
    eps = torch.randn(length + burn_in, generator=generator, dtype=torch.float64) * noise_std
    x = torch.zeros(length + burn_in + p, dtype=torch.float64)
    for t in range(length + burn_in):
        past = x[t : t + p].flip(0)  # x_{t-1}, ..., x_{t-p}
        x[t + p] = sum(a * past[i] for i, a in enumerate(coefficients)) + eps[t]
    return x[p + burn_in :]  # (length,)


def noisy_sines(
    n_series: int,
    length: int,
    *,
    period_range: tuple[float, float] = (8.0, 32.0),
    noise_std: float = 0.1,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Sine waves with random period, phase and amplitude in [0.5, 1.5], plus Gaussian noise.

    Returns float32 of shape (n_series, length).
    """
    check_int("n_series", n_series)
    check_int("length", length)
    lo, hi = period_range
    period = lo + (hi - lo) * torch.rand(n_series, 1, generator=generator)  # (N, 1)
    phase = 2 * math.pi * torch.rand(n_series, 1, generator=generator)  # (N, 1)
    amplitude = 0.5 + torch.rand(n_series, 1, generator=generator)  # (N, 1)
    t = torch.arange(length, dtype=torch.float32)  # (L,)
    clean = amplitude * torch.sin(2 * math.pi * t / period + phase)  # (N, L)
    return clean + noise_std * torch.randn(n_series, length, generator=generator)  # (N, L)

