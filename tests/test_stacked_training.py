"""train_stack and stack_accuracy: K seeds trained at once equal K trainings alone."""

import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import rnncourse.pooling
import rnncourse.stacked_training
from rnncourse.classification_tasks import end_evidence_task, spread_evidence_task
from rnncourse.classifier import SequenceClassifier
from rnncourse.ensemble import StackedModels
from rnncourse.labelled_sentences import EpochBatches
from rnncourse.stacked_training import stack_accuracy, train_stack
from rnncourse.train import train

SETTING = {"vocab_size": 12, "embedding_size": 4, "hidden_size": 6, "steps": 4,
           "batch_size": 8, "lr": 1e-2}


def _task(n, generator):
    return end_evidence_task(n, (3, 6), generator=generator)


class PaddedEnd(nn.Module):
    """A parameter-free readout given as a class: the state at the padded end."""

    def forward(self, states, lengths):
        return states[:, -1]


def test_public_names():
    """The module exports exactly its four functions."""
    assert rnncourse.stacked_training.__all__ == [
        "accuracy", "stack_accuracy", "train_readouts", "train_stack"]


@pytest.mark.parametrize("readout", ["mean", "attention"])
def test_each_copy_trains_as_if_alone(readout):
    """Copy k equals a classifier built under seed k and trained alone on the same batches."""
    seeds = (0, 3)
    stack = train_stack(_task, readout, seeds=seeds, **SETTING)
    assert isinstance(stack, StackedModels)
    assert stack.size == len(seeds)
    for k, seed in enumerate(seeds):
        torch.manual_seed(seed)
        alone = SequenceClassifier(12, 4, 6, 2, readout=readout)
        data_g = torch.Generator().manual_seed(1234)

        def loss_fn(model, step, data_g=data_g):
            batch = _task(SETTING["batch_size"], generator=data_g)
            return F.cross_entropy(model(batch.tokens, batch.lengths), batch.labels)

        train(alone, loss_fn, SETTING["steps"], lr=SETTING["lr"], progress=False)
        member = dict(stack.member(k).named_parameters())
        for name, p in alone.named_parameters():
            torch.testing.assert_close(member[name], p, rtol=1e-4, atol=1e-6, msg=name)


def test_copies_start_from_their_own_seeds():
    """Different seeds give different weights; a class readout is built once per copy."""
    stack = train_stack(_task, PaddedEnd, seeds=(0, 1), **SETTING)
    w0, w1 = (dict(stack.member(k).named_parameters())["rnn.W_hh"] for k in (0, 1))
    assert not torch.equal(w0, w1)
    assert isinstance(stack.member(0).readout, PaddedEnd)


def test_recurrent_false_pools_embeddings():
    """recurrent=False trains the bag-of-embeddings baseline: no recurrence in the copies."""
    stack = train_stack(_task, "mean", seeds=(0,), recurrent=False, **SETTING)
    assert stack.member(0).rnn is None


def test_accuracy_per_copy_matches_each_member():
    """stack_accuracy(stack, batch)[k] is member k's accuracy on the batch."""
    torch.manual_seed(0)
    stack = StackedModels([SequenceClassifier(12, 4, 6, 2, readout="last") for _ in range(3)])
    test = spread_evidence_task(50, (7, 12), generator=torch.Generator().manual_seed(1))
    acc = stack_accuracy(stack, test)
    assert acc.shape == (3,)
    assert acc.dtype == torch.float64
    for k in range(3):
        with torch.no_grad():
            predicted = stack.member(k)(test.tokens, test.lengths).argmax(-1)  # (N,)
        assert acc[k].item() == pytest.approx((predicted == test.labels).double().mean().item())


