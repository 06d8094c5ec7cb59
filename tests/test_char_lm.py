"""Tiny Shakespeare's split, and the budgeted character language model's pieces."""

import hashlib
import math

import pytest
import torch
import torch.nn.functional as F

from rnncourse.char_lm import (
    CharLMConfig,
    RecurrentLM,
    evaluate_carried,
    evaluate_windows,
    hidden_size_for,
    parameter_count,
    sample,
    top_k_probs,
    train_char_lm,
)
from rnncourse.shakespeare import load_shakespeare, shakespeare_text


def test_shipped_corpus_and_nanogpt_split():
    """The shipped file is the one in shared/data (MD5) and splits at int(0.9 n) as nanoGPT."""
    text = shakespeare_text()
    digest = hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()
    assert digest == "6fb458f1232090904fb40fe944165e91"
    split = load_shakespeare()
    n = int(0.9 * len(text))
    assert split.vocab.decode(split.train[:20]) == text[:20]
    assert split.vocab.decode(split.val[-20:]) == text[-20:]
    assert len(split.train) == n
    assert len(split.val) == len(text) - n
    assert split.vocab.chars[0] == "\n"
    assert len(split.vocab) == 65


def _model(kind="gru", H=8, seed=0):
    torch.manual_seed(seed)
    return RecurrentLM(5, H, kind, embedding_size=4)


@pytest.mark.parametrize("kind", ["elman", "gru", "lstm"])
def test_evaluations_match_a_plain_loop(kind):
    """Carried evaluation with one stream = one pass over the text; windows = one per window."""
    model = _model(kind)
    ids = torch.randint(0, 5, (301,), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        logits, _ = model(ids[:-1].unsqueeze(0))
    whole = float(torch.nn.functional.cross_entropy(logits[0], ids[1:]))
    assert evaluate_carried(model, ids, n_streams=1, chunk=7) == pytest.approx(whole, abs=1e-6)
    nll = []
    for start in range(0, 300, 64):
        x, y = ids[start:start + 64][: len(ids[start + 1:start + 65])], ids[start + 1:start + 65]
        with torch.no_grad():
            out, _ = model(x.unsqueeze(0))
        nll.append(torch.nn.functional.cross_entropy(out[0], y, reduction="sum"))
    windows = float(sum(nll)) / 300
    assert evaluate_windows(model, ids, window=64, batch=2) == pytest.approx(windows, abs=1e-6)
    # more streams lose a little context at the stream starts, never targets
    assert abs(evaluate_carried(model, ids, n_streams=4) - whole) < 0.1


def test_hidden_size_for_equal_parameter_counts():
    """Each kind gets the largest H within the budget: one more unit would exceed it."""
    for kind in ("elman", "gru", "lstm"):
        H = hidden_size_for(kind, 200_000, 65)
        assert parameter_count(RecurrentLM(65, H, kind)) <= 200_000
        assert parameter_count(RecurrentLM(65, H + 1, kind)) > 200_000


def test_forget_bias_sets_pytorch_rows():
    model = RecurrentLM(5, 3, "lstm", embedding_size=2, forget_bias=1.0)
    b = model.rnn.bias_ih_l0 + model.rnn.bias_hh_l0
    assert torch.equal(b[3:6], torch.ones(3))


def test_training_lowers_the_loss_and_respects_the_budget():
    """A few steps on a periodic text: loss falls well below uniform's ln V; steps and evals."""
    ids = torch.arange(5).repeat(400)  # 0 1 2 3 4 0 1 ...
    config = CharLMConfig(hidden_size=16, embedding_size=4, batch_size=4, seq_len=16,
                          lr=1e-2, seconds=None, steps=60, eval_every=20, seed=3)
    run = train_char_lm(config, ids, ids[:200], 5, progress=False)
    assert run.steps == 60
    assert [e.step for e in run.evaluations] == [20, 40, 60]
    assert run.val_loss < 0.2 * math.log(5)
    assert run.seconds_to(run.val_loss) <= run.train_seconds
    assert run.seconds_to(-1.0) is None


def test_sample_top_k_and_temperature():
    model = _model()
    g = torch.Generator().manual_seed(0)
    prompt = torch.tensor([1, 2])
    out = sample(model, prompt, 50, temperature=0.5, top_k=1, generator=g)
    assert out.shape == (50,)
    assert out.dtype == torch.long
    # top_k=1 is greedy: always the most probable next character
    logits, _ = model(prompt.unsqueeze(0))
    assert int(out[0]) == int(logits[0, -1].argmax())


def test_top_k_probs_is_the_renormalised_softmax_of_the_k_largest():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 9, generator=g, dtype=torch.float64)  # no ties
    for k, T in ((1, 1.0), (3, 0.5), (9, 2.0), (None, 0.7)):
        p = top_k_probs(logits, k, T)
        assert p.shape == logits.shape
        assert p.dtype == torch.float64
        kept = logits.argsort(dim=-1, descending=True)[:, : k or 9]  # (4, k)
        expected = torch.zeros_like(logits).scatter(
            1, kept, torch.softmax(logits.gather(1, kept) / T, dim=-1))
        torch.testing.assert_close(p, expected, rtol=1e-12, atol=1e-15)
    assert torch.equal(top_k_probs(logits[0], 1), F.one_hot(logits[0].argmax(), 9).double())
    assert top_k_probs(torch.zeros(3, dtype=torch.float32), 2).dtype == torch.float32


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: RecurrentLM(5, 3, "transformer"), "kind: expected one of"),
        (lambda: RecurrentLM(5, 3, "gru", forget_bias=1.0), "forget_bias: only for kind='lstm'"),
        (lambda: evaluate_carried(_model(), torch.tensor([0, 9])), r"expected values in \[0, 4\]"),
        (lambda: evaluate_windows(_model(), torch.zeros(3)), "expected a 1-D torch.int64"),
        (lambda: sample(_model(), torch.tensor([1]), 3, temperature=0), "temperature"),
        (lambda: sample(_model(), torch.tensor([1]), 3, top_k=9), "top_k: expected None or 1..5"),
        (lambda: top_k_probs(torch.zeros(3), 4), r"k: expected None or an int in 1..3"),
        (lambda: top_k_probs(torch.zeros(3), 2, temperature=-1.0), "temperature"),
        (lambda: top_k_probs(torch.zeros(3, dtype=torch.long), 2), "floating-point"),
        (lambda: train_char_lm(CharLMConfig(seconds=None), torch.zeros(99, dtype=torch.long),
                               torch.zeros(9, dtype=torch.long), 5), "expected a budget"),
        (lambda: train_char_lm(CharLMConfig(), torch.zeros(99, dtype=torch.long),
                               torch.zeros(9, dtype=torch.long), 5), "at least batch_size"),
        (lambda: hidden_size_for("gru", 10, 65), "n_params: expected at least"),
    ],
)
def test_bad_input_raises_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()
