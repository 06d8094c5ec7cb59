"""Submissions the grading tests build from a set's reference solutions, for every question.

* :func:`in_place_tamper`: each answer function first changes every tensor and module it was
  given, in place (a permutation of its values: same shape, dtype and range), then returns the
  reference answer *for the changed inputs*. A grader whose expected values are computed from
  the test's own objects after the call would take that answer for right (issue 24); the
  grader must score it 0.
* :func:`wrong_kind_answers`: each function promised to return a dtype or a type returns the
  right values in the wrong dtype or type (:data:`WRONG_KINDS` says which, per question).

Both return ``{question: code}`` for :func:`answer_files.replace_answers`, one notebook per set.
"""

from __future__ import annotations

import ast

from rnncourse.grading import answer_cells

# Questions whose functions take no tensor or module at all (numbers, strings): nothing to
# change in place, so their in-place tamper is the reference itself and keeps its points.
NOTHING_TO_CHANGE = {
    ("02_weight_sharing", "q1"),  # parameter_counts(n, d, T): three ints
    ("05_teacher_forcing", "q2"),  # the schedules: (i, k, ...) numbers
    ("06_sequence_classification", "q4"),  # readout_for(task): a string
}

# (set, question) -> (the function, how its result is made the wrong kind, a phrase the
# reason must contain). ``out`` is the reference's result.
_OTHER_FLOAT = "(torch.float64 if {v}.dtype == torch.float32 else torch.float32)"
WRONG_KINDS = {
    # promised dtypes
    ("05_teacher_forcing", "q1"): (
        "shift_targets",
        f"out.to({_OTHER_FLOAT.format(v='out')})",
        "has the wrong dtype",
    ),
    ("06_sequence_classification", "q1"): (
        "masked_mean",
        f"out.to({_OTHER_FLOAT.format(v='out')})",
        "has the wrong dtype",
    ),
    ("06_sequence_classification", "q2"): (
        "last_state",
        f"out.to({_OTHER_FLOAT.format(v='out')})",
        "has the wrong dtype",
    ),
    ("06_sequence_classification", "q3"): (
        "masked_attention",
        f"out.to({_OTHER_FLOAT.format(v='out')})",
        "has the wrong dtype",
    ),
    ("06_sequence_classification", "q5"): (
        "bidirectional_summary",
        f"out.to({_OTHER_FLOAT.format(v='out')})",
        "has the wrong dtype",
    ),
    ("07_gated_units", "q4"): (
        "top_k_probs",
        f"out.to({_OTHER_FLOAT.format(v='out')})",
        "has the wrong dtype",
    ),
    # promised types
    ("01_sequences_are_not_iid", "q2"): ("bits_per_char", "[out]", "must be a number"),
    ("01_sequences_are_not_iid", "q4"): (
        "sequence_log_prob",
        "str(float(out))",
        "must be a number",
    ),
    ("02_weight_sharing", "q1"): (
        "parameter_counts",
        "tuple(float(v) for v in out)",
        "must be an int",
    ),
    ("02_weight_sharing", "q5"): ("tying_penalty", "dict(enumerate(out))", "must return a tuple"),
    ("03_concat_split", "q1"): ("split_matrix", "dict(enumerate(out))", "must return a tuple"),
    ("03_concat_split", "q2"): ("torch_to_keras", "dict(enumerate(out))", "must return a tuple"),
    ("03_concat_split", "q5"): ("keras_to_torch", "dict(enumerate(out))", "must return a tuple"),
    ("04_bptt", "q1"): ("tanh_step_backward", "dict(enumerate(out))", "must return a tuple"),
    ("04_bptt", "q2"): ("bptt_many_to_one", "dict(enumerate(out))", "must return a tuple"),
    ("04_bptt", "q3"): (
        "truncated_bptt_pass",
        "[torch.tensor(v, dtype=torch.float64, requires_grad=True) * 1 for v in out]",
        "must be a Python float",
    ),
    ("04_bptt", "q4"): ("clip_gradients", "(out[0], [out[1]])", "must be a number"),
    ("05_teacher_forcing", "q2"): ("exponential_schedule", "str(out)", "must be a number"),
    ("05_teacher_forcing", "q5"): ("masked_nll", "str(float(out))", "must be a number"),
    ("06_sequence_classification", "q4"): ("readout_for", "[out]", "must be a string"),
    ("07_gated_units", "q2"): ("lstm_step", "dict(enumerate(out))", "must return a tuple"),
    ("07_gated_units", "q3"): (
        "cell_state_backward",
        "dict(enumerate(out))",
        "must return a tuple",
    ),
}

_SCRAMBLE = '''

def _scramble_in_place(value):
    """Permute the values of every tensor in value (modules, lists, dicts too), in place."""
    import torch

    if isinstance(value, torch.nn.Module):
        for tensor in [*value.parameters(), *value.buffers()]:
            _scramble_in_place(tensor)
    elif isinstance(value, torch.Tensor):
        if value.numel() > 1:
            with torch.no_grad():
                value.copy_(value.detach().flatten().roll(1).reshape(value.shape))
    elif isinstance(value, (list, tuple)):
        for item in value:
            _scramble_in_place(item)
    elif isinstance(value, dict):
        for item in value.values():
            _scramble_in_place(item)
'''

_TAMPER = """

_reference_{fn} = {fn}


def {fn}(*args, **kwargs):
    for value in (*args, *kwargs.values()):
        _scramble_in_place(value)
    return _reference_{fn}(*args, **kwargs)  # right for the changed inputs, wrong for the test's
"""

_WRONG_KIND = """

import torch

_reference_{fn} = {fn}


def {fn}(*args, **kwargs):
    out = _reference_{fn}(*args, **kwargs)
    return {transform}
"""


def answer_definitions(code: str) -> tuple[str, list[str]]:
    """The imports and functions of an answer cell (not its demo lines), and their names."""
    body = ast.parse(code).body
    keep = [n for n in body if isinstance(n, (ast.FunctionDef, ast.Import, ast.ImportFrom))]
    names = [n.name for n in keep if isinstance(n, ast.FunctionDef)]
    if not names:
        raise ValueError(
            f"an answer cell defines no function (exercises/README.md, rule 1):\n{code}"
        )
    return "\n\n".join(ast.get_source_segment(code, n) for n in keep), names


def reference_answers(reference: dict) -> dict[str, str]:
    """``{question: code}``: the reference notebook's first answer cell of each question."""
    return {
        q: "".join(reference["cells"][cells[0]]["source"])
        for q, cells in answer_cells(reference).items()
    }


def in_place_tamper(reference: dict) -> dict[str, str]:
    """For every question: its reference functions, each wrapped to change its inputs first."""
    answers = {}
    for question, code in reference_answers(reference).items():
        definitions, names = answer_definitions(code)
        answers[question] = definitions + _SCRAMBLE + "".join(_TAMPER.format(fn=fn) for fn in names)
    return answers


def wrong_kind_answers(set_name: str, reference: dict) -> dict[str, str]:
    """For every question of ``set_name`` in :data:`WRONG_KINDS`: the right values, wrong kind."""
    answers = {}
    for question, code in reference_answers(reference).items():
        if (set_name, question) in WRONG_KINDS:
            fn, transform, _ = WRONG_KINDS[set_name, question]
            definitions, names = answer_definitions(code)
            if fn not in names:
                raise ValueError(f"{set_name} {question}: no function {fn} in the answer cell")
            answers[question] = definitions + _WRONG_KIND.format(fn=fn, transform=transform)
    return answers