def test_extra_padding_changes_nothing_for_a_masked_readout_but_does_for_the_padded_end():
    """pad_to appends padding: masked readouts keep their predictions, the padded end does not."""
    torch.manual_seed(0)
    test = spread_evidence_task(200, (7, 12), generator=torch.Generator().manual_seed(2))
    masked = StackedModels([SequenceClassifier(12, 4, 6, 2, readout="mean") for _ in range(2)])
    assert torch.equal(stack_accuracy(masked, test), stack_accuracy(masked, test, pad_to=40))
    buggy = StackedModels([SequenceClassifier(12, 4, 6, 2, readout=PaddedEnd()) for _ in range(2)])
    tokens = torch.nn.functional.pad(test.tokens, (0, 40 - test.tokens.shape[1]))
    with torch.no_grad():
        assert not torch.equal(buggy(test.tokens, test.lengths), buggy(tokens, test.lengths))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"task": None}, "task: expected a callable task(n, generator=g), got None"),
        ({"readout": PaddedEnd()}, ("readout: expected a readout name or an nn.Module class, "
                                    "got PaddedEnd")),
        ({"seeds": ()}, "seeds: expected a non-empty sequence of ints, got ()"),
        ({"seeds": (0, 1.5)}, "seeds: expected a non-empty sequence of ints, got (0, 1.5)"),
        ({"steps": 0}, "steps: expected a positive int, got 0"),
        ({"batch_size": 2.0}, "batch_size: expected a positive int, got 2.0"),
        ({"lr": -1.0}, "lr: expected a positive number, got -1.0"),
    ],
)
def test_bad_arguments_of_train_stack_raise_value_error(kwargs, message):
    """Each bad argument names what was expected and what came."""
    args = {"task": _task, "readout": "last", "seeds": (0,), **SETTING, **kwargs}
    task, readout = args.pop("task"), args.pop("readout")
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        train_stack(task, readout, **args)


def test_bad_arguments_of_stack_accuracy_raise_value_error():
    """A model that is no stack, a batch that is no LabelledBatch, or pad_to too short."""
    stack = StackedModels([SequenceClassifier(12, 4, 6, 2) for _ in range(2)])
    test = end_evidence_task(4, 6, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=r"^stack: expected a StackedModels, got Linear$"):
        stack_accuracy(nn.Linear(2, 2), test)
    with pytest.raises(ValueError, match=r"^batch: expected a LabelledBatch, got Tensor$"):
        stack_accuracy(stack, test.tokens)
    message = "pad_to: expected an int >= the batch's length 6, got 3"
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        stack_accuracy(stack, test, pad_to=3)


def test_accuracy_of_a_stack_a_model_and_in_chunks():
    """accuracy: (K,) for a stack, () for one model, the same when run in sorted chunks."""
    torch.manual_seed(0)
    models = [SequenceClassifier(12, 4, 6, 2, readout="mean") for _ in range(3)]
    stack = StackedModels(models)
    test = end_evidence_task(40, (2, 9), generator=torch.Generator().manual_seed(1))
    whole = rnncourse.stacked_training.accuracy(stack, test)
    assert whole.shape == (3,)
    assert torch.equal(whole, stack_accuracy(stack, test))
    assert torch.allclose(whole, rnncourse.stacked_training.accuracy(stack, test, batch_size=7))
    one = rnncourse.stacked_training.accuracy(models[1], test, batch_size=5)
    assert one.shape == ()
    assert torch.isclose(one, whole[1])
    with pytest.raises(ValueError, match="batch_size: expected a positive int, got 0"):
        rnncourse.stacked_training.accuracy(stack, test, batch_size=0)
    with pytest.raises(ValueError, match=r"model: expected an nn\.Module, got str"):
        rnncourse.stacked_training.accuracy("model", test)


def test_on_step_sees_every_step_and_the_end():
    """on_step is called before each step and once after the last, with the stack."""
    seen = []
    stack = train_stack(_task, "last", seeds=(0, 1), **SETTING,
                        on_step=lambda s, step: seen.append((type(s).__name__, step)))
    assert seen == [("StackedModels", k) for k in range(SETTING["steps"] + 1)]
    assert stack.size == 2


def test_mlp_size_builds_a_deep_averaging_network():
    """mlp_size adds a tanh layer W_m; with recurrent=False there is no recurrence."""
    stack = train_stack(_task, "mean", seeds=(0,), recurrent=False, mlp_size=5, **SETTING)
    model = stack.member(0)
    assert model.rnn is None
    assert tuple(model.W_m.weight.shape) == (5, 4)
    tokens, lengths = torch.tensor([[3, 4, 0]]), torch.tensor([2])
    c = model.embedding(tokens)[0, :2].mean(0)
    expected = model.W_o(torch.tanh(model.W_m(c)))
    assert torch.allclose(model(tokens, lengths)[0], expected)


