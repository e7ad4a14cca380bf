"""``qbedi init DIR``: a ready-to-run workspace.

Writes DIR/qbedi.yaml (inbox DIR/inbox, SQLite DIR/qbedi.db, one Web
Connector user), DIR/suppliers.yaml (a commented template), the folders,
and DIR/<user>.qwc for QuickBooks Web Connector. The password comes from
``QBEDI_QBWC_PASSWORD`` or a prompt (asked twice, never echoed) and only its
scrypt hash is written.
"""
from __future__ import annotations

import getpass
import os
import sys
from importlib import resources
from pathlib import Path

import yaml

from connector.passwords import hash_password


def _password() -> str | None:
    pw = os.environ.get("QBEDI_QBWC_PASSWORD")
    if pw:
        return pw
    if not sys.stdin.isatty():
        print("set QBEDI_QBWC_PASSWORD (no terminal to prompt on)", file=sys.stderr)
        return None
    first = getpass.getpass("Password the Web Connector will use: ")
    if first != getpass.getpass("Again: "):
        print("the two passwords differ", file=sys.stderr)
        return None
    return first


def suppliers_template() -> str:
    """A new workspace's suppliers.yaml: no live mappings, the documented example commented out (every
    document is held as unknown_supplier until the admin maps its supplier)."""
    example = resources.files("qbedi").joinpath("data/suppliers.yaml").read_text("utf-8")
    body = "\n".join(("# " + line) if line.strip() and not line.startswith("#") else line
                     for line in example.splitlines())
    return ("# Your suppliers -> QuickBooks. None is mapped yet: documents from unmapped suppliers are held\n"
            "# (unknown_supplier) with the ids they came with; add the supplier here, then release them\n"
            "# (`qbedi release --all --held-for unknown_supplier`, or Release all on the web page's Held list).\n"
            "# An example to copy from (uncomment and edit):\n#\n" + body + "\n")


def write_config(path: Path, *, user: str, password_hash: str, port: int, url: str, db_path: Path,
                 inbox: Path, outbox: Path, suppliers_file: str = "suppliers.yaml", company_file: str = "") -> None:
    config = {
        "database": {"url": f"sqlite:///{db_path}"},
        "sources": [{"name": "inbox", "type": "folder", "path": str(inbox), "on_consume": "move",
                     "outbox": str(outbox), "poll": {"every": "1m", "jitter": "5s"}}],
        "web_connector": {
            "listen": {"host": "127.0.0.1", "port": port},
            "public_url": url,
            "users": [{"username": user, "password_hash": password_hash, "company_file": company_file,
                       "qbxml_version": "13.0"}],
        },
        "suppliers_file": suppliers_file,
        "logging": {"level": "INFO", "format": "auto"},
    }
    header = ("# qbedi configuration written by `qbedi init`. Every key is documented in\n"
              "# config/qbedi.example.yaml. Check it with: qbedi check --config " + str(path) + "\n")
    path.write_text(header + yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    _owner_writes_only(path)


def _owner_writes_only(path: Path) -> None:
    """Whatever the umask: nobody but its owner may change a config file (``qbedi check`` warns otherwise)."""
    if os.name == "posix":
        path.chmod(path.stat().st_mode & ~0o022)


def init_workspace(directory: Path, *, user: str = "qbedi", port: int = 8080, url: str | None = None,
                   company_file: str = "") -> int:
    from qbwc_server.qwc import QwcError, build_qwc

    directory = directory.expanduser().absolute()
    config = directory / "qbedi.yaml"
    if config.exists():
        print(f"{config} already exists; not overwritten", file=sys.stderr)
        return 2
    url = url or f"http://localhost:{port}/qbwc"
    try:  # (the .qwc first: an address the Web Connector refuses leaves no half-made workspace)
        qwc_text = build_qwc(app_name="qbedi", app_url=url, support_url=url.rsplit("/", 1)[0] + "/support",
                             username=user, company_file=company_file)
    except QwcError as e:
        print(f"qbedi: --url {url}: {e}; nothing was written", file=sys.stderr)
        return 2
    password = _password()
    if not password:
        return 2
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "inbox").mkdir(exist_ok=True)
    (directory / "outbox").mkdir(exist_ok=True)
    suppliers = directory / "suppliers.yaml"
    if not suppliers.exists():
        suppliers.write_text(suppliers_template(), "utf-8")
        _owner_writes_only(suppliers)
    write_config(config, user=user, password_hash=hash_password(password), port=port, url=url,
                 db_path=directory / "qbedi.db", inbox=directory / "inbox", outbox=directory / "outbox",
                 company_file=company_file)
    qwc = directory / f"{user}.qwc"
    qwc.write_text(qwc_text, encoding="utf-8")
    print(f"workspace ready in {directory}\n"
          f"  config:    {config}\n  suppliers: {suppliers} (edit: who your suppliers are in QuickBooks)\n"
          f"  inbox:     {directory / 'inbox'}  (drop X12 files here)\n"
          f"  Web Connector file: {qwc} (add it in QuickBooks Web Connector; password as given)\n"
          + ("" if company_file else "  company file: not given (--company-file): a Web Connector session on "
             "any company file is taken; set web_connector.users[].company_file\n") +
          f"next: qbedi run --config {config}")
    return 0
