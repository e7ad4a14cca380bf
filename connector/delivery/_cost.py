"""How long QuickBooks takes for a request: predicted before a batch is filled, learned after.

``seconds = per_request * requests + per_line * lines + per_kept * kept``, per request type (kept lines:
those a BillMod names only to keep them, when a bill too big for one round trip is sent in parts). The math is pure
(:class:`Cost`, :func:`shares`, :func:`fit`); :class:`CostBook` keeps it in ``qb_cost`` rows.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ..store import CostSample
from ._batch import Load

EWMA_ALPHA = 0.3
FORGET = 0.9  # weight of the older batches in the least-squares fit


@dataclass(frozen=True)
class Cost:
    per_request: float
    per_line: float
    per_kept: float = 0.25  # a line a Mod names only to keep it (a bill sent in parts); unknown until measured

    def predict(self, lines: int, kept: int = 0) -> float:
        return self.per_request + self.per_line * max(1, lines) + self.per_kept * kept

    def of(self, load: Load) -> float:
        return self.per_request * load.requests + self.per_line * load.lines + self.per_kept * load.kept

    def lines_within(self, seconds: float, kept: int = 0) -> int:
        """The most lines one request (keeping ``kept`` lines) can carry in ``seconds`` (0: not even one)."""
        room = seconds - self.per_request - self.per_kept * kept
        if room < self.per_line:
            return 0
        return int(room / self.per_line) if self.per_line > 0 else 10**9


# a conservative start; a kept line is taken at a new line's time until measured (never less than it could be)
DEFAULT = Cost(per_request=1.5, per_line=0.25, per_kept=0.25)


OVERRUN = "(batch overrun)"  # a qb_cost row that is no request type: how much batches overran their prediction
OVERRUN_DECAY = 0.99
MAX_OVERRUN = 4.0  # (a batch that took 10x its prediction, e.g. QuickBooks busy, does not starve the next ones)


def shares(elapsed: float, load: Mapping[str, Load], costs: Mapping[str, Cost]) -> dict[str, float]:
    """A batch's measured time shared out among its request types by their predicted parts."""
    parts = {t: costs[t].of(n) for t, n in load.items()}
    total = sum(parts.values()) or 1.0
    return {t: elapsed * p / total for t, p in parts.items()}


def _solve(m: list[list[float]], v: list[float]) -> list[float] | None:
    """``m x = v`` by Gaussian elimination with partial pivoting; None when (nearly) singular."""
    n = len(v)
    a = [row[:] + [v[i]] for i, row in enumerate(m)]
    scale = max(abs(x) for row in m for x in row) or 1.0
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(a[r][col]))
        if abs(a[pivot][col]) <= 1e-9 * scale:
            return None
        a[col], a[pivot] = a[pivot], a[col]
        for r in range(col + 1, n):
            f = a[r][col] / a[col][col]
            for c in range(col, n + 1):
                a[r][c] -= f * a[col][c]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        x[r] = (a[r][n] - sum(a[r][c] * x[c] for c in range(r + 1, n))) / a[r][r]
    return x


def fit(cost: Cost, sums: list[float], load: Load, seconds: float) -> tuple[Cost, list[float]]:
    """One more observation (``load`` took ``seconds``) in an exponentially weighted least-squares fit.

    ``sums`` are the weighted sums of the normal equations over (requests n, lines L, kept lines K):
    Snn, SnL, SLL, Sny, SLy, SnK, SLK, SKK, SKy (the first five alone in rows written before kept lines
    were learned). With kept lines seen and batches different enough, all three costs are solved for;
    else the two of requests and lines (the kept cost stays as it is); until batches differ enough to
    separate those (or the fit is not positive), all are scaled together towards the observation.
    """
    n, lines, kept = load.requests, load.lines, load.kept
    old = list(sums) + [0.0] * (9 - len(sums))
    new = (n * n, n * lines, lines * lines, n * seconds, lines * seconds, n * kept, lines * kept, kept * kept,
           kept * seconds)
    f = [FORGET * o + x for o, x in zip(old, new)]
    snn, snl, sll, sny, sly, snk, slk, skk, sky = f
    if skk > 0:
        x = _solve([[snn, snl, snk], [snl, sll, slk], [snk, slk, skk]], [sny, sly, sky])
        if x is not None and x[0] > 0 and x[1] > 0 and x[2] > 0:
            return Cost(x[0], x[1], x[2]), f
    elif kept == 0:
        det = snn * sll - snl * snl
        if det > 1e-6 * snn * sll:
            a, b = (sny * sll - snl * sly) / det, (snn * sly - snl * sny) / det
            if a > 0 and b > 0:
                return Cost(a, b, cost.per_kept), f
    ratio = max(0.05, min(20.0, seconds / max(1e-9, cost.of(load))))
    factor = (1 - EWMA_ALPHA) + EWMA_ALPHA * ratio
    return Cost(cost.per_request * factor, cost.per_line * factor, cost.per_kept * factor), f


