"""How long QuickBooks takes for a request: predicted before a batch is filled, learned after.

``seconds = per_request * requests + per_line * lines``, per request type. The math is pure
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

    def predict(self, lines: int) -> float:
        return self.per_request + self.per_line * max(1, lines)

    def of(self, load: Load) -> float:
        return self.per_request * load.requests + self.per_line * load.lines


DEFAULT = Cost(per_request=1.5, per_line=0.25)  # conservative start


def shares(elapsed: float, load: Mapping[str, Load], costs: Mapping[str, Cost]) -> dict[str, float]:
    """A batch's measured time shared out among its request types by their predicted parts."""
    parts = {t: costs[t].of(n) for t, n in load.items()}
    total = sum(parts.values()) or 1.0
    return {t: elapsed * p / total for t, p in parts.items()}


def fit(cost: Cost, sums: list[float], load: Load, seconds: float) -> tuple[Cost, list[float]]:
    """One more observation (``load`` took ``seconds``) in an exponentially weighted least-squares fit.

    ``sums`` are the weighted sums Snn, SnL, SLL, Sny, SLy. Until batches differ enough to separate
    the two costs (or the fit is not positive), both are scaled together towards the observation.
    """
    n, lines = load.requests, load.lines
    f = [FORGET * old + new for old, new in zip(sums, (n * n, n * lines, lines * lines, n * seconds, lines * seconds))]
    det = f[0] * f[2] - f[1] * f[1]
    if det > 1e-6 * f[0] * f[2]:
        a, b = (f[3] * f[2] - f[1] * f[4]) / det, (f[0] * f[4] - f[1] * f[3]) / det
        if a > 0 and b > 0:
            return Cost(a, b), f
    ratio = max(0.05, min(20.0, seconds / max(1e-9, cost.of(load))))
    factor = (1 - EWMA_ALPHA) + EWMA_ALPHA * ratio
    return Cost(cost.per_request * factor, cost.per_line * factor), f


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
            request_type=rq_type, per_request=DEFAULT.per_request, per_line=DEFAULT.per_line, samples=0, stats=None)
            .on_conflict_do_nothing(index_elements=["request_type"]))
        row = self._rows[rq_type] = self.s.get(CostSample, rq_type, populate_existing=True)
        return row

    def cost(self, rq_type: str) -> Cost:
        row = self._row(rq_type)
        return DEFAULT if row is None else Cost(float(row.per_request), float(row.per_line))

    def predict(self, rq_type: str, lines: int) -> float:
        return self.cost(rq_type).predict(lines)

    def learn(self, load: Mapping[str, Load], elapsed: float, predicted: float) -> None:
        """Learn from one batch: ``elapsed`` seconds between our answer and QBWC's receiveResponseXML."""
        if predicted <= 0 or elapsed <= 0 or not load:
            return
        seconds = shares(elapsed, load, {t: self.cost(t) for t in load})
        for rq_type, n in load.items():
            row = self._row(rq_type) or self._first_row(rq_type)
            cost, sums = fit(Cost(float(row.per_request), float(row.per_line)),
                             list((row.stats or {}).get("sums") or [0.0] * 5), n, seconds[rq_type])
            row.stats = {"sums": sums}
            row.per_request, row.per_line = cost.per_request, cost.per_line
            row.samples = (row.samples or 0) + 1
