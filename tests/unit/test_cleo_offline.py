"""The Cleo adapter without a Cleo: its settings, the Server header check, the ST classifier, and
whether a source sends 997s (the adapter against the Cleo emulator: tests/integration/test_cleo_*.py)."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from cleo_client import CleoSettings, CleoSource, parse_server_header, transaction_sets
from connector.credentials import Credentials
from tests.support.cleo import x12_with as x12


def test_archive_needs_action_alias():
    with pytest.raises(ValidationError, match="archive_action"):
        CleoSettings(host="h", acknowledge="archive")


def test_settings_host_port_and_tls():
    s = CleoSettings(host="harmony.local", port=6080, connections=["A"], ca_bundle="/etc/ssl/cleo.pem")
    assert s.api_base_url() == "https://harmony.local:6080/api"
    assert s.tls_verify() == "/etc/ssl/cleo.pem"
    src = CleoSource("c", s, Credentials("u", "p"))
    assert src.client.session.verify == "/etc/ssl/cleo.pem"
    assert src.client.api == "https://harmony.local:6080/api"
    assert CleoSettings(base_url="https://t.example.com").api_base_url() == "https://t.example.com"
    assert CleoSource("c", {"base_url": "https://t.example.com"}, Credentials("u", "p")).client.api == \
        "https://t.example.com/api"
    with pytest.raises(ValidationError):
        CleoSettings()
    with pytest.raises(ValidationError):
        CleoSettings(host="h", unknown_key=1)
    with pytest.raises(ValidationError):
        CleoSettings(host="h", verify=False, ca_bundle="/x.pem")


@pytest.mark.parametrize("st", ["810", "850", "856"])
def test_transaction_sets_helper(st):
    assert transaction_sets(x12(st)) == [st]
    assert transaction_sets(x12(st, sep="|", term="\n")) == [st]
    assert transaction_sets(b"\xef\xbb\xbf" + x12(st, sep="^", term="'")) == [st]
    assert transaction_sets(b"not edi at all") == []


@pytest.mark.parametrize("st", ["810", "850", "856"])
def test_own_st_reader_without_edi_package(st):
    from cleo_client.x12 import _own_detect

    assert _own_detect(x12(st)) == [st]
    assert _own_detect(x12(st, sep="|", term="\n")) == [st]
    assert _own_detect(x12(st) + x12("997")) == [st, "997"]
    assert _own_detect(b"ST*810*0001~BIG*1~SE*2*0001~") == ["810"]  # bare ST, no envelope
    assert _own_detect(b"# MANIFEST\nnot X12 STORE*123") == []


def test_classifier_on_shared_samples(samples_dir):
    """Every sample is classified by content: its ST01 codes match the set named in the file name."""
    checked = 0
    for p in sorted(samples_dir.iterdir()):
        if not p.is_file():
            continue
        codes = transaction_sets(p.read_bytes())
        if p.suffix != ".edi":
            assert codes == [], p.name  # e.g. MANIFEST.md: not X12, and returns (no hang)
            continue
        named = p.name.split("_")[0].split("-")
        assert codes == named, (p.name, codes)
        checked += 1
    assert checked >= 80


@pytest.mark.parametrize("header,vulnerable", [
    ("Cleo Harmony/5.8.0.21 (Linux)", True),
    ("Cleo VLTrader/5.7.0.0 (Windows Server 2019)", True),
    ("Cleo LexiCom/5.8.0.23", True),
    ("Cleo Harmony/5.8.0.24 (Linux)", False),
    ("Cleo Harmony/5.8.1 (Linux)", False),
    ("Cleo Harmony/5.9.0.0", False),
    ("nginx", False),
])
def test_parse_server_header(header, vulnerable):
    assert parse_server_header(header).vulnerable is vulnerable


def test_a_cleo_source_with_upload_acks_off_says_so_without_credentials(tmp_path):
    from cleo_client.loader import CleoSourceLoader
    from connector.settings import AdapterSourceSettings

    off = CleoSourceLoader(None, AdapterSourceSettings.model_validate({"type": "cleo", "base_url": "https://x/api"}))
    on = CleoSourceLoader(None, AdapterSourceSettings.model_validate({"type": "cleo", "base_url": "https://x/api",
                                                                      "upload_acks": True}))
    assert (off.sends_acks, on.sends_acks) == (False, True)


def test_a_streamed_file_is_classified_as_a_whole_one_whatever_the_pieces(samples_dir):
    """``transaction_sets_in`` (a downloaded file read a piece at a time: a 100 MB file is never held
    whole) finds what the whole-file reader finds, a segment cut between two pieces included."""
    import io

    from cleo_client.x12 import transaction_sets_in

    files = [p.read_bytes() for p in sorted(samples_dir.iterdir()) if p.is_file()]
    files += [x12("810") + x12("856"), x12("850", sep="|", term="\n") * 3, b"ST*810*0001~BIG*1~SE*2*0001~"]
    for data in files:
        for piece in (5, 64, 1 << 20):
            assert transaction_sets_in(io.BytesIO(data * 40), piece=piece) == transaction_sets(data), piece