@pytest.mark.parametrize("readouts", [("last", PaddedEnd, "mean"), ("max", "attention")])
def test_train_readouts_equals_one_train_stack_per_readout(readouts):
    """Each readout's copies are the ones train_stack trains, attention's weights included.

    A parametrised readout such as attention starts from its train_stack weights too, so a
    mismatch of the initial weights would show as a difference of order 0.1, not rounding.
    """
    together = rnncourse.stacked_training.train_readouts(_task, readouts, seeds=(0, 2),
                                                          **SETTING)
    names = [getattr(r, "__name__", r) for r in readouts]
    assert list(together) == names
    for readout, name in zip(readouts, names, strict=True):
        alone = train_stack(_task, readout, seeds=(0, 2), **SETTING)
        assert together[name].size == 2
        for k in range(2):
            mine = together[name].member(k)
            assert isinstance(mine, SequenceClassifier)
            assert type(mine.readout) is type(alone.member(k).readout)
            mine = dict(mine.named_parameters())
            for key, p in alone.member(k).named_parameters():
                torch.testing.assert_close(mine[key], p, rtol=1e-5, atol=1e-6,
                                           msg=f"{name}, copy {k}, {key}")


def test_train_readouts_on_step_sees_every_copy():
    """on_step gets one model whose output holds every copy's logits, (R * K, N, C)."""
    shapes, trainable = [], []
    batch = _task(5, torch.Generator().manual_seed(0))

    def record(model, step):
        shapes.append(tuple(model(batch.tokens, batch.lengths).shape))
        trainable.append(all(p.device.type == "cpu" for p in model.parameters()))

    rnncourse.stacked_training.train_readouts(_task, ("last", "attention", "max"), seeds=(0, 1),
                                              on_step=record, **SETTING)
    assert shapes == [(6, 5, 2)] * (SETTING["steps"] + 1)
    assert all(trainable), "parameters() holds only the stacked weights, no meta templates"


def test_bad_arguments_of_train_readouts_raise_value_error():
    """Repeated or missing readouts, a readout that is not one and a bad lr are refused."""
    with pytest.raises(ValueError, match="readouts: expected distinct readouts"):
        rnncourse.stacked_training.train_readouts(_task, ("last", "last"), seeds=(0,), **SETTING)
    with pytest.raises(ValueError, match="readouts: expected a non-empty sequence"):
        rnncourse.stacked_training.train_readouts(_task, "last", seeds=(0,), **SETTING)
    with pytest.raises(ValueError, match=r"lr: expected a positive number, got -1\.0"):
        rnncourse.stacked_training.train_readouts(_task, ("last",), seeds=(0,),
                                                  **(SETTING | {"lr": -1.0}))
    with pytest.raises(ValueError, match=r"readout: expected a readout name or an nn\.Module"):
        rnncourse.stacked_training.train_readouts(_task, ("last", 3), seeds=(0,), **SETTING)


def test_train_readouts_in_two_threads_trains_the_same_copies():
    """workers=2 splits the readouts into two groups trained side by side: same weights.

    Also with a stateful task behind a plain function (an epoch walk), which the two
    threads must not share: the batches are drawn once and both groups train on them.
    """
    data = end_evidence_task(40, (2, 9), generator=torch.Generator().manual_seed(0))
    readouts = ("last", "attention", PaddedEnd)

    def wrapped_epochs():
        """A stateful task behind a plain function, which deepcopy would not copy."""
        epochs = EpochBatches(data, 8, bucketed=True)

        def task(n, generator):
            return epochs(n, generator)

        return task

    for make_task in (lambda: _task, wrapped_epochs):
        one_group = rnncourse.stacked_training.train_readouts(make_task(), readouts,
                                                              seeds=(0, 1), **SETTING)
        two_groups = rnncourse.stacked_training.train_readouts(make_task(), readouts,
                                                               seeds=(0, 1), workers=2,
                                                               **SETTING)
        assert list(two_groups) == list(one_group) == ["last", "attention", "PaddedEnd"]
        for name, stack in one_group.items():
            for mine, theirs in zip(two_groups[name].stacked, stack.stacked, strict=True):
                assert torch.equal(mine, theirs), name
        assert not torch.allclose(one_group["last"].stacked[0], one_group["PaddedEnd"].stacked[0],
                                  atol=1e-3), "trained copies differ by readout (not vacuous)"
    with pytest.raises(ValueError, match="workers: expected a positive int, got 0"):
        rnncourse.stacked_training.train_readouts(_task, readouts, seeds=(0,), workers=0,
                                                  **SETTING)
    with pytest.raises(ValueError, match="on_step: expected None with workers > 1"):
        rnncourse.stacked_training.train_readouts(_task, readouts, seeds=(0,), workers=2,
                                                  on_step=lambda m, s: None, **SETTING)
