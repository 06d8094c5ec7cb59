"""Synthetic sequence-classification tasks that put the deciding evidence in known places.

Taught in chapter 6 (which readout of h_1..h_T to classify from). Each task returns a
:class:`LabelledBatch` of padded token ids, true lengths and labels, so the same model and
readouts run on all of them. Token id 0 is padding everywhere.

* :func:`position_task`: the token at position p of a length-T sequence (announced by a
  marker at p - 1) decides the label; the same tokens fill every other step. Tests how
  well h_T remembers x_p for p << T.
* :func:`spread_evidence_task`: several +/- tokens scattered through the sequence; the
  label is their majority. No single step decides.
* :func:`end_evidence_task`: the label is the last real token; the same tokens also occur
  earlier as distractors.
* :func:`negation_task`: short sentences from a small vocabulary ("the plot was not very
  good", optionally followed by a neutral tail such as "in the end", so the adjective is not
  always the last word); the label is the adjective's sentiment, flipped by a preceding
  "not"/"never". A linear classifier on a bag of words cannot represent this (it is an XOR of
  adjective and negator); an MLP on the bag can.
* :func:`contrast_task`: "the plot was good but the ending was dull"; the label is the
  sentiment of the clause after "but". Swapping the two clauses keeps the bag of words and
  flips the label, so nothing that sees only the bag, linear or not, can do it.

All functions take an explicit ``torch.Generator`` and are deterministic given it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rnncourse._validation import check_int
from rnncourse.pooling import length_mask

__all__ = [
    "NEGATION_VOCAB",
    "LabelledBatch",
    "contrast_task",
    "decode_sentence",
    "end_evidence_task",
    "negation_task",
    "position_task",
    "spread_evidence_task",
]

PAD = 0
MARKER = 1  # position_task: marks the step before the deciding token
SIGNAL_A, SIGNAL_B = 1, 2  # the two label-carrying tokens of the synthetic tasks
FIRST_NOISE = 3  # ids FIRST_NOISE .. vocab_size - 1 are noise tokens


@dataclass(frozen=True)
class LabelledBatch:
    """A padded batch of labelled token sequences.

    ``tokens`` (N, L) int64 (0 after each length), ``lengths`` (N,), ``labels`` (N,) in
    {0, 1}, and ``positions`` (N,), the 1-based step that decides the label where one step
    does (``position_task``, ``end_evidence_task``), else None.
    """

    tokens: torch.Tensor
    lengths: torch.Tensor
    labels: torch.Tensor
    positions: torch.Tensor | None = None


def _draw_lengths(n: int, lengths: int | tuple[int, int], minimum: int,
                  generator: torch.Generator | None) -> torch.Tensor:
    """Lengths uniform in [lo, hi] (or all equal to an int)."""
    lo, hi = (lengths, lengths) if isinstance(lengths, int) else tuple(lengths)
    if isinstance(lo, bool) or not isinstance(lo, int) or not isinstance(hi, int) or lo < minimum \
            or hi < lo:
        raise ValueError(f"lengths: expected an int or a pair (lo, hi) with {minimum} <= lo <= hi, "
                         f"got {lengths!r}")
    return torch.randint(lo, hi + 1, (n,), generator=generator)  # (N,)


def _noise(n: int, max_len: int, lengths: torch.Tensor, vocab_size: int,
           generator: torch.Generator | None) -> torch.Tensor:
    """Noise tokens at the real steps, padding after."""
    check_int("vocab_size", vocab_size, FIRST_NOISE + 1,
              "padding, two signal tokens, one noise token")
    tokens = torch.randint(FIRST_NOISE, vocab_size, (n, max_len), generator=generator)  # (N, L)
    return tokens.masked_fill(~length_mask(lengths, max_len), PAD)


def position_task(
    n: int,
    lengths: int | tuple[int, int],
    *,
    vocab_size: int = 12,
    relative_position: float | None = None,
    generator: torch.Generator | None = None,
) -> LabelledBatch:
    """Label = which half of the vocabulary the token x_p belongs to, p marked by x_{p-1} = MARKER.

    Every step holds a content token (ids 2..vocab_size-1, uniform), except step p - 1,
    which holds the marker (id 1). The label is 1 if x_p is in the upper half of the
    content ids. The same content tokens occur everywhere else as distractors, so a model
    cannot just ignore them: it must notice the marker, keep x_p, and hold it to the end.

    Args:
        n: number of sequences.
        lengths: T for every sequence, or a range (lo, hi) to draw T uniformly from (T >= 2).
        vocab_size: V >= 4.
        relative_position: if given, p = max(2, ceil(relative_position * T)) (1.0 is the
            last step); otherwise p is uniform in 2..T.
        generator: random source.

    Returns a :class:`LabelledBatch` with ``positions`` = p (1-based).
    """
    n = check_int("n", n)
    check_int("vocab_size", vocab_size, 4, "padding, marker, two content tokens")
    T = _draw_lengths(n, lengths, 2, generator)  # (N,)
    L = int(T.max())
    tokens = torch.randint(MARKER + 1, vocab_size, (n, L), generator=generator)  # (N, L)
    tokens = tokens.masked_fill(~length_mask(T, L), PAD)
    if relative_position is None:
        p = (torch.rand(n, generator=generator) * (T - 1)).long() + 2  # (N,) uniform in 2..T
    else:
        if not isinstance(relative_position, int | float) or not 0 < relative_position <= 1:
            raise ValueError(f"relative_position: expected a number in (0, 1], "
                             f"got {relative_position!r}")
        p = torch.ceil(relative_position * T.double()).long().clamp(2)  # (N,)
    rows = torch.arange(n)
    tokens[rows, p - 2] = MARKER
    first_upper = MARKER + 1 + (vocab_size - MARKER - 1) // 2
    labels = (tokens[rows, p - 1] >= first_upper).long()  # (N,)
    return LabelledBatch(tokens, T, labels, p)


def spread_evidence_task(
    n: int,
    lengths: int | tuple[int, int],
    *,
    vocab_size: int = 12,
    n_evidence: tuple[int, ...] = (3, 5, 7),
    generator: torch.Generator | None = None,
) -> LabelledBatch:
    """Label = 1 if most evidence tokens are "+" (id 2) rather than "-" (id 1).

    Each sequence holds k evidence tokens (k drawn from ``n_evidence``, all odd, so there
    is no tie) at random distinct positions; the rest is noise.
    """
    n = check_int("n", n)
    if not n_evidence or any(not isinstance(k, int) or k < 1 or k % 2 == 0 for k in n_evidence):
        raise ValueError(f"n_evidence: expected odd positive ints, got {n_evidence!r}")
    T = _draw_lengths(n, lengths, max(n_evidence), generator)  # (N,)
    tokens = _noise(n, int(T.max()), T, vocab_size, generator)  # (N, L)
    choice = torch.randint(0, len(n_evidence), (n,), generator=generator)
    k = torch.tensor(n_evidence)[choice]  # (N,)
    # k distinct random real positions per row: the k smallest of random keys, with the
    # padding keyed last so it is never chosen
    keys = torch.rand(tokens.shape, generator=generator).masked_fill(tokens == PAD, 2.0)  # (N, L)
    rank = keys.argsort(1).argsort(1)  # (N, L): rank of each step's key within its row
    evidence = rank < k.unsqueeze(1)  # (N, L), k True per row
    signs = torch.randint(0, 2, tokens.shape, generator=generator)  # (N, L): 1 means "+"
    tokens = torch.where(evidence, SIGNAL_A + signs, tokens)
    labels = (2 * (signs * evidence).sum(1) > k).long()  # (N,) majority of the k signs
    return LabelledBatch(tokens, T, labels)


def end_evidence_task(
    n: int,
    lengths: int | tuple[int, int],
    *,
    vocab_size: int = 12,
    distractor_rate: float = 0.3,
    generator: torch.Generator | None = None,
) -> LabelledBatch:
    """Label = which signal token (1 or 2) is the last real token x_T.

    Before the end, each step is a signal token with probability ``distractor_rate``
    (either one, at random), else noise: only the last one counts.
    """
    n = check_int("n", n)
    if not 0 <= distractor_rate <= 1:
        raise ValueError(f"distractor_rate: expected a number in [0, 1], got {distractor_rate!r}")
    T = _draw_lengths(n, lengths, 1, generator)  # (N,)
    tokens = _noise(n, int(T.max()), T, vocab_size, generator)  # (N, L)
    draw = torch.rand(tokens.shape, generator=generator) < distractor_rate
    distractors = SIGNAL_A + torch.randint(0, 2, tokens.shape, generator=generator)
    tokens = torch.where(draw & (tokens != PAD), distractors, tokens)
    labels = torch.randint(0, 2, (n,), generator=generator)  # (N,)
    tokens[torch.arange(n), T - 1] = SIGNAL_A + labels
    return LabelledBatch(tokens, T, labels, T.clone())


# --- negation sentences -------------------------------------------------------------------

_POSITIVE = ("good", "great", "fun", "nice", "clever")
_NEGATIVE = ("bad", "dull", "awful", "boring", "silly")
_NEGATORS = ("not", "never")
_SUBJECTS = ("the movie", "the film", "the plot", "the ending", "it")
_VERBS = ("was", "is", "seemed")
_INTENSIFIERS = ("very", "really", "quite")
_OPENERS = ("honestly", "i think", "overall")
_TAILS = ("today", "to me", "in the end")  # neutral words after the adjective
_CONJUNCTION = "but"

NEGATION_VOCAB: tuple[str, ...] = ("<pad>", *sorted(
    {w for phrase in (*_SUBJECTS, *_VERBS, *_INTENSIFIERS, *_OPENERS, *_TAILS)
     for w in phrase.split()}
    | set(_POSITIVE) | set(_NEGATIVE) | set(_NEGATORS) | {_CONJUNCTION}
))
_INDEX = {w: i for i, w in enumerate(NEGATION_VOCAB)}


def _phrase_table(phrases: tuple[str, ...]) -> torch.Tensor:
    """Ids of each phrase, one row per phrase, padded with PAD to the longest."""
    width = max(len(p.split()) for p in phrases)
    return torch.tensor([[_INDEX[w] for w in p.split()] + [PAD] * (width - len(p.split()))
                         for p in phrases])  # (len(phrases), width)


_TABLES = {"opener": _phrase_table(_OPENERS), "subject": _phrase_table(_SUBJECTS),
           "verb": _phrase_table(_VERBS), "negator": _phrase_table(_NEGATORS),
           "intensifier": _phrase_table(_INTENSIFIERS), "positive": _phrase_table(_POSITIVE),
           "negative": _phrase_table(_NEGATIVE), "tail": _phrase_table(_TAILS)}


def _left_align(slots: torch.Tensor) -> LabelledBatch:
    """Move the PADs of each row of (N, S) ids to its end, keeping the words in order."""
    order = (slots == PAD).long().sort(dim=1, stable=True).indices  # (N, S)
    tokens = slots.gather(1, order)  # (N, S)
    lengths = (tokens != PAD).sum(1)  # (N,)
    return LabelledBatch(tokens[:, : int(lengths.max())], lengths, torch.zeros(0))


def negation_task(
    n: int, *, negation_rate: float = 0.5, tail_rate: float = 0.0,
    generator: torch.Generator | None = None,
) -> LabelledBatch:
    """Sentences "[opener] subject verb [not|never] [intensifier] adjective [tail]"; 1 = positive.

    The label is the adjective's sentiment, flipped when a negator is present. Half the
    adjectives are positive; a negator appears with probability ``negation_rate``, and a
    neutral tail ("today", "to me", "in the end") with probability ``tail_rate``, so that
    the adjective is one to four words from the end. Ids index :data:`NEGATION_VOCAB`;
    :func:`decode_sentence` turns a row back into words. ``positions`` holds the adjective's
    (1-based) step.
    """
    n = check_int("n", n)
    for name, rate in (("negation_rate", negation_rate), ("tail_rate", tail_rate)):
        if not 0 <= rate <= 1:
            raise ValueError(f"{name}: expected a number in [0, 1], got {rate!r}")
    u = torch.rand(n, 5, generator=generator)  # (N, 5)
    opener, negated, intense, positive, tail = (
        u < torch.tensor([0.3, negation_rate, 0.4, 0.5, tail_rate])).T
    picks = torch.randint(0, 2**20, (n, 7), generator=generator)  # (N, 7): which word of each kind

    def choose(table: torch.Tensor, column: int) -> torch.Tensor:  # rows of a phrase table
        return table[picks[:, column] % len(table)]

    adjective = torch.where(positive, choose(_TABLES["positive"], 5)[:, 0],
                            choose(_TABLES["negative"], 5)[:, 0])  # (N,)
    slots = torch.cat([  # (N, 8): every phrase in its slot, PAD where it is absent
        choose(_TABLES["opener"], 0) * opener.unsqueeze(1),  # (N, 2)
        choose(_TABLES["subject"], 1),  # (N, 2)
        choose(_TABLES["verb"], 2),  # (N, 1)
        choose(_TABLES["negator"], 3) * negated.unsqueeze(1),  # (N, 1)
        choose(_TABLES["intensifier"], 4) * intense.unsqueeze(1),  # (N, 1)
        adjective.unsqueeze(1),  # (N, 1)
        choose(_TABLES["tail"], 6) * tail.unsqueeze(1),  # (N, 3)
    ], dim=1)
    batch = _left_align(slots)  # (N, L)
    tail_words = (choose(_TABLES["tail"], 6) != PAD).sum(1) * tail  # (N,)
    labels = (positive != negated).long()  # (N,)
    return LabelledBatch(batch.tokens, batch.lengths, labels, batch.lengths - tail_words)


def contrast_task(n: int, *, generator: torch.Generator | None = None) -> LabelledBatch:
    """Sentences "subject verb [intensifier] adj_1 but subject verb [intensifier] adj_2".

    The label is the sentiment of adj_2 (1 = positive), the clause after "but". Both clauses
    are drawn from the same distribution, independently, with each adjective positive with
    probability 1/2, so the two orders of one bag of words are equally likely: when the
    adjectives disagree (half the sentences), the bag says nothing about the label, and a
    classifier of the bag gets at most 3/4 right, on average over draws. ``positions`` holds
    adj_2's step.
    """
    n = check_int("n", n)
    positive = torch.rand(n, 2, generator=generator) < 0.5  # (N, 2)
    intense = torch.rand(n, 2, generator=generator) < 0.4  # (N, 2)
    picks = torch.randint(0, 2**20, (n, 2, 4), generator=generator)  # (N, 2, 4)

    def clause(k: int) -> torch.Tensor:  # (N, 5) ids of clause k, PAD where absent
        def choose(table: torch.Tensor, column: int) -> torch.Tensor:
            return table[picks[:, k, column] % len(table)]

        adjective = torch.where(positive[:, k], choose(_TABLES["positive"], 3)[:, 0],
                                choose(_TABLES["negative"], 3)[:, 0])  # (N,)
        return torch.cat([choose(_TABLES["subject"], 0), choose(_TABLES["verb"], 1),
                          choose(_TABLES["intensifier"], 2) * intense[:, k].unsqueeze(1),
                          adjective.unsqueeze(1)], dim=1)  # (N, 5)

    but = torch.full((n, 1), _INDEX[_CONJUNCTION])  # (N, 1)
    batch = _left_align(torch.cat([clause(0), but, clause(1)], dim=1))  # (N, L)
    return LabelledBatch(batch.tokens, batch.lengths, positive[:, 1].long(),
                         batch.lengths.clone())


def decode_sentence(tokens: torch.Tensor, length: int | None = None) -> list[str]:
    """The words of one row of :data:`NEGATION_VOCAB` ids, up to ``length`` (default: padding)."""
    ids = [int(i) for i in tokens]
    if length is None:
        length = next((k for k, i in enumerate(ids) if i == PAD), len(ids))
    if any(not 0 <= i < len(NEGATION_VOCAB) for i in ids[:length]):
        raise ValueError(f"tokens: expected ids in [0, {len(NEGATION_VOCAB) - 1}], "
                         f"got {ids[:length]}")
    return [NEGATION_VOCAB[i] for i in ids[:length]]
