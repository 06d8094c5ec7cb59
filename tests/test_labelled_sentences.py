"""The UCI sentences load as shipped; the split, vocabulary, encoding and bucketing are right."""

import hashlib
from importlib import resources

import pytest
import torch

from rnncourse.classification_tasks import LabelledBatch
from rnncourse.labelled_sentences import (
    PAD_ID,
    SITES,
    UNKNOWN_ID,
    EpochBatches,
    build_vocabulary,
    encode,
    length_batches,
    load_labelled_sentences,
    padding_slots,
    stratified_split,
    tokenize,
)

MD5 = {"amazon_cells": "f737b1e64487b2d2518fcefdb0257e63",
       "imdb": "02d251f3d90a581f072f23f96ef27818", "yelp": "3a7fe2c38dc373d2ca8e687d6226a82e"}


def test_shipped_files_are_the_published_ones():
    """The three files are byte-identical to the UCI distribution (the README's MD5s)."""
    folder = resources.files("rnncourse").joinpath("data/sentiment_labelled_sentences")
    for site, md5 in MD5.items():
        data = folder.joinpath(f"{site}_labelled.txt").read_bytes()
        assert hashlib.md5(data).hexdigest() == md5  # noqa: S324 (a checksum, not security)
    assert "CC BY 4.0" in folder.joinpath("SOURCE.txt").read_text("utf-8")


def test_load_gives_3000_balanced_sentences():
    """1,000 per site, 500 of each label per site; the NEL inside an IMDb line stays in it."""
    data = load_labelled_sentences()
    assert len(data.texts) == 3000
    assert data.labels.dtype == torch.long
    for site in SITES:
        labels = data.labels[torch.tensor([s == site for s in data.sites])]
        assert len(labels) == 1000
        assert int(labels.sum()) == 500
    assert data.texts[0].startswith("So there is no way for me to plug it in")
    assert any("\x85" in t for t in data.texts)


def test_tokenize():
    assert tokenize("Wow... Loved this place!") == ["wow", "loved", "this", "place", "!"]
    assert tokenize("Isn't it 10/10?") == ["isn't", "it", "10", "10", "?"]
    with pytest.raises(ValueError, match="text: expected a str, got int"):
        tokenize(3)


def test_vocabulary_and_encoding():
    """Ids from 2 by decreasing count; unknown words map to 1, padding is 0 after each length."""
    from rnncourse.labelled_sentences import LabelledSentences
    texts = ("good good bad", "bad movie", "good")
    vocab = build_vocabulary(texts, min_count=2)
    assert vocab == {"good": 2, "bad": 3}
    sentences = LabelledSentences(texts, torch.tensor([1, 0, 1]), ("yelp",) * 3)
    batch = encode(sentences, vocab)
    assert isinstance(batch, LabelledBatch)
    assert batch.tokens.tolist() == [[2, 2, 3], [3, UNKNOWN_ID, PAD_ID], [2, PAD_ID, PAD_ID]]
    assert batch.lengths.tolist() == [3, 2, 1]
    assert encode(sentences, vocab, max_length=2).tokens.shape == (3, 2)
    empty = LabelledSentences(("...",), torch.tensor([0]), ("imdb",))
    assert encode(empty, vocab).tokens.tolist() == [[UNKNOWN_ID]]


def test_stratified_split_is_disjoint_and_balanced():
    data = load_labelled_sentences()
    train, test = stratified_split(data, 0.2, torch.Generator().manual_seed(0))
    assert len(set(train.tolist()) & set(test.tolist())) == 0
    assert len(train) + len(test) == 3000
    assert len(test) == 600
    for site in SITES:
        in_test = [data.sites[i] == site for i in test.tolist()]
        assert sum(in_test) == 200
    assert int(data.labels[test].sum()) == 300
    again, _ = stratified_split(data, 0.2, torch.Generator().manual_seed(0))
    assert torch.equal(train, again)
    with pytest.raises(ValueError, match=r"test_fraction: expected a float in \(0, 1\), got 1"):
        stratified_split(data, 1, torch.Generator())


def test_bucketing_covers_every_sequence_once_with_less_padding():
    lengths = torch.randint(1, 60, (1000,), generator=torch.Generator().manual_seed(0))
    for bucketed in (False, True):
        batches = length_batches(lengths, 32, bucketed=bucketed,
                                 generator=torch.Generator().manual_seed(1))
        assert sorted(torch.cat(batches).tolist()) == list(range(1000))
    plain = length_batches(lengths, 32, bucketed=False, generator=torch.Generator().manual_seed(1))
    assert padding_slots(lengths, batches) < padding_slots(lengths, plain) / 3
    by_hand = sum(len(b) * int(lengths[b].max()) - int(lengths[b].sum()) for b in plain)
    assert padding_slots(lengths, plain) == by_hand


def test_epoch_batches_walks_whole_epochs():
    """Each epoch visits every sentence once; batches are trimmed to their longest sentence."""
    data = load_labelled_sentences().subset(torch.arange(0, 3000, 30))  # 100 sentences
    batch = encode(data, build_vocabulary(data.texts, 1))
    task = EpochBatches(batch, 16, bucketed=True)
    assert task.steps_per_epoch == 7
    g = torch.Generator().manual_seed(0)
    seen = []
    for _ in range(task.steps_per_epoch):
        b = task(16, generator=g)
        assert b.tokens.shape[1] == int(b.lengths.max())
        seen.append(len(b.labels))
    assert sum(seen) == 100
    with pytest.raises(ValueError, match="n: expected the batch size 16, got 8"):
        task(8, generator=g)
