"""alpha_html shades each word by its weight, escapes the words and checks its inputs."""

import pytest

from rnncourse.attention_view import alpha_html


def test_alpha_html_shows_words_weights_and_labels():
    out = alpha_html(["not", "<good>"], [0.25, 0.75], label="negative", predicted="positive")
    assert out.startswith("<div>label: negative, predicted: positive</div>")
    assert "rgba(214, 39, 40, 0.75)" in out
    assert "&lt;good&gt;" in out
    assert "<good>" not in out
    assert "0.25" in out
    assert not alpha_html(["a"], [1.0]).startswith("<div>label")


def test_alpha_html_checks_its_inputs():
    with pytest.raises(ValueError, match=r"alpha: expected one weight per word \(2\), got 1"):
        alpha_html(["a", "b"], [1.0])
    with pytest.raises(ValueError, match=r"alpha: expected weights in \[0, 1\]"):
        alpha_html(["a"], [1.5])
