"""The ``.qwc`` file a QuickBooks admin adds to the Web Connector.

Rules applied (research/qbwc.md §3, Programmer's Guide ch. 4 / App. A):

- ``AppURL`` must be ``https://``; plain ``http://`` is only accepted by QBWC
  for ``localhost`` (QBWC1010 / QBWC1051 otherwise).
- ``AppURL`` / ``AppSupport`` must not be IP addresses (QBWC1001 / QBWC1002).
  **Decision:** ``127.0.0.1`` and ``::1`` are IP addresses too, so they are
  rejected with a message telling the admin to write ``localhost`` (the
  server listens on 127.0.0.1 either way). ``allow_ip_address=True`` turns
  this off for experiments; QBWC itself will still refuse such a file
  according to the guide (not verified on a real QBWC here).
- ``AppSupport`` must be on the same host as ``AppURL`` (QBWC1000) and must
  answer HTTP 200 (the server's ``/support`` page does).
- GUIDs in ``{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}`` form (upper case).
  ``OwnerID`` is one constant for qbedi (:data:`QBEDI_OWNER_ID`);
  ``FileID`` is derived (uuid5) from user name + company file, so generating
  the file again gives the same FileID and QBWC recognises the company file.
"""
from __future__ import annotations

import ipaddress
import uuid
from urllib.parse import urlsplit

from lxml import etree

#: qbedi's OwnerID (one per application, never per version or file). Also the
#: OwnerID of the private DataExt named "FileID" QBWC writes into the company file.
QBEDI_OWNER_ID = "{6B1F5C7E-2D4A-4E8B-9C3F-51A0D7E4B2C9}"
_FILE_ID_NS = uuid.UUID("6b1f5c7e-2d4a-4e8b-9c3f-51a0d7e4b2c9")

LOCAL_HOSTS = {"localhost"}
STYLES = {"Document", "DocWrapped", "RPC"}
QB_TYPES = {"QBFS", "QBPOS"}


class QwcError(ValueError):
    """The .qwc file would be refused by the Web Connector; the message says why."""


def guid(value: str | uuid.UUID) -> str:
    """``{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}`` from a UUID or GUID string (braces optional)."""
    try:
        u = value if isinstance(value, uuid.UUID) else uuid.UUID(str(value).strip().strip("{}"))
    except ValueError as exc:
        raise QwcError(f"not a GUID: {value!r}") from exc
    return "{" + str(u).upper() + "}"


def file_id_for(username: str, company_file: str = "") -> str:
    """Stable FileID for a (user, company file) pair."""
    key = f"{username.strip().lower()}|{company_file.strip().lower()}"
    return guid(uuid.uuid5(_FILE_ID_NS, key))


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def _check_url(url: str, what: str, *, require_https: bool, allow_ip_address: bool) -> str:
    parts = urlsplit(url or "")
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        raise QwcError(f"{what} must be an absolute http(s) URL, got {url!r}")
    if _is_ip(host) and not allow_ip_address:
        hint = " (write http://localhost:PORT/... instead)" if ipaddress.ip_address(host).is_loopback else ""
        raise QwcError(f"{what} must use a host name, not the IP address {host}: the Web Connector refuses IP addresses{hint}")
    if require_https and parts.scheme != "https" and host not in LOCAL_HOSTS:
        raise QwcError(
            f"{what} must be https:// (the Web Connector only accepts plain http for localhost), got {url!r}"
        )
    return host


def build_qwc(
    *,
    app_name: str,
    app_url: str,
    support_url: str,
    username: str,
    owner_id: str | None = None,
    file_id: str | None = None,
    company_file: str = "",
    run_every_minutes: int | None = 5,
    description: str = "Supplier EDI (invoices, orders, receipts) into QuickBooks via qbedi",
    qb_type: str = "QBFS",
    style: str = "Document",
    auth_flags: str = "0xF",
    is_read_only: bool = False,
    app_unique_name: str | None = None,
    app_id: str = "",
    allow_ip_address: bool = False,
) -> str:
    """The .qwc XML text. Raises :class:`QwcError` for anything QBWC would refuse.

    ``owner_id`` defaults to :data:`QBEDI_OWNER_ID`; ``file_id`` defaults to
    :func:`file_id_for(username, company_file) <file_id_for>`;
    ``app_unique_name`` defaults to ``"<app_name> (<username>)"`` so that adding
    a regenerated file replaces the application instead of cloning it.
    """
    if not app_name or not app_name.strip():
        raise QwcError("app_name is required")
    if not username or not username.strip():
        raise QwcError("username is required (it is what the Web Connector sends as strUserName)")
    url_host = _check_url(app_url, "AppURL", require_https=True, allow_ip_address=allow_ip_address)
    sup_host = _check_url(support_url, "AppSupport", require_https=False, allow_ip_address=allow_ip_address)
    if url_host != sup_host:
        raise QwcError(f"AppSupport must be on the same host as AppURL ({url_host}), got {sup_host}")
    if qb_type not in QB_TYPES:
        raise QwcError(f"qb_type must be one of {sorted(QB_TYPES)}")
    if style not in STYLES:
        raise QwcError(f"style must be one of {sorted(STYLES)}")
    if run_every_minutes is not None and (not isinstance(run_every_minutes, int) or run_every_minutes < 1):
        raise QwcError("run_every_minutes must be a whole number >= 1 (or None for no schedule)")

    root = etree.Element("QBWCXML")

    def add(tag: str, text: str | None = None, parent=root):
        el = etree.SubElement(parent, tag)
        if text is not None:
            el.text = text
        return el

    add("AppName", app_name.strip())
    add("AppID", app_id)
    add("AppURL", app_url)
    add("AppDescription", description)
    add("AppSupport", support_url)
    add("UserName", username.strip())
    add("OwnerID", guid(owner_id or QBEDI_OWNER_ID))
    add("FileID", guid(file_id) if file_id else file_id_for(username, company_file))
    add("QBType", qb_type)
    if run_every_minutes is not None:
        sched = add("Scheduler")
        add("RunEveryNMinutes", str(run_every_minutes), parent=sched)
    add("IsReadOnly", "true" if is_read_only else "false")
    add("Style", style)
    add("AuthFlags", auth_flags)
    add("AppUniqueName", app_unique_name or f"{app_name.strip()} ({username.strip()})")
    body = etree.tostring(root, encoding="unicode", pretty_print=True)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + body
