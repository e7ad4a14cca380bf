"""Cleo pieces shared by the Cleo tests (unit, integration and e2e): the tiny X12 files the Cleo
adapter lists, fetches and classifies, and a qbedi workspace whose source is a Cleo emulator."""
from __future__ import annotations

import yaml

from connector.credentials import CredentialStore, generate_key_file
from tests.support.builders import ITEM_SUPPLIERS, write_config

USER, PW = "apiuser", "Harmony-pw-123"  # the Cleo API user of the adapter tests


def x12_with(st: str, sep: str = "*", term: str = "~", control: str = "000000001") -> bytes:
    """A minimal interchange holding one set ``st`` (the Cleo adapter reads only its ST codes)."""
    isa = (f"ISA{sep}00{sep}          {sep}00{sep}          {sep}ZZ{sep}SUPPLIER       {sep}ZZ{sep}BUYER          "
           f"{sep}240101{sep}1200{sep}U{sep}00401{sep}{control}{sep}0{sep}P{sep}>{term}")
    assert len(isa) == 106
    body = [f"GS{sep}IN{sep}S{sep}R{sep}20240101{sep}1200{sep}1{sep}X{sep}004010", f"ST{sep}{st}{sep}0001",
            f"BIG{sep}20240101{sep}INV1", f"SE{sep}3{sep}0001", f"GE{sep}1{sep}1", f"IEA{sep}1{sep}{control}"]
    return (isa + term.join(body) + term).encode()


def cleo_workspace(tmp_path, db_url, cleo, monkeypatch, **cleo_extra):
    """A qbedi.yaml whose one source is the Cleo emulator ``cleo`` (its credentials stored, encrypted)."""
    monkeypatch.delenv("QBEDI_SECRET_KEY", raising=False)
    path = write_config(tmp_path, db_url, suppliers=ITEM_SUPPLIERS)
    cfg = yaml.safe_load(path.read_text())
    cfg["sources"] = [{"name": "cleo", "type": "cleo", "poll": {"every": "1m", "jitter": 0},
                       **cleo.client_settings(connections=["ACME"], **{
                           "acknowledge": "delete", "retries": 1, "backoff_factor": 0, "backoff_jitter": 0,
                           **cleo_extra})}]
    path.write_text(yaml.safe_dump(cfg))
    key = generate_key_file(tmp_path / "qbedi.key")
    CredentialStore(tmp_path / "credentials.enc", key).set("cleo", "qbedi-api", "cleo-pass-123")
    return path
