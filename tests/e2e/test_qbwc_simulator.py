"""QBWCSimulator end to end against the live service + in-memory provider (its envelopes on their own:
tests/unit/test_qbwc_messages.py)."""
from __future__ import annotations

import re

from fakes.qbwc_simulator import QBWCSimulator
from tests.support.qbwc import PASSWORD, FakeQuickBooks, InMemoryProvider, bill_rq


def test_happy_path(live):
    prov = InMemoryProvider({"alice": [bill_rq(1), bill_rq(2), bill_rq(3)]})
    lv = live(provider=prov)
    qb = FakeQuickBooks()
    run = QBWCSimulator(lv.url, "alice", PASSWORD, qb).run()
    assert run.methods() == ["serverVersion", "clientVersion", "authenticate"] + [
        "sendRequestXML", "receiveResponseXML"] * 3 + ["closeConnection"]
    assert run.percents == [33, 66, 100] and run.posted == 3
    assert run.close_result == "OK: 3 documents posted" and run.ended == "closed"
    assert qb.processed == [bill_rq(1), bill_rq(2), bill_rq(3)]
    assert [r for _, r in prov.posted] == run.responses
    auth = [c for c in run.calls if c.method == "authenticate"][0]
    assert auth.args["strPassword"] == "***"
    # first sendRequestXML carried the HCP response, later ones did not
    sends = [c for c in run.calls if c.method == "sendRequestXML"]
    assert sends[0].args["strHCPResponse"] and not sends[1].args["strHCPResponse"]


def test_nothing_to_do_and_bad_password(live):
    lv = live(provider=InMemoryProvider({}))
    run = QBWCSimulator(lv.url, "alice", PASSWORD, FakeQuickBooks()).run()
    assert run.auth[1] == "none" and run.ended == "auth:none"
    assert run.methods()[-1] == "closeConnection" and "sendRequestXML" not in run.methods()
    run = QBWCSimulator(lv.url, "alice", "bad", FakeQuickBooks()).run()
    assert run.auth[1] == "nvu" and run.ended == "auth:nvu"


def test_quickbooks_parse_error_reported(live):
    prov = InMemoryProvider({"alice": [bill_rq(1), bill_rq(2, fail=True), bill_rq(3)]})
    lv = live(provider=prov)
    run = QBWCSimulator(lv.url, "alice", PASSWORD, FakeQuickBooks()).run()
    assert run.percents == [33, -1]
    assert run.methods()[-3:] == ["receiveResponseXML", "getLastError", "closeConnection"]
    assert run.errors[-1].startswith("QuickBooks error 0x80040400")
    assert prov.failures[0][0] == "0x80040400" and prov.failures[0][2] == bill_rq(2, fail=True)
    rr = [c for c in run.calls if c.method == "receiveResponseXML"][-1]
    assert rr.args["response"] == "" and rr.args["hresult"] == "0x80040400"
    assert run.close_result.startswith("Finished with errors")


def test_noop_wait_and_retry(live):
    prov = InMemoryProvider({"alice": [bill_rq(1)]})
    prov.noop_rounds = 2
    lv = live(provider=prov)
    run = QBWCSimulator(lv.url, "alice", PASSWORD, FakeQuickBooks(), noop_wait=0.001).run()
    assert run.noops == 2 and run.errors[:2] == ["NoOp", "NoOp"]
    assert run.percents == [100] and run.ended == "closed"


def test_noop_retries_bounded_by_simulator(live):
    prov = InMemoryProvider({"alice": [bill_rq(1)]})
    prov.noop_rounds = 50
    lv = live(provider=prov)
    run = QBWCSimulator(lv.url, "alice", PASSWORD, FakeQuickBooks(), noop_wait=0.001, max_noops=3).run()
    assert run.noops == 3 and run.methods()[-1] == "closeConnection" and run.posted == 0


def test_crash_after_quickbooks_processed(live):
    prov = InMemoryProvider({"alice": [bill_rq(1), bill_rq(2)]})
    lv = live(provider=prov)
    qb = FakeQuickBooks()
    run = QBWCSimulator(lv.url, "alice", PASSWORD, qb).run(crash_after_request=1)
    assert run.ended == "crashed" and qb.processed == [bill_rq(1)]
    assert "receiveResponseXML" not in run.methods() and "closeConnection" not in run.methods()
    assert prov.posted == [] and prov.recovered == []
    # next run: the dead session is superseded, its in-flight request handed back to the provider
    run2 = QBWCSimulator(lv.url, "alice", PASSWORD, qb).run()
    assert prov.recovered == [bill_rq(1)]
    assert run2.percents == [100] and qb.processed == [bill_rq(1), bill_rq(2)]


def test_connection_error(live):
    prov = InMemoryProvider({"alice": [bill_rq(1)]})
    lv = live(provider=prov)
    run = QBWCSimulator(lv.url, "alice", PASSWORD, FakeQuickBooks()).run(
        connection_error=("0x80040408", "Could not start QuickBooks."))
    assert run.methods()[-2:] == ["connectionError", "closeConnection"]
    assert run.calls[-2].result == "done"
    assert prov.failures == [("0x80040408", "Could not start QuickBooks.", None)]
    assert prov.queues["alice"] == [bill_rq(1)]  # nothing lost


def test_out_of_sequence_injections(live):
    prov = InMemoryProvider({"alice": [bill_rq(1), bill_rq(2)]})
    lv = live(provider=prov)
    qb = FakeQuickBooks()
    run = QBWCSimulator(lv.url, "alice", PASSWORD, qb).run(send_twice_at=1)
    assert qb.processed == [bill_rq(2)]  # bill 1's request was "lost"; provider was told
    assert prov.recovered == [bill_rq(1)] and "Out of sequence" in prov.failures[0][1]
    assert run.percents == [100]

    prov2 = InMemoryProvider({"alice": [bill_rq(1), bill_rq(2)]})
    lv2 = live(provider=prov2)
    run = QBWCSimulator(lv2.url, "alice", PASSWORD, FakeQuickBooks()).run(receive_twice_at=1)
    assert "second receiveResponseXML -> -1" in run.errors
    assert len(prov2.posted) == 2


def test_http_error_is_reported_not_raised(live):
    lv = live()
    run = QBWCSimulator(lv.server.base_url + "/nope", "alice", PASSWORD, FakeQuickBooks()).run()
    assert run.ended == "http_error" and "HTTP 404" in run.errors[0]


def test_soap_wire_has_no_password_in_transcript(live):
    lv = live(provider=InMemoryProvider({"alice": [bill_rq(1)]}))
    run = QBWCSimulator(lv.url, "alice", PASSWORD, FakeQuickBooks()).run()
    assert PASSWORD not in repr(run)
    assert re.fullmatch(r"[0-9a-f-]{36}", run.ticket)
