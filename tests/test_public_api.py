"""The public API is explicit, pinned, and importing the package changes no global state.

Every public module (no leading underscore) of ``rnncourse``, subpackages included, has an
``__all__``, and it equals the names pinned here: adding, renaming or dropping a public name
is a decision this file records, not an accident. A new module fails
``test_every_public_module_is_pinned`` until its names are added below.
"""

import importlib
import pkgutil
import subprocess
import sys

import pytest

import rnncourse

PUBLIC_API = {
    "rnncourse": (
        "STYLE", "CharRNN", "CharVocab", "ElmanRNN", "NGramModel", "TrainResult", "ar_process",
        "autocorrelation", "course_style", "elman_step", "load_corpus", "make_corpus",
        "noisy_sines", "progress_enabled", "seed_everything", "subplots", "train",
    ),
    "rnncourse.attention_view": ("alpha_html",),
    "rnncourse.autocorrelation": ("autocorrelation",),
    "rnncourse.beam_search": ("beam_search", "greedy_search"),
    "rnncourse.bench": (
        "CONTENDERS", "BenchResult", "allocated_bytes", "contenders", "count_ops", "main",
        "rnn_flops", "run_benchmark", "time_interleaved",
    ),
    "rnncourse.bidirectional": ("BiGRUClassifier", "bidirectional_last", "train_each"),
    "rnncourse.bptt": (
        "PARAMETER_NAMES", "ElmanWithReadout", "ForwardCache", "Gradients",
        "finite_difference_gradient", "relative_error", "rnn_backward", "rnn_forward",
        "squared_error",
    ),
    "rnncourse.cells": (
        "concat_loop", "concat_step", "hoisted_input_projection", "indexed_hoisted_loop",
        "split_loop",
    ),
    "rnncourse.char_lm": (
        "KINDS", "CharLMConfig", "CharLMRun", "Evaluation", "RecurrentLM", "evaluate_carried",
        "evaluate_windows", "hidden_size_for", "parameter_count", "sample", "top_k_probs",
        "train_char_lm",
    ),
    "rnncourse.checkpointed_bptt": ("checkpointed_rnn",),
    "rnncourse.classification_tasks": (
        "NEGATION_VOCAB", "LabelledBatch", "contrast_task", "decode_sentence", "end_evidence_task",
        "negation_task", "position_task", "spread_evidence_task",
    ),
    "rnncourse.classifier": ("SequenceClassifier",),
    "rnncourse.data": ("CharVocab", "ar_process", "load_corpus", "make_corpus", "noisy_sines"),
    "rnncourse.decoding": (
        "generate", "greedy", "sample", "token_chooser", "top_k_filter", "top_p_filter",
    ),
    "rnncourse.delay_task": (
        "N_DISTRACTORS", "N_KEYS", "DelayBatch", "DelayClassifier", "DelayResult", "delay_accuracy",
        "delay_batch", "key_gradient_norm", "train_delay", "train_delay_copies",
    ),
    "rnncourse.elman": ("ElmanRNN", "elman_step"),
    "rnncourse.ensemble": ("StackedModels",),
    "rnncourse.fast_elman": ("backward_loop", "fast_elman", "forward_loop"),
    "rnncourse.gated": (
        "GRU", "GRU_GATES", "LSTM", "LSTM_GATES", "gru_gates", "gru_step", "lstm_gates",
        "lstm_step", "set_forget_bias",
    ),
    "rnncourse.gradient_flow": ("jacobian_norms", "scale_to_spectral_radius", "spectral_radius"),
    "rnncourse.grading": (
        "AssignOutput", "GradingError", "QuestionResult", "Report", "answer_cells", "assign",
        "autograder_zip", "batch", "build", "find_masters", "format_report", "grade", "main",
        "normalise_student", "stale_students",
    ),
    "rnncourse.grading.batch_grading": ("batch",),
    "rnncourse.grading.building": (
        "AssignOutput", "assign", "autograder_zip", "build", "build_dir", "find_masters",
        "normalise_student", "read_json", "repo_root", "set_lock", "stale_students",
    ),
    "rnncourse.grading.checks": (
        "CheckFailure", "call", "expect_close", "expect_scalar", "expect_tensor", "expect_type",
        "rel_error",
    ),
    "rnncourse.grading.cli": ("main",),
    "rnncourse.grading.confinement": ("confine", "confinement_available", "default_confinement"),
    "rnncourse.grading.grade_notebook": (
        "DEFAULT_CELL_TIMEOUT", "DEFAULT_CHECK_TIME_LIMIT", "DEFAULT_MEMORY_MB", "DEFAULT_TIMEOUT",
        "grade",
    ),
    "rnncourse.grading.hidden_tests": (
        "HiddenCase", "Question", "case_points", "load_tests", "natural_key", "questions_in_zip",
    ),
    "rnncourse.grading.learner": (
        "LearnerProcess", "Remote", "call_remote", "host_main", "is_remote",
    ),
    "rnncourse.grading.report": (
        "GradingError", "QuestionResult", "Report", "format_report", "one_line", "write_atomic",
    ),
    "rnncourse.grading.stops": ("LearnerDied", "OutOfTime", "TimeLimitExceeded"),
    "rnncourse.grading.submission": ("answer_cells", "cell_source", "exercise_set_of"),
    "rnncourse.grading.wire": (
        "MAX_DEPTH", "RemoteError", "UnreadableError", "apply_state", "arg_state", "decode", "dump",
        "encode", "exception_from", "load_plain", "plain_tensor",
    ),
    "rnncourse.grading.worker": ("grade_question", "run_worker"),
    "rnncourse.keras_layouts": (
        "GATES", "from_keras", "keras_float64", "keras_gradients", "keras_to_torch",
        "max_differences", "tf1_lstm_step", "tf1_lstm_to_torch", "to_keras", "torch_to_keras",
    ),
    "rnncourse.key_token_task": (
        "KeyTokenBatch", "accuracy_by_position", "key_token_batch", "skewed_positions",
    ),
    "rnncourse.language_model": ("CharRNN",),
    "rnncourse.layouts": (
        "ConcatLayout", "KerasLayout", "TorchLayout", "concat_weights", "split_weights",
        "to_concat", "to_keras", "to_torch",
    ),
    "rnncourse.labelled_sentences": (
        "PAD_ID", "SITES", "UNKNOWN_ID", "EpochBatches", "LabelledSentences", "build_vocabulary",
        "encode", "length_batches", "load_labelled_sentences", "padding_slots", "stratified_split",
        "tokenize",
    ),
    "rnncourse.long_range_gradient": ("GradientReach", "gradient_reach"),
    "rnncourse.memory_probe": ("majority_accuracy", "memory_curve", "probe_accuracy"),
    "rnncourse.ngram": ("KneserNeyModel", "NGramModel", "distinct_ngrams"),
    "rnncourse.parameter_count": (
        "conv2d_parameters", "count_parameters", "shared_rnn_parameters", "torch_rnn_parameters",
        "unshared_rnn_parameters",
    ),
    "rnncourse.plotting": ("STYLE", "course_style", "subplots"),
    "rnncourse.pooling": (
        "READOUTS", "AttentionPooling", "LastState", "MaskedMax", "MaskedMean",
        "last_state",
        "length_mask", "make_readout", "masked_max", "masked_mean", "masked_softmax",
    ),
    "rnncourse.position_features": (
        "normalised_position", "one_hot_position", "periodic_features", "sinusoidal_encoding",
        "with_position_features",
    ),
    "rnncourse.random_windows": ("random_window_loss", "random_windows"),
    "rnncourse.recurrent_init": ("RECURRENT_INITS", "init_recurrent"),
    "rnncourse.regime_comparison": ("Regime", "RegimeGrid", "SeedSpread", "separated"),
    "rnncourse.reproducibility": ("seed_everything",),
    "rnncourse.scheduled_sampling": (
        "exponential_decay", "inverse_sigmoid_decay", "linear_decay", "stacked_unroll",
        "teacher_forcing_mass", "token_scheduled_sampling_loss", "with_mass",
    ),
    "rnncourse.sensor_task": ("SensorWindows", "sensor_windows"),
    "rnncourse.seq2seq": (
        "BOS", "EOS", "PAD", "ReversalBatch", "Seq2SeqRNN", "masked_sequence_loss",
        "reversal_batch",
    ),
    "rnncourse.shakespeare": (
        "TRAIN_FRACTION", "ShakespeareSplit", "load_shakespeare", "shakespeare_text",
    ),
    "rnncourse.sharing_stack": (
        "PARTLY_SHARED", "RECURRENT_NAMES", "SHARED", "UNSHARED", "Sharing", "SharingStack",
    ),
    "rnncourse.sine_oracle": ("sine_forecast",),
    "rnncourse.stacked_char_rnn": ("StackedCharRNN",),
    "rnncourse.stacked_rnn": (
        "MemberwiseAdam", "StackedCharRNNSteps", "StackedElman", "StackedNextValueRNN",
    ),
    "rnncourse.stacked_training": ("accuracy", "stack_accuracy", "train_readouts", "train_stack"),
    "rnncourse.teacher_forcing": (
        "NextValueRNN", "horizon_errors", "mix", "teacher_forced_inputs", "unroll",
    ),
    "rnncourse.train": ("TrainResult", "progress_enabled", "train"),
    "rnncourse.truncated_bptt": ("OverlappingTruncatedBPTT", "TruncatedBPTT", "parallel_streams"),
    "rnncourse.unshared": ("UnsharedRNN",),
}


