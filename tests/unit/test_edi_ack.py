"""997 structure: re-read our own 997 with our reader and check the AK segments."""
from __future__ import annotations

from datetime import datetime

import edi
from edi.ack import build_997

WHEN = datetime(2026, 11, 22, 4, 30)


def reread(text: str):
    r = edi.parse_bytes(text.encode("ascii"), keep_segments=True)
    assert not r.errors, r.errors
    for ps in r.sets:
        assert not ps.rejected, ps.rejected  # SE counts / control numbers of our own output are right
        assert ps.envelope.transaction_set == "997"
    return r


def body(ps):
    return [s for s in ps.raw_segments if s[0] not in ("ST", "SE")]


def test_997_for_two_accepted_invoices(samples_dir):
    received = edi.parse_bytes((samples_dir / "810_4010_bots_1.edi").read_bytes())
    text = build_997(received, control_number=17, when=WHEN)
    ack = reread(text)
    (ps,) = ack.sets
    rg = received.groups[0]
    env = ps.envelope
    # sender/receiver swapped, own control numbers, version of the received group
    assert (env.isa_sender_id, env.isa_receiver_id) == (received.sets[0].envelope.isa_receiver_id,
                                                        received.sets[0].envelope.isa_sender_id)
    assert (env.gs_sender, env.gs_receiver) == (rg["gs_receiver"], rg["gs_sender"])
    assert env.functional_id == "FA" and env.version == "004010"
    assert env.interchange_control == "000000017" and env.group_control == "17"
    assert env.isa_date == "261122" and env.isa_time == "0430"
    assert body(ps) == [
        ["AK1", "IN", rg["group_control"]],
        ["AK2", "810", "2240001"],
        ["AK5", "A"],
        ["AK2", "810", "2240002"],
        ["AK5", "A"],
        ["AK9", "A", "2", "2", "2"],
    ]
    assert text.startswith("ISA*00*          *00*          *")
    assert len(text.split("~")[0]) == 105  # fixed-width ISA (+ terminator = 106)


def test_997_rejects_bad_set_with_codes(samples_dir):
    data = (samples_dir / "810_5010_x12types_1.edi").read_bytes().replace(b"SE*20*0001", b"SE*19*0001")
    received = edi.parse_bytes(data)
    (ps,) = reread(build_997(received, control_number=1, when=WHEN)).sets
    assert body(ps) == [
        ["AK1", "IN", "1", "005010"],
        ["AK2", "810", "0001"],
        ["AK5", "R", "4"],
        ["AK9", "R", "1", "1", "0"],
    ]
    assert ps.envelope.version == "005010" and ps.envelope.isa_version == "00501"


def test_997_element_errors_become_ak3_ak4(samples_dir):
    data = (samples_dir / "810_5010_x12types_1.edi").read_bytes().replace(b"DTM*011*20190120", b"DTM*011*20191320")
    received = edi.parse_bytes(data)
    (ps,) = reread(build_997(received, control_number=1, when=WHEN)).sets
    assert body(ps)[1:5] == [["AK2", "810", "0001"], ["AK3", "DTM", "6", "", "8"], ["AK4", "2", "", "8"], ["AK5", "E", "5"]]
    assert body(ps)[-1] == ["AK9", "E", "1", "1", "1"]


def test_997_group_level_errors(samples_dir):
    received = edi.parse_bytes((samples_dir / "856_4010_x12types_1.edi").read_bytes())
    (ps,) = reread(build_997(received, control_number=5, when=WHEN)).sets
    assert body(ps)[-1] == ["AK9", "R", "2", "1", "0", "5"]


def test_997_one_per_group_with_each_groups_version(samples_dir):
    received = edi.parse_bytes((samples_dir / "810-850_4010-3010_staedi_1.edi").read_bytes())
    ack = reread(build_997(received, control_number=100, when=WHEN))
    assert [(p.envelope.version, p.envelope.group_control) for p in ack.sets] == [("004010", "100"), ("003010", "101")]
    assert [body(p)[0][:2] for p in ack.sets] == [["AK1", "IN"], ["AK1", "PO"]]
    assert len({p.envelope.interchange_control for p in ack.sets}) == 1  # same received ISA -> one ISA


def test_997_per_received_interchange(samples_dir):
    received = edi.parse_bytes((samples_dir / "850_4010_bots_8.edi").read_bytes())
    ack = reread(build_997(received, control_number=7, when=WHEN, sender_id="QBEDI", receiver_id="PARTNER"))
    assert [p.envelope.interchange_control for p in ack.sets] == ["000000007", "000000008", "000000009"]
    assert {(p.envelope.isa_sender_id, p.envelope.isa_receiver_id) for p in ack.sets} == {("QBEDI", "PARTNER")}


def test_no_997_for_acknowledgments(samples_dir):
    received = edi.parse_bytes((samples_dir / "997_4010_bots_3.edi").read_bytes())
    assert received.groups and build_997(received, control_number=1, when=WHEN) == ""
    bare = edi.parse_bytes((samples_dir / "850_5010_x12types_3.edi").read_bytes())
    assert build_997(bare, control_number=1, when=WHEN) == ""
