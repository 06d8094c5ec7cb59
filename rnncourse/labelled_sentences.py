"""Real sentences for classification: the UCI "sentiment labelled sentences" data set.

Used in chapter 6 (classifying sequences), where the readouts, a bidirectional GRU and a
bag-of-n-grams baseline are compared on real review sentences. The data (shipped in
``data/sentiment_labelled_sentences/``, CC BY 4.0, see its ``SOURCE.txt``) is 3 x 1,000
sentences from Amazon, IMDb and Yelp reviews, 500 positive and 500 negative from each site:
D. Kotzias, M. Denil, N. de Freitas and P. Smyth, "From group to individual labels using deep
features", KDD 2015.

* :func:`load_labelled_sentences`: the 3,000 sentences, labels (1 = positive) and sites;
* :func:`tokenize`: lower-cased words (letters, digits, apostrophes) and "!" / "?";
* :func:`build_vocabulary` and :func:`encode`: word ids (0 = padding, 1 = unknown) in a
  padded :class:`rnncourse.classification_tasks.LabelledBatch`;
* :func:`stratified_split`: a seeded train/test split with the same share of each (site,
  label) pair on both sides;
* :func:`length_batches` and :func:`padding_slots`: batches of similar lengths ("bucketing")
  and the number of padding positions a set of batches costs, sum_b (N_b L_b - sum_n T_n).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

import torch

from rnncourse._validation import check_int
from rnncourse.classification_tasks import LabelledBatch

__all__ = [
    "PAD_ID",
    "SITES",
    "UNKNOWN_ID",
    "EpochBatches",
    "LabelledSentences",
    "build_vocabulary",
    "encode",
    "length_batches",
    "load_labelled_sentences",
    "padding_slots",
    "stratified_split",
    "tokenize",
]

SITES = ("amazon_cells", "imdb", "yelp")
PAD_ID, UNKNOWN_ID = 0, 1
_TOKEN = re.compile(r"[a-z0-9']+|[!?]")


@dataclass(frozen=True)
class LabelledSentences:
    """Sentences with their labels (1 = positive) and the site each comes from."""

    texts: tuple[str, ...]
    labels: torch.Tensor  # (N,) int64
    sites: tuple[str, ...]

    def subset(self, index: torch.Tensor) -> LabelledSentences:
        """The sentences at ``index`` (a 1-D integer tensor), in that order."""
        rows = [int(i) for i in index]
        return LabelledSentences(tuple(self.texts[i] for i in rows), self.labels[index],
                                 tuple(self.sites[i] for i in rows))


def load_labelled_sentences() -> LabelledSentences:
    """All 3,000 sentences, site by site in :data:`SITES` order, each file in its own order.

    Lines are split on newlines only: the IMDb file holds a NEL character inside a sentence.
    """
    folder = resources.files("rnncourse").joinpath("data/sentiment_labelled_sentences")
    texts, labels, sites = [], [], []
    for site in SITES:
        for line in folder.joinpath(f"{site}_labelled.txt").read_text("utf-8").split("\n"):
            if not line.strip():
                continue
            text, label = line.rsplit("\t", 1)
            texts.append(text.strip())
            labels.append(int(label))
            sites.append(site)
    return LabelledSentences(tuple(texts), torch.tensor(labels), tuple(sites))


def tokenize(text: str) -> list[str]:
    """Lower-cased words (runs of letters, digits and apostrophes) and "!" / "?" marks.

    Example:
        >>> tokenize("Not tasty, and the texture was just nasty!")
        ['not', 'tasty', 'and', 'the', 'texture', 'was', 'just', 'nasty', '!']
    """
    if not isinstance(text, str):
        raise ValueError(f"text: expected a str, got {type(text).__name__}")
    return _TOKEN.findall(text.lower())


def build_vocabulary(texts: Sequence[str], min_count: int = 2) -> dict[str, int]:
    """Word -> id for words seen at least ``min_count`` times; ids from 2 (0 pad, 1 unknown).

    Words are ordered by decreasing count, ties alphabetically, so the ids are reproducible.
    """
    check_int("min_count", min_count)
    counts = Counter(w for text in texts for w in tokenize(text))
    kept = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
    return {w: i for i, w in enumerate(kept, start=2)}


def encode(sentences: LabelledSentences, vocabulary: dict[str, int],
           max_length: int | None = None) -> LabelledBatch:
    """Padded word ids (N, L), lengths (N,) and labels (N,), unknown words as ``UNKNOWN_ID``.

    A sentence with no token keeps one unknown token (length 1); ``max_length`` truncates.
    """
    if max_length is not None:
        check_int("max_length", max_length)
    rows = []
    for text in sentences.texts:
        ids = [vocabulary.get(w, UNKNOWN_ID) for w in tokenize(text)] or [UNKNOWN_ID]
        rows.append(ids[:max_length] if max_length is not None else ids)
    lengths = torch.tensor([len(r) for r in rows])  # (N,)
    tokens = torch.zeros(len(rows), int(lengths.max()), dtype=torch.long)  # (N, L), 0 = padding
    for n, ids in enumerate(rows):
        tokens[n, : len(ids)] = torch.tensor(ids)
    return LabelledBatch(tokens, lengths, sentences.labels.clone())


def stratified_split(sentences: LabelledSentences, test_fraction: float,
                     generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (train, test): ``test_fraction`` of each (site, label) group, drawn at random."""
    if not isinstance(test_fraction, float) or not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction: expected a float in (0, 1), got {test_fraction!r}")
    train, test = [], []
    for site in sorted(set(sentences.sites)):
        for label in (0, 1):
            group = torch.tensor([i for i, (s, y) in enumerate(
                zip(sentences.sites, sentences.labels.tolist(), strict=True))
                if s == site and y == label], dtype=torch.long)
            group = group[torch.randperm(len(group), generator=generator)]
            n_test = round(test_fraction * len(group))
            test.append(group[:n_test])
            train.append(group[n_test:])
    return torch.cat(train).sort().values, torch.cat(test).sort().values


