"""n-gram character models: the chain rule with a context cut to the last n - 1 symbols.

Taught in chapter 1. The chain rule writes any sequence's probability exactly as

    p(x_1..x_L) = prod_t p(x_t | x_1..x_{t-1});

an n-gram model approximates each factor by p(x_t | x_{t-n+1}..x_{t-1}), estimated by
counting with add-alpha (Laplace) smoothing:

    p(c | ctx) = (count(ctx, c) + alpha) / (count(ctx) + alpha V)

n = 1 ignores order (the i.i.d. model); n = 2 is a Markov chain over characters. Cost is
measured in bits per character, -1/L sum_t log2 p(x_t | context).
"""

from __future__ import annotations

import math

import torch

from rnncourse._validation import check_int, check_tensor

__all__ = ["KneserNeyModel", "NGramModel", "distinct_ngrams"]


class NGramModel:
    """An order-n character model fitted by counting.

    Args:
        order: n >= 1; the context is the previous n - 1 symbols.
        vocab_size: V, the number of symbols; ids are 0..V-1.
        alpha: add-alpha smoothing, so unseen continuations keep some probability.

    Example:
        >>> ids = torch.tensor([0, 1, 0, 1, 0, 1])
        >>> round(NGramModel(2, 2, alpha=0.0).fit(ids).bits_per_char(ids), 3)
        0.0
    """

    def __init__(self, order: int, vocab_size: int, alpha: float = 1.0) -> None:
        check_int("order", order)
        check_int("vocab_size", vocab_size)
        if alpha < 0:
            raise ValueError(f"alpha: expected alpha >= 0, got {alpha!r}")
        self.order = order
        self.vocab_size = vocab_size
        self.alpha = alpha
        self.counts = torch.zeros((vocab_size,) * order, dtype=torch.float64)  # (V, ..., V)

    def _check_ids(self, ids: object) -> torch.Tensor:
        ids = check_tensor("ids", ids)
        if ids.dtype != torch.long or ids.dim() != 1:
            raise ValueError(f"ids: expected a 1-D torch.int64 tensor, got {ids.dtype} of shape "
                             f"{tuple(ids.shape)}")
        if len(ids) < self.order:
            raise ValueError(f"ids: expected at least order={self.order} symbols, got {len(ids)}")
        if ids.min() < 0 or ids.max() >= self.vocab_size:
            raise ValueError(f"ids: expected values in [0, {self.vocab_size - 1}], got "
                             f"[{int(ids.min())}, {int(ids.max())}]")
        return ids

    def _windows(self, ids: torch.Tensor) -> torch.Tensor:
        return ids.unfold(0, self.order, 1)  # (L - n + 1, n): context then next symbol

    def fit(self, ids: torch.Tensor) -> NGramModel:
        """Count every window of n symbols in ``ids`` (shape (L,)); returns self."""
        ids = self._check_ids(ids)
        flat = torch.zeros(self.vocab_size**self.order, dtype=torch.float64)
        index = torch.zeros(len(ids) - self.order + 1, dtype=torch.long)
        for column in self._windows(ids).T:
            index = index * self.vocab_size + column
        flat.index_add_(0, index, torch.ones_like(index, dtype=torch.float64))
        self.counts = flat.view((self.vocab_size,) * self.order)
        return self

    def conditional(self) -> torch.Tensor:
        """p(x_t | context) for every context: shape (V,)*(n-1) + (V,); each last axis sums to 1."""
        smoothed = self.counts + self.alpha
        total = smoothed.sum(dim=-1, keepdim=True)
        if (total == 0).any():
            # alpha = 0 and an unseen context: fall back to uniform rather than 0/0
            smoothed = torch.where(total == 0, torch.ones_like(smoothed), smoothed)
            total = smoothed.sum(dim=-1, keepdim=True)
        return smoothed / total

    def bits_per_char(self, ids: torch.Tensor) -> float:
        """-1/M sum log2 p(x_t | previous n-1 symbols) over the M = L - n + 1 predicted symbols."""
        ids = self._check_ids(ids)
        probs = self.conditional()
        windows = self._windows(ids)  # (M, n)
        p = probs[tuple(windows.T)]  # (M,)
        if (p == 0).any():
            return math.inf
        return float(-torch.log2(p).mean()) + 0.0  # + 0.0 turns -0.0 into 0.0

    def generate(
        self, prompt: torch.Tensor, length: int, *, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Sample ``length`` symbols after ``prompt`` (>= n - 1 ids), each from p(. | last n-1).

        x_{t+1} ~ p(. | x_{t-n+2}..x_t), the chain rule run forwards (Shannon's series of
        approximations to English). Returns the ``length`` new ids, (length,) int64.

        Example:
            >>> model = NGramModel(2, 2, alpha=0.0).fit(torch.tensor([0, 1, 0, 1, 0, 1]))
            >>> model.generate(torch.tensor([0]), 4).tolist()
            [1, 0, 1, 0]
        """
        prompt = check_tensor("prompt", prompt)
        if prompt.dtype != torch.long or prompt.dim() != 1 or len(prompt) < self.order - 1:
            raise ValueError(f"prompt: expected a 1-D torch.int64 tensor of at least order - 1 = "
                             f"{self.order - 1} ids, got {prompt.dtype} of shape "
                             f"{tuple(prompt.shape)}")
        if len(prompt) and (prompt.min() < 0 or prompt.max() >= self.vocab_size):
            raise ValueError(f"prompt: expected values in [0, {self.vocab_size - 1}], got "
                             f"[{int(prompt.min())}, {int(prompt.max())}]")
        if isinstance(length, bool) or not isinstance(length, int) or length < 0:
            raise ValueError(f"length: expected an int >= 0, got {length!r}")
        probs = self.conditional()  # (V,)*(n-1) + (V,)
        out = prompt.tolist()
        for _ in range(length):
            context = tuple(out[len(out) - self.order + 1 :]) if self.order > 1 else ()
            row = probs[context]  # (V,)
            out.append(int(torch.multinomial(row, 1, generator=generator)))
        return torch.tensor(out[len(prompt) :], dtype=torch.long)


def distinct_ngrams(ids: torch.Tensor, n: int) -> int:
    """The number of distinct n-grams (windows of n consecutive ids) in ``ids`` (L,).

    This is what a count-based model of order n + 1 must store for its contexts,
    |{(x_t, .., x_{t+n-1})}| <= min(V^n, L - n + 1), usually far fewer than V^n.

    Example:
        >>> distinct_ngrams(torch.tensor([0, 1, 0, 1, 0]), 2)
        2
    """
    ids = check_tensor("ids", ids)
    if ids.dtype != torch.long or ids.dim() != 1:
        raise ValueError(f"ids: expected a 1-D torch.int64 tensor, got {ids.dtype} of shape "
                         f"{tuple(ids.shape)}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n: expected an int >= 0, got {n!r}")
    if n == 0:
        return 1  # the empty context
    if len(ids) < n:
        return 0
    return len(torch.unique(ids.unfold(0, n, 1), dim=0))


class KneserNeyModel:
    r"""An interpolated Kneser-Ney character model of order n (one discount D at every order).

    Taught in chapter 7 as the well-smoothed baseline for the recurrent models (Kneser and
    Ney, 1995; Chen and Goodman, 1999). With c the counts of the text's n-grams, the highest
    order mixes discounted counts with the next lower order:

        p_n(w | u) = max(c(u w) - D, 0) / c(u .) + D N_1+(u .) / c(u .) * p_{n-1}(w | u')

    where u' is u without its first symbol and N_1+(u .) the number of distinct symbols seen
    after u. Lower orders use *continuation* counts N_1+(. u w), the number of distinct
    symbols seen before u w, in place of c(u w), and the lowest is
    p_1(w) = N_1+(. w) / N_1+(. .). A context never seen defers to the next lower order.
    This is the estimator of ``nltk.lm.KneserNeyInterpolated`` (the tests check it on a
    small text), computed here for all positions at once from sorted n-gram codes.

    Args:
        order: n >= 2.
        vocab_size: V; ids are 0..V-1.
        discount: D, in (0, 1].
    """

    def __init__(self, order: int, vocab_size: int, discount: float = 0.75) -> None:
        if isinstance(order, bool) or not isinstance(order, int) or order < 2:
            raise ValueError(f"order: expected an int >= 2, got {order!r}")
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 1:
            raise ValueError(f"vocab_size: expected a positive int, got {vocab_size!r}")
        if vocab_size ** (order + 1) >= 2**62:
            raise ValueError(f"order: expected vocab_size ** (order + 1) < 2**62, got "
                             f"{vocab_size} ** {order + 1}")
        if not 0 < discount <= 1:
            raise ValueError(f"discount: expected 0 < discount <= 1, got {discount!r}")
        self.order = order
        self.vocab_size = vocab_size
        self.discount = discount
        self._tables: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def _check_ids(self, ids: object) -> torch.Tensor:
        ids = check_tensor("ids", ids)
        if ids.dtype != torch.long or ids.dim() != 1 or len(ids) < 2:
            raise ValueError(f"ids: expected a 1-D torch.int64 tensor of length >= 2, got "
                             f"{ids.dtype} of shape {tuple(ids.shape)}")
        if ids.min() < 0 or ids.max() >= self.vocab_size:
            raise ValueError(f"ids: expected values in [0, {self.vocab_size - 1}], got "
                             f"[{int(ids.min())}, {int(ids.max())}]")
        return ids

    @staticmethod
    def _table(keys: torch.Tensor, values: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        """Sorted unique keys and, per key, the count of rows (or the sum of ``values``)."""
        unique, inverse = torch.unique(keys, return_inverse=True)
        sums = torch.zeros(len(unique), dtype=torch.float64)
        sums.index_add_(0, inverse, torch.ones(len(keys), dtype=torch.float64)
                        if values is None else values)
        return unique, sums

    @staticmethod
    def _sorted_table(keys: torch.Tensor,
                      values: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        """:meth:`_table` for ``keys`` already sorted: no sort, equal keys are neighbours."""
        unique, counts = torch.unique_consecutive(keys, return_counts=True)
        if values is None:
            return unique, counts.double()
        ends = counts.cumsum(0) - 1  # index of each run's last row
        totals = values.cumsum(0)[ends]  # exact: the values are counts, integers in float64
        return unique, torch.cat([totals[:1], totals.diff()])

    @staticmethod
    def _lookup(table: tuple[torch.Tensor, torch.Tensor], keys: torch.Tensor) -> torch.Tensor:
        unique, values = table
        if len(unique) == 0:
            return torch.zeros(len(keys), dtype=torch.float64)
        pos = torch.searchsorted(unique, keys).clamp(max=len(unique) - 1)
        return torch.where(unique[pos] == keys, values[pos], torch.zeros_like(values[pos]))

    def fit(self, ids: torch.Tensor) -> KneserNeyModel:
        """Count the n-grams of ``ids`` (L,) for every order up to n; returns self.

        One sort per order: the distinct k-grams u w with their counts c(u w), in code
        order, so that the k-grams of one context u are neighbours.
        """
        ids = self._check_ids(ids)
        V, t = self.vocab_size, self._tables
        t.clear()
        code = torch.zeros(len(ids) + 1, dtype=torch.long)  # codes of the 0-grams
        for k in range(1, self.order + 1):
            if len(ids) < k:
                break
            code = code[:-1] * V + ids[k - 1:]  # (L - k + 1,) the k-gram codes
            grams, counts = torch.unique(code, return_counts=True)  # distinct, sorted
            counts = counts.double()  # c(u w)
            context = grams // V  # sorted, as grams is
            if k >= 2:  # N_1+(u .) and c(u .), by raw counts as nltk; both tables have the
                # same keys, the distinct contexts u in order (log_probs looks them up once)
                t[f"types{k}"] = self._sorted_table(context)
                t[f"ctx{k}"] = self._sorted_table(context, counts)
            if k == self.order:  # raw counts at the top: c(u w)
                t[f"c{k}"] = (grams, counts)
            if k >= 2:  # continuation counts of order k-1 from the distinct k-grams
                suffix = grams % V ** (k - 1)  # (. u w) -> u w
                t[f"cont{k - 1}"] = self._table(suffix)  # N_1+(. u w)
                t[f"conttot{k - 1}"] = self._table(suffix // V)  # sum_w N_1+(. u w)
        return self

    def log_probs(self, ids: torch.Tensor) -> torch.Tensor:
        """ln p(ids[t] | up to n - 1 previous symbols) for t = 1..L-1, (L - 1,) float64.

        Near the start the context is what there is (t symbols), as ``nltk.lm`` scores it.
        """
        ids = self._check_ids(ids)
        if not self._tables:
            raise ValueError("model: expected a fitted model (call fit first), got none")
        V, D, t = self.vocab_size, self.discount, self._tables
        L = len(ids)
        w = ids[1:]  # (L - 1,) the predicted symbols
        p = self._lookup(t["cont1"], w) / float(t["conttot1"][1].sum())  # p_1(w)
        positions = torch.arange(1, L)
        for k in range(2, self.order + 1):
            m = k - 1  # context length
            has = positions >= m  # positions with m symbols of context
            code = torch.zeros(L - 1, dtype=torch.long)
            for j in range(m, -1, -1):  # symbols t-m .. t
                code = code * V + ids[(positions - j).clamp(min=0)]
            ctx = code // V
            contexts, c_ctx = t[f"ctx{k}"]  # the types table has the same sorted keys
            pos = torch.searchsorted(contexts, ctx).clamp(max=len(contexts) - 1)
            seen = contexts[pos] == ctx  # u occurs in the text (so c(u .) >= 1)
            zero = torch.zeros(L - 1, dtype=torch.float64)
            types = torch.where(seen, t[f"types{k}"][1][pos], zero)  # N_1+(u .)
            if k == self.order:
                num, den = self._lookup(t[f"c{k}"], code), torch.where(seen, c_ctx[pos], zero)
            else:
                num, den = self._lookup(t[f"cont{k}"], code), self._lookup(t[f"conttot{k}"], ctx)
            safe = den.clamp(min=1.0)
            higher = (num - D).clamp(min=0) / safe + D * types / safe * p
            p = torch.where(has & seen & (den > 0), higher, p)
        return torch.log(p)

    def bits_per_char(self, ids: torch.Tensor) -> float:
        """-1/(L-1) sum_t log2 p(ids[t] | context) over t = 1..L-1."""
        return float(-self.log_probs(ids).mean()) / math.log(2)