class CostBook:
    """The learned costs, read once per unit of work (the rows are kept referenced: the session's
    identity map is weak, and a bare ``get`` per request would re-SELECT and autoflush)."""

    def __init__(self, s: Session):
        self.s = s
        self._rows: dict[str, CostSample | None] = {}

    def _row(self, rq_type: str) -> CostSample | None:
        if rq_type not in self._rows:
            self._rows[rq_type] = self.s.get(CostSample, rq_type)
        return self._rows[rq_type]

    def _first_row(self, rq_type: str) -> CostSample:
        """The type's row, created if need be without ever failing: companies answering at the same
        moment may all find it missing (INSERT ... ON CONFLICT DO NOTHING, then read what is there)."""
        insert = {"postgresql": pg_insert, "sqlite": sqlite_insert}[self.s.get_bind().dialect.name]
        self.s.execute(insert(CostSample).values(
            request_type=rq_type, per_request=DEFAULT.per_request, per_line=DEFAULT.per_line, samples=0,
            stats=None)
            .on_conflict_do_nothing(index_elements=["request_type"]))
        row = self._rows[rq_type] = self.s.get(CostSample, rq_type, populate_existing=True)
        return row

    def cost(self, rq_type: str) -> Cost:
        row = self._row(rq_type)
        if row is None:
            return DEFAULT
        return Cost(float(row.per_request), float(row.per_line),
                    float((row.stats or {}).get("per_kept") or DEFAULT.per_kept))

    def samples(self, rq_type: str) -> int:
        """How many batches this type's cost was learned from."""
        row = self._row(rq_type)
        return 0 if row is None else int(row.samples or 0)

    def predict(self, rq_type: str, lines: int, kept: int = 0) -> float:
        return self.cost(rq_type).predict(lines, kept)

    def overrun(self) -> float:
        """How much longer than predicted batches have lately taken (>= 1): batches are filled to the budget
        divided by it, so a QuickBooks whose times the model does not fit (noise, a cost that grows faster
        than linearly with a batch) is not given batches it cannot finish in time."""
        row = self._row(OVERRUN)
        return max(1.0, float((row.stats or {}).get("overrun") or 1.0)) if row is not None else 1.0

    def _note_overrun(self, ratio: float) -> None:
        """The batch took ``ratio`` x its prediction: the overrun jumps to any higher ratio at once and decays
        towards 1 batch by batch (its excess halves in about 70 batches)."""
        row = self._row(OVERRUN) or self._first_row(OVERRUN)
        now = max(min(ratio, MAX_OVERRUN), 1.0 + (self.overrun() - 1.0) * OVERRUN_DECAY)
        row.stats, row.samples = {"overrun": now}, (row.samples or 0) + 1

    def learn(self, load: Mapping[str, Load], elapsed: float, predicted: float) -> None:
        """Learn from one batch: ``elapsed`` seconds between our answer and QBWC's receiveResponseXML."""
        if predicted <= 0 or elapsed <= 0 or not load:
            return
        self._note_overrun(elapsed / predicted)
        seconds = shares(elapsed, load, {t: self.cost(t) for t in load})
        for rq_type, n in load.items():
            row = self._row(rq_type) or self._first_row(rq_type)
            stats = row.stats or {}
            cost, sums = fit(Cost(float(row.per_request), float(row.per_line),
                                  float(stats.get("per_kept") or DEFAULT.per_kept)),
                             list(stats.get("sums") or [0.0] * 9), n, seconds[rq_type])
            row.stats = {"sums": sums, "per_kept": cost.per_kept}
            row.per_request, row.per_line = cost.per_request, cost.per_line
            row.samples = (row.samples or 0) + 1