def length_batches(lengths: torch.Tensor, batch_size: int, *, bucketed: bool,
                   generator: torch.Generator) -> list[torch.Tensor]:
    """One epoch of batches (index tensors) covering every sequence once.

    Unbucketed: a random permutation cut into batches. Bucketed: the permutation is cut into
    chunks of ``50 * batch_size`` sequences, each chunk is sorted by length and cut into
    batches, and the batches are shuffled, so a batch holds sequences of similar lengths
    (less padding) while the epoch stays random.
    """
    check_int("batch_size", batch_size)
    (n,) = lengths.shape
    order = torch.randperm(n, generator=generator)  # (N,)
    if bucketed:
        chunk = 50 * batch_size
        order = torch.cat([part[lengths[part].argsort(stable=True)]
                           for part in order.split(chunk)])
    batches = list(order.split(batch_size))
    if bucketed:
        batches = [batches[int(i)] for i in torch.randperm(len(batches), generator=generator)]
    return batches


def padding_slots(lengths: torch.Tensor, batches: Sequence[torch.Tensor]) -> int:
    r"""Padding positions the batches cost: \sum_b (N_b \max_{n \in b} T_n - \sum_{n \in b} T_n)."""
    return sum(int(len(b) * lengths[b].max() - lengths[b].sum()) for b in batches)


class EpochBatches:
    """A task for :func:`rnncourse.stacked_training.train_stack` that walks a data set in epochs.

    Called as ``batches(batch_size, generator=g)``, it returns the next batch of the current
    epoch, trimmed to that batch's longest sentence; when an epoch is used up it draws the next
    one's order from ``g`` with :func:`length_batches`. ``steps_per_epoch`` batches make one
    epoch.

    Args:
        data: the encoded training set.
        batch_size: sequences per batch; calls must ask for this many.
        bucketed: group sentences of similar lengths (see :func:`length_batches`).
    """

    def __init__(self, data: LabelledBatch, batch_size: int, *, bucketed: bool) -> None:
        if not isinstance(data, LabelledBatch):
            raise ValueError(f"data: expected a LabelledBatch, got {type(data).__name__}")
        self.data, self.batch_size = data, check_int("batch_size", batch_size)
        self.bucketed = bucketed
        self.steps_per_epoch = -(-len(data.labels) // batch_size)
        self._pending: list[torch.Tensor] = []

    def __call__(self, n: int, generator: torch.Generator | None = None) -> LabelledBatch:
        """The next batch of ``n`` (= ``batch_size``) sentences, or fewer at an epoch's end."""
        if n != self.batch_size:
            raise ValueError(f"n: expected the batch size {self.batch_size}, got {n!r}")
        if not self._pending:
            g = generator if generator is not None else torch.Generator().manual_seed(0)
            self._pending = length_batches(self.data.lengths, self.batch_size,
                                           bucketed=self.bucketed, generator=g)[::-1]
        index = self._pending.pop()
        lengths = self.data.lengths[index]  # (n,)
        return LabelledBatch(self.data.tokens[index, : int(lengths.max())], lengths,
                             self.data.labels[index])
