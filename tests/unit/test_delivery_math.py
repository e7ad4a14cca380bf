"""The delivery service's typed values and pure math: request keys, what a batch left unanswered,
the cost model's fit (the service with a database: tests/integration/test_delivery.py)."""
from __future__ import annotations

from decimal import Decimal

import pytest

from connector.delivery import Batch, Cost, Load, RequestKey, RequestKind
from connector.delivery._cost import fit


@pytest.mark.parametrize("text,kind,target", [
    ("42", RequestKind.QUEUED, "42"), ("v7", RequestKind.VERIFY, "7"), ("p3", RequestKind.LINK_READ, "3"),
    ("q3", RequestKind.MOD_READ, "3"), ("a12", RequestKind.VENDOR, "12"), ("r:Vendor", RequestKind.LIST, "Vendor"),
])
def test_request_keys_round_trip(text, kind, target):
    key = RequestKey.parse(text)
    assert (key.kind, key.target, str(key)) == (kind, target, text)


@pytest.mark.parametrize("text", [None, "", "v", "vX", "x1", "r:", "-1", "1.5", "\u00b2", "v\u0662\u0661", "01", " 1",
                                  "+1", "1" * 19, "9" * 5000])
def test_request_ids_we_never_send_are_not_keys(text):
    assert RequestKey.parse(text) is None


def test_unanswered_is_what_quickbooks_did_not_answer():
    b = Batch(requests=[1, 2, 3], verify=[7, 8], lookups=[9])
    left = b.unanswered({"1", "3", "v8", "p9"})
    assert (left.requests, left.verify) == ([2], [7])


def test_the_cost_fit_learns_both_costs_from_batches_that_differ():
    true = Cost(per_request=0.25, per_line=0.08)
    cost, sums = Cost(1.5, 0.25), [0.0] * 5
    for n, lines in [(10, 40), (30, 300), (5, 90), (40, 120), (20, 400)] * 3:
        load = Load(requests=n, lines=lines)
        cost, sums = fit(cost, sums, load, true.of(load))
    assert cost.per_request == pytest.approx(0.25, rel=1e-6) and cost.per_line == pytest.approx(0.08, rel=1e-6)


def test_the_cost_fit_scales_both_while_batches_are_alike():
    cost, sums = fit(Cost(1.0, 0.1), [0.0] * 5, Load(10, 20), 36.0)  # predicted 12 s, took 36 s
    assert cost.per_request / cost.per_line == pytest.approx(10.0)  # one factor for both
    assert cost.per_request == pytest.approx(1.0 * (0.7 + 0.3 * 3))
    assert Decimal(str(round(cost.of(Load(10, 20)), 6))) > Decimal(12)