def _public_modules():
    """Names of rnncourse and its public modules and subpackages, found without importing them."""
    names = ["rnncourse"]
    todo = [(rnncourse.__path__, "rnncourse.")]
    while todo:
        path, prefix = todo.pop()
        for info in pkgutil.iter_modules(path):
            if info.name.startswith("_"):
                continue
            name = prefix + info.name
            names.append(name)
            if info.ispkg:
                todo.append(([f"{path[0]}/{info.name}"], name + "."))
    return sorted(names)


def test_every_public_module_is_pinned():
    found, pinned = set(_public_modules()), set(PUBLIC_API)
    missing = sorted(found - pinned)
    stale = sorted(pinned - found)
    hint = "".join(
        f"\n    {name!r}: {tuple(getattr(importlib.import_module(name), '__all__', ()))},"
        for name in missing
    )
    assert not missing, f"public modules without pinned names (add to PUBLIC_API):{hint}"
    assert not stale, f"PUBLIC_API pins modules that no longer exist: {stale}"


@pytest.mark.parametrize("name", sorted(PUBLIC_API))
def test_all_is_pinned_and_every_name_exists(name):
    module = importlib.import_module(name)
    assert hasattr(module, "__all__"), f"{name} has no __all__"
    got, want = set(module.__all__), set(PUBLIC_API[name])
    assert got == want, f"{name}.__all__: added {sorted(got - want)}, dropped {sorted(want - got)}"
    assert len(module.__all__) == len(got), f"{name}.__all__ lists a name twice"
    for attribute in module.__all__:
        assert hasattr(module, attribute), f"{name}.__all__ names {attribute}, which is not there"


def test_import_leaves_matplotlib_rcparams_alone():
    """Importing rnncourse must not change rcParams (the style is applied only in a context)."""
    code = (
        "import matplotlib as mpl; before = dict(mpl.rcParams); import rnncourse;"
        "changed = [k for k, v in mpl.rcParams.items() if before.get(k) != v];"
        "print(changed)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_course_style_restores_rcparams():
    import matplotlib as mpl

    before = mpl.rcParams["axes.grid"]
    with rnncourse.course_style():
        assert mpl.rcParams["axes.grid"] is True
    assert mpl.rcParams["axes.grid"] == before
