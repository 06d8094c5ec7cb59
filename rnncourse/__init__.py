"""rnncourse: the helper package of the executable course on recurrent neural networks.

Each module holds one idea and names the chapter that teaches it. The public names are
re-exported here, so notebooks write ``from rnncourse import ElmanRNN, seed_everything``.
"""

from rnncourse.autocorrelation import autocorrelation
from rnncourse.data import CharVocab, ar_process, load_corpus, make_corpus, noisy_sines
from rnncourse.elman import ElmanRNN, elman_step
from rnncourse.language_model import CharRNN
from rnncourse.ngram import NGramModel
from rnncourse.plotting import STYLE, course_style, subplots
from rnncourse.reproducibility import seed_everything
from rnncourse.train import TrainResult, progress_enabled, train

__all__ = [
    "STYLE",
    "CharRNN",
    "CharVocab",
    "ElmanRNN",
    "NGramModel",
    "TrainResult",
    "ar_process",
    "autocorrelation",
    "course_style",
    "elman_step",
    "load_corpus",
    "make_corpus",
    "noisy_sines",
    "progress_enabled",
    "seed_everything",
    "subplots",
    "train",
]
__version__ = "0.1.0"
