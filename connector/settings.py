"""qbedi configuration: one YAML file, validated by pydantic.

Any problem is reported as :class:`ConfigError` naming the file, the line,
the key and what is wrong (the CLI prints it and exits 2). Relative paths
(folders, SQLite files, the suppliers file) are resolved against the folder of
the config file, not the current directory, so a service started from
anywhere reads the same files.
"""
from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, field_validator,
                      model_validator)

from .sources import BUILTIN_SOURCE_TYPE, source_type, source_type_names

DEFAULT_DB_URL = "sqlite:///./qbedi.db"
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")


class ConfigError(Exception):
    """Invalid configuration. ``str()`` is the one message an admin reads."""

    def __init__(self, file: str | Path, key: str, problem: str, line: int | None = None):
        self.file, self.key, self.problem, self.line = str(file), key, problem, line
        where = f"{self.file}" + (f", line {line}" if line else "")
        super().__init__(f"{where}: {key or '(top level)'}: {problem}")


def parse_duration(value: Any, *, zero: bool = False) -> int:
    """'5m' / '30s' / '2h' / 300 -> seconds (``zero``: none at all, e.g. '0s', is a duration too)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and (value > 0 or zero and value == 0):
        return int(value)
    m = _DURATION.match(str(value))
    if not m or int(m.group(1)) <= 0 and not zero:
        raise ValueError(f"expected a duration like 30s, 5m or 2h{' (or 0)' if zero else ''}, got {value!r}")
    return int(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


def _password_hash(value: str) -> str:
    """A stored password hash (Web Connector and web users): one a password can match, else ValueError."""
    from connector.passwords import hash_problem

    problem = hash_problem(value)
    if problem:
        raise ValueError(problem)
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)


class PollSettings(_Model):
    every: str | int | None = "5m"
    cron: str | None = None
    jitter: str | int = "10s"

    @field_validator("every")
    @classmethod
    def _duration(cls, v):
        if v is not None:
            parse_duration(v)  # (every 0: a poll without a pause, refused)
        return v

    @field_validator("jitter")
    @classmethod
    def _jitter(cls, v):
        parse_duration(v, zero=True)
        return v

    @field_validator("cron")
    @classmethod
    def _cron(cls, v):
        if v is not None and len(v.split()) != 5:
            raise ValueError(f"cron needs 5 fields (minute hour day month weekday), got {v!r}")
        if v is not None:  # what the scheduler will read, checked now rather than when qbedi run starts
            from apscheduler.triggers.cron import CronTrigger

            try:
                CronTrigger.from_crontab(v)
            except ValueError as e:
                raise ValueError(f"cron {v!r}: {e}") from None
        return v

    @property
    def every_seconds(self) -> int | None:
        return parse_duration(self.every) if self.every is not None and not self.cron else None

    @property
    def jitter_seconds(self) -> int:
        return parse_duration(self.jitter, zero=True)


class FolderSourceSettings(_Model):
    name: str = "inbox"
    type: Literal["folder"] = "folder"
    path: str = "./inbox"
    on_consume: Literal["move", "keep"] = "move"
    outbox: str | None = None  # where 997 acknowledgments are written (optional)
    settle_seconds: float = Field(2.0, ge=0, le=3600)  # a file modified more recently is still being written
    # an X12 file without its closing IEA is waited for this long after its last change, then taken as it is
    incomplete_wait: str | int = "10m"
    poll: PollSettings = Field(default_factory=PollSettings)

    @field_validator("incomplete_wait")
    @classmethod
    def _wait(cls, v):
        parse_duration(v, zero=True)
        return v

    @property
    def incomplete_wait_seconds(self) -> int:
        return parse_duration(self.incomplete_wait, zero=True)


class AdapterSourceSettings(_Model):
    """A source an adapter provides (``type: cleo`` ...). The core reads its name, type and poll; the
    other keys are the adapter's, checked by the model it registered (:func:`register_source_type`)."""

    model_config = ConfigDict(extra="allow")
    name: str = ""  # default: the type
    type: str
    poll: PollSettings = Field(default_factory=PollSettings)

    @field_validator("type")
    @classmethod
    def _registered(cls, v):
        if source_type(v) is None:
            raise ValueError(f"unknown source type {v!r} (known types: {', '.join(source_type_names())})")
        return v

    @model_validator(mode="after")
    def _default_name(self):
        self.name = self.name or self.type
        return self

    def options(self) -> dict:
        """The adapter's own keys, as written."""
        return dict(self.model_extra or {})


def _source_tag(value: Any) -> str | None:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    if kind is None:
        return None  # not a mapping, or no type: the "source_type" error below
    return "folder" if kind == BUILTIN_SOURCE_TYPE else "adapter"


_SOURCE_TAGS = ("folder", "adapter")  # pydantic puts the tag in an error's location; messages leave it out
SourceSettings = Annotated[
    Annotated[FolderSourceSettings, Tag("folder")] | Annotated[AdapterSourceSettings, Tag("adapter")],
    Discriminator(_source_tag, custom_error_type="source_type", custom_error_message="no type")]


class ListenSettings(_Model):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)


class WebConnectorUserSettings(_Model):
    username: str = Field(min_length=1)
    password_hash: str = Field(min_length=1)
    company_file: str = ""
    qbxml_version: str = "13.0"

    _hashed = field_validator("password_hash")(classmethod(lambda cls, v: _password_hash(v)))

    @field_validator("qbxml_version")
    @classmethod
    def _version(cls, v):
        if not re.fullmatch(r"\d{1,2}\.\d", str(v)):
            raise ValueError(f"expected a qbXML version like 13.0, got {v!r}")
        return str(v)


class WebConnectorSettings(_Model):
    listen: ListenSettings = Field(default_factory=ListenSettings)
    path: str = "/qbwc"
    public_url: str | None = None  # what QBWC reaches (https://... unless localhost); used in .qwc files
    users: list[WebConnectorUserSettings] = Field(default_factory=list)
    batch_budget_seconds: float = Field(45.0, gt=0, le=600)
    max_requests_per_batch: int = Field(50, ge=1, le=1000)
    session_ttl_minutes: int = Field(30, ge=1)
    validate_qbxml: bool = False  # also validate every outgoing qbXML against the XSD at run time
    run_every_minutes: int = Field(5, ge=1)
    reference_refresh_minutes: int = Field(60, ge=0)  # re-read vendor/account/class/item lists this often (0 = off)
    auto_create_vendors: bool = False  # VendorAdd a missing vendor right before its first bill
    min_client_version: str | None = None  # refuse older Web Connectors (clientVersion answers "O:<version>")
    idle_wait_seconds: int = Field(0, ge=0)  # authenticate "none": ask QBWC to postpone the next run this long
    # reverse proxies (addresses or networks) whose X-Forwarded-For names the real caller
    trusted_proxies: list[str] = Field(default_factory=list)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, v: list[str]) -> list[str]:
        import ipaddress

        for item in v:
            try:
                ipaddress.ip_network(str(item).strip(), strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network (e.g. 10.0.0.5 or 10.0.0.0/24)") from None
        return v

    @model_validator(mode="after")
    def _unique_users(self):
        seen = set()
        for u in self.users:
            if u.username.lower() in seen:
                raise ValueError(f"user {u.username!r} is listed twice")
            seen.add(u.username.lower())
        return self


class LineRule(_Model):
    """First matching rule decides a line's account/class (or QuickBooks item)."""

    vendor_part: str | None = None
    buyer_part: str | None = None
    upc: str | None = None
    description: str | None = None  # regular expression, searched case-insensitively
    account: str | None = None
    class_: str | None = Field(None, alias="class")
    item: str | None = None
    # units (item rules only), as X12 unit codes (355: EA, CA, BX, DZ, LB ...): the unit QuickBooks
    # counts the item in, and how many of it one of the supplier's other units holds
    unit: str = "EA"
    units: dict[str, Decimal] = Field(default_factory=dict)  # e.g. {CA: 12} = a case holds 12

    @field_validator("unit")
    @classmethod
    def _unit(cls, v: str) -> str:
        v = (v or "").strip().upper()
        if not re.fullmatch(r"[A-Z0-9]{2}", v):
            raise ValueError(f"unit {v!r} is not an X12 unit code (two letters or digits, e.g. EA, CA, LB)")
        return v

    @field_validator("units")
    @classmethod
    def _units(cls, v: dict) -> dict:
        out = {}
        for code, factor in v.items():
            key = str(code).strip().upper()
            if not re.fullmatch(r"[A-Z0-9]{2}", key):
                raise ValueError(f"units: {code!r} is not an X12 unit code (two letters or digits, e.g. CA)")
            if not factor > 0:
                raise ValueError(f"units: {code} must hold a positive number of the rule's unit, not {factor}")
            if key in out:
                raise ValueError(f"units: {key} is given twice (unit codes are read in capitals): keep one")
            out[key] = factor
        return out

    @model_validator(mode="after")
    def _check(self):
        if not any([self.vendor_part, self.buyer_part, self.upc, self.description]):
            raise ValueError("a line rule needs one of vendor_part, buyer_part, upc, description")
        if not (self.account or self.item):
            raise ValueError("a line rule needs an account or an item")
        if self.units and not self.item:
            raise ValueError("units convert quantities of a QuickBooks item: this rule has no item")
        if "unit" in self.model_fields_set and not self.item:
            raise ValueError("unit is the unit QuickBooks counts an item in: this rule has no item (remove unit:, "
                             "or add item:)")
        if self.description:
            try:
                re.compile(self.description)
            except re.error as e:
                raise ValueError(f"description is not a valid regular expression: {e}") from None
        return self


class MatchSettings(_Model):
    """Three-way match of an invoice against its purchase order and what was received (both known to qbedi)."""

    enabled: bool = True
    price_tolerance_percent: Decimal = Field(Decimal("0"), ge=0, le=1000)  # invoiced price above the ordered one
    quantity_tolerance_percent: Decimal = Field(Decimal("0"), ge=0, le=1000)  # invoiced above received / ordered


class SupplierSettings(_Model):
    vendor: str = Field(min_length=1, max_length=41)  # QuickBooks vendor Name max 41
    default_account: str | None = None
    class_: str | None = Field(None, alias="class")
    match: list[str] = Field(default_factory=list)  # extra ids: ISA06, GS02, N1*VN/SU N104
    currency: str = "USD"
    terms_days: int | None = Field(None, ge=0, le=3650)
    total_tolerance: Decimal = Decimal("0.00")
    charge_accounts: dict[str, str] = Field(default_factory=dict)  # SAC02 code -> account
    charge_account: str | None = None  # fallback for charges without a specific code rule
    line_rules: list[LineRule] = Field(default_factory=list)
    item_receipts: bool = True
    company: str | None = None  # Web Connector username whose company file gets this supplier's documents
    auto_post: bool | None = None  # false: its documents wait for a person's approval (None: the global setting)
    alias: str | None = Field(None, max_length=100)  # what people call it (pages, lists), e.g. "Acme (bolts)"
    tags: list[str] = Field(default_factory=list)  # free labels for filtering, e.g. [freight, critical]
    archived: bool = False  # no longer a supplier: its new documents are held as supplier_archived
    three_way_match: MatchSettings = Field(default_factory=MatchSettings)
    # an invoice's item lines are linked to the open lines of the purchase order(s) it names, when QuickBooks
    # has them (LinkToTxn): QuickBooks then counts them billed and received, and closes the PO when all are
    link_to_po: bool = True

    @field_validator("currency")
    @classmethod
    def _cur(cls, v):
        if not re.fullmatch(r"[A-Z]{3}", v):
            raise ValueError(f"expected an ISO currency code like USD, got {v!r}")
        return v


class WebUserSettings(_Model):
    """A person who signs in to the AP web page (not a Web Connector user)."""

    username: str = Field(min_length=1, max_length=100)
    password_hash: str = Field(min_length=1)
    role: Literal["clerk", "admin"] = "clerk"  # clerk: review, release, dismiss, approve; admin: also sync control
    # a clerk who works for some companies only (Web Connector user names): sees and acts on their documents
    # alone, and none of the pages that show every company's work; left out: every company
    companies: list[str] | None = None

    @field_validator("companies")
    @classmethod
    def _some(cls, v):
        if v is not None and not v:
            raise ValueError("an empty list gives this clerk no company (and would have meant every one): list the "
                             "companies, leave `companies` out for every company, or remove the user")
        return v

    _hashed = field_validator("password_hash")(classmethod(lambda cls, v: _password_hash(v)))


class WebSettings(_Model):
    """The AP web page, served beside the Web Connector's SOAP endpoint by qbedi run / serve."""

    enabled: bool = True
    users: list[WebUserSettings] = Field(default_factory=list)
    session_minutes: int = Field(30, ge=1, le=24 * 60)  # signed out after this long without a request
    secret_key_file: str = "web.key"  # signs the session cookies (created 0600 on first use)

    @model_validator(mode="after")
    def _unique_users(self):
        seen = set()
        for u in self.users:
            if u.username.lower() in seen:
                raise ValueError(f"web user {u.username!r} is listed twice")
            seen.add(u.username.lower())
        return self


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _env_name(v: str | None) -> str | None:
    if v is not None and not _ENV_NAME.fullmatch(v):
        # the value is not repeated: it may be the very password someone put here by mistake
        raise ValueError("expected the name of an environment variable (letters, digits, _), e.g. "
                         "QBEDI_SMTP_PASSWORD: put the secret in that variable, never in the YAML")
    return v


def _address(v: str) -> str:
    v = v.strip()
    if not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+", v):
        raise ValueError(f"{v!r} is not an e-mail address")
    return v


class EmailSettings(_Model):
    """SMTP: ``ssl`` connects with TLS from the start (port 465); otherwise ``starttls`` upgrades the
    connection (port 587) and a server that cannot is not used. The password is read from the
    environment variable ``password_env`` when the message is sent."""

    host: str = Field(min_length=1)
    port: int = Field(587, ge=1, le=65535)
    starttls: bool = True
    ssl: bool = False
    username: str | None = None
    password_env: str | None = None
    from_addr: str
    to: list[str] = Field(min_length=1)
    timeout_seconds: float = Field(30.0, gt=0, le=300)

    @field_validator("password_env")
    @classmethod
    def _env(cls, v: str | None) -> str | None:
        return _env_name(v)

    @field_validator("from_addr")
    @classmethod
    def _from(cls, v: str) -> str:
        return _address(v)

    @field_validator("to")
    @classmethod
    def _to(cls, v: list[str]) -> list[str]:
        return [_address(a) for a in v]

    @model_validator(mode="after")
    def _login(self):
        if self.username and not self.password_env:
            raise ValueError("username needs password_env: the name of the environment variable that holds the "
                             "SMTP password")
        return self


class WebhookSettings(_Model):
    """A JSON POST per message; with ``secret_env``, ``X-Qbedi-Signature: sha256=<hex HMAC-SHA256 of the body>``
    keyed with the value of that environment variable."""

    url: str
    secret_env: str | None = None
    timeout_seconds: float = Field(10.0, gt=0, le=300)

    @field_validator("secret_env")
    @classmethod
    def _env(cls, v: str | None) -> str | None:
        return _env_name(v)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^https?://[^\s/]+", v.strip()):
            raise ValueError(f"expected an http:// or https:// address, got {v!r}")
        return v.strip()


class NotificationSettings(_Model):
    """``notifications:`` in qbedi.yaml. Nothing is sent while neither ``email`` nor ``webhook`` is set."""

    email: EmailSettings | None = None
    webhook: WebhookSettings | None = None
    digest_at: str | None = "07:00"  # HH:MM, every day; null: no digest
    timezone: str | None = None  # IANA name (Europe/Paris) for digest_at and the digest's "yesterday"; null: local
    held_alert: bool = True  # a message when documents are newly held or refused by QuickBooks
    source_failing_after: str | int | None = "30m"  # null: never told
    web_connector_silent_after: str | int | None = "2h"  # null: never told
    min_interval: str | int = "15m"

    @field_validator("digest_at")
    @classmethod
    def _clock(cls, v: str | None) -> str | None:
        if v is None:
            return v
        m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*", str(v))
        if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
            raise ValueError(f"expected a time of day like 07:00, got {v!r}")
        return f"{int(m.group(1)):02d}:{m.group(2)}"

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str | None) -> str | None:
        if v is not None:
            from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

            try:
                ZoneInfo(v)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {v!r} (expected a name like America/Chicago)") from None
        return v

    @field_validator("source_failing_after", "web_connector_silent_after", "min_interval")
    @classmethod
    def _duration(cls, v):
        if v is not None:
            parse_duration(v)
        return v

    @property
    def channels(self) -> list[str]:
        return [name for name in ("email", "webhook") if getattr(self, name) is not None]

    def seconds(self, name: str) -> int | None:
        value = getattr(self, name)
        return None if value is None else parse_duration(value)

    def zone(self):  # -> tzinfo | None
        if self.timezone is None:
            return None
        from zoneinfo import ZoneInfo

        return ZoneInfo(self.timezone)


class LoggingSettings(_Model):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["auto", "console", "json"] = "auto"
    file: str | None = None  # relative to the config file's folder
    max_mb: int = Field(0, ge=0, le=10_000)  # >0: qbedi rotates the file at this size; 0: reopened after logrotate
    keep: int = Field(5, ge=1, le=1000)  # rotated files kept (with max_mb)


class CredentialsSettings(_Model):
    """Encrypted credential store for sources (Cleo). The key comes from $QBEDI_SECRET_KEY or key_file (0600)."""

    file: str = "credentials.enc"
    key_file: str = "qbedi.key"


class DatabaseSettings(_Model):
    url: str = DEFAULT_DB_URL


class Settings(_Model):
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    sources: list[SourceSettings] = Field(default_factory=lambda: [FolderSourceSettings()])
    web_connector: WebConnectorSettings = Field(default_factory=WebConnectorSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    auto_post: bool = True  # false: every document waits for a person's approval (a supplier may say otherwise)
    # a file may take this long per poll; then what is done is kept, the files behind it go, the next poll goes on
    file_time_slice: str | int = "60s"
    suppliers: dict[str, SupplierSettings] = Field(default_factory=dict)
    suppliers_file: str | None = None
    raw_dir: str | None = None  # optional copy of every received file on disk (the DB always keeps it)
    credentials: CredentialsSettings = Field(default_factory=CredentialsSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)

    # where the file was read from (not a YAML key)
    base_dir: Path = Field(default_factory=Path.cwd, exclude=True)
    source_file: str = Field("(defaults)", exclude=True)

    @model_validator(mode="after")
    def _supplier_companies(self):
        users = {u.username.lower() for u in self.web_connector.users}
        for sid, sup in self.suppliers.items():
            if sup.company and users and sup.company.lower() not in users:
                raise ValueError(f"supplier {sid}: company {sup.company!r} is not one of the Web Connector users "
                                 f"({', '.join(sorted(u.username for u in self.web_connector.users))})")
        return self

    @model_validator(mode="after")
    def _web_user_companies(self):
        users = {u.username.lower() for u in self.web_connector.users}
        for w in self.web.users:
            if w.companies and w.role == "admin":
                raise ValueError(f"web user {w.username}: an admin works for every company; give `companies` to "
                                 "clerks only")
            unknown = [c for c in w.companies or () if c.lower() not in users]
            if unknown:
                raise ValueError(f"web user {w.username}: {', '.join(map(repr, unknown))} is not one of the Web "
                                 f"Connector users ({', '.join(sorted(u.username for u in self.web_connector.users)) or 'none'})")
        return self

    @model_validator(mode="after")
    def _unique_sources(self):
        names = [s.name for s in self.sources]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"source names must be unique, repeated: {', '.join(sorted(dup))}")
        return self

    @field_validator("file_time_slice")
    @classmethod
    def _slice(cls, v):
        parse_duration(v)
        return v

    @property
    def file_time_slice_seconds(self) -> int:
        return parse_duration(self.file_time_slice)

    def resolve(self, path: str | Path) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() else (self.base_dir / p)

    @property
    def database_url(self) -> str:
        url = self.database.url
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////") and ":memory:" not in url:
            rel = url[len("sqlite:///"):]
            return "sqlite:///" + str(self.resolve(rel))
        return url

    def company_for(self, supplier: "SupplierSettings") -> str:
        """The Web Connector user (company file) a supplier's documents go to: its ``company`` in the
        configured spelling, else the first user."""
        if supplier.company:
            user = self.user(supplier.company)
            return user.username if user is not None else supplier.company
        users = self.web_connector.users
        return users[0].username if users else "default"

    def warnings(self) -> list[str]:
        """What reads but is likely a mistake, for ``qbedi check`` to say (none of it stops qbedi)."""
        users, out = self.web_connector.users, []
        files: dict[str, list[str]] = {}  # company file -> its users
        for u in users:
            if u.company_file.strip():
                files.setdefault(u.company_file.strip().lower(), []).append(u.username)
            if not u.company_file.strip():
                out.append(f"Web Connector user {u.username}: company_file is empty, so a session run against "
                           "another QuickBooks company file is not refused; set it to the company file's path")
            elif not re.match(r"^([A-Za-z]:[\\/]|[\\/]{2})", u.company_file.strip()):
                out.append(f"Web Connector user {u.username}: company_file {u.company_file.strip()!r} is not a full "
                           "path (like C:\\...\\Company.qbw or \\\\server\\share\\Company.qbw): QuickBooks gives "
                           "the whole path, so every session would be refused as another company file")
        for names in files.values():
            if len(names) > 1:
                out.append(f"Web Connector users {', '.join(names)} name the same company file: their documents "
                           "would go into one QuickBooks company")
        if len(users) > 1:
            loose = sorted(sid for sid, sup in self.suppliers.items() if not sup.company)
            if loose:
                out.append(f"{len(loose)} supplier(s) without `company:` ({', '.join(loose[:5])}"
                           f"{', ...' if len(loose) > 5 else ''}): their documents go to {users[0].username}, the "
                           "first Web Connector user; say which company with `company:`")
        return out + self._loose_files()

    def _loose_files(self) -> list[str]:
        """The config files that other users of the machine may change (POSIX): whoever can write them can
        add a web admin or send a supplier's invoices to another vendor."""
        import os
        import stat

        if os.name != "posix" or self.source_file.startswith("("):
            return []
        files = [Path(self.source_file)] + ([self.resolve(self.suppliers_file)] if self.suppliers_file else [])
        out = []
        for f in files:
            try:
                mode = stat.S_IMODE(f.stat().st_mode)
            except OSError:
                continue
            if mode & 0o022:
                out.append(f"{f} may be changed by other users of this machine (mode {mode:o}): whoever can write it "
                           f"can add a web admin or send invoices to other vendors; chmod go-w {f}")
        return out

    def user(self, username: str) -> WebConnectorUserSettings | None:
        for u in self.web_connector.users:
            if u.username.lower() == username.lower():
                return u
        return None


# ---------------------------------------------------------------- loading

def _line_index(text: str) -> dict[tuple, int]:
    """Map YAML key paths to 1-based line numbers, for error messages."""
    index: dict[tuple, int] = {}
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return index

    def walk(node, path):
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                key = (*path, k.value)
                index[key] = k.start_mark.line + 1
                walk(v, key)
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                index[(*path, i)] = v.start_mark.line + 1
                walk(v, (*path, i))

    if root is not None:
        walk(root, ())
    return index


class _TextLoader(yaml.SafeLoader):
    """YAML as the admin typed it: numbers and yes/no stay text (ids such as DUNS numbers, phone numbers,
    ``0012345`` or ``12:30`` are never turned into 12345, 750 or an octal reading); the settings models
    convert the values that are numbers or switches, and say so when one is not."""


_AS_TEXT = {"tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool"}
_TextLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in _AS_TEXT]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def _read_yaml(path: Path) -> tuple[Any, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, "", "file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(path, "", f"cannot read the file: {e}") from None
    try:
        data = yaml.load(text, Loader=_TextLoader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise ConfigError(path, "", f"not valid YAML: {getattr(e, 'problem', e)}",
                          line=mark.line + 1 if mark else None) from None
    return data, text


def _raise_validation(path: Path, err: ValidationError, text: str, prefix: tuple = ()) -> None:
    index = _line_index(text)
    first = err.errors()[0]
    loc = tuple(x for x in first["loc"] if not (isinstance(x, str) and x in _SOURCE_TAGS))
    full = (*prefix, *loc)
    line = None
    for n in range(len(full), 0, -1):
        line = index.get(full[:n])
        if line:
            break
    key = ".".join(str(x) for x in full)
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown key (check the spelling; see config/qbedi.example.yaml)"
    elif first["type"] == "missing":
        msg = "required key is missing"
    elif first["type"] == "source_type":
        msg = f"a source is a mapping with a type: key (known types: {', '.join(source_type_names())})"
    msg = msg.removeprefix("Value error, ")
    more = len(err.errors()) - 1
    if more:
        msg += f" (and {more} more problem{'s' if more > 1 else ''})"
    raise ConfigError(path, key, msg, line) from None


def load_settings(path: str | Path | None = None, *, suppliers_file: bool = True) -> Settings:
    """Read and validate the config (None = embedded defaults, cwd-relative). ``suppliers_file`` False: without
    the suppliers file it names (a command that must run while an admin's edit of it does not read)."""
    if path is None:
        return Settings()
    path = Path(path).expanduser().absolute()
    data, text = _read_yaml(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(path, "", "the top level must be a mapping of keys (database:, sources:, ...)")
    try:
        settings = Settings.model_validate({**data, "base_dir": path.parent, "source_file": str(path)})
    except ValidationError as e:
        _raise_validation(path, e, text)
    _check_adapter_sources(path, text, settings)
    if settings.suppliers_file and suppliers_file:
        sup_path = settings.resolve(settings.suppliers_file)
        sup_data, sup_text = _read_yaml(sup_path)
        sup_data = sup_data or {}
        if isinstance(sup_data, dict) and "suppliers" in sup_data:
            sup_data, prefix = sup_data["suppliers"] or {}, ("suppliers",)
        else:
            prefix = ()
        if not isinstance(sup_data, dict):
            raise ConfigError(sup_path, "", "expected a mapping of supplier id -> settings")
        try:
            extra = {k: SupplierSettings.model_validate(v) for k, v in sup_data.items()}
        except ValidationError as e:
            bad = next(k for k, v in sup_data.items() if _invalid(v))
            _raise_validation(sup_path, e, sup_text, (*prefix, bad))
        clash = set(extra) & set(settings.suppliers)
        if clash:
            raise ConfigError(sup_path, ".".join(sorted(clash)), f"also defined in {path.name}")
        users = {u.username.lower(): u.username for u in settings.web_connector.users}
        for sid, sup in extra.items():
            if sup.company and users and sup.company.lower() not in users:
                raise ConfigError(sup_path, f"{sid}.company", f"{sup.company!r} is not one of the Web Connector "
                                  f"users ({', '.join(sorted(users.values()))})",
                                  _line_index(sup_text).get((*prefix, sid, "company")))
        settings.suppliers.update(extra)
    return settings


class LiveSettings:
    """The settings a long-running process translates with: read again when the config file or the
    suppliers file changes (an admin fixed a mapping, then releases the document from the web page), so
    nobody has to restart qbedi for a mapping. A file that no longer loads is reported
    (:attr:`last_error`, the log) and the last good settings stay in use; nothing half-read is used.
    Settings that only take effect at start (database, sources, listen address) still need a restart."""

    CHECK_SECONDS = 1.0  # the files are looked at most this often (a translation asks many times per document)

    def __init__(self, settings: Settings):
        import time

        self._settings, self.last_error = settings, None
        self._stamp = self._read_stamp(settings)
        self._clock, self._checked = time.monotonic, time.monotonic()

    @staticmethod
    def _files(settings: Settings) -> list[Path]:
        if settings.source_file == "(defaults)":
            return []
        files = [Path(settings.source_file)]
        if settings.suppliers_file:
            files.append(settings.resolve(settings.suppliers_file))
        return files

    @classmethod
    def _read_stamp(cls, settings: Settings) -> tuple:
        out = []
        for f in cls._files(settings):
            try:
                st = f.stat()
                out.append((str(f), st.st_mtime_ns, st.st_size))
            except OSError:
                out.append((str(f), None, None))
        return tuple(out)

    def current(self, *, now_please: bool = False) -> Settings:
        """``now_please``: look at the files whatever the time since the last look (a person just asked
        for a document to be translated again)."""
        now = self._clock()
        if not now_please and now - self._checked < self.CHECK_SECONDS:
            return self._settings
        self._checked = now
        stamp = self._read_stamp(self._settings)
        if stamp == self._stamp:
            return self._settings
        self._stamp = stamp
        try:
            fresh = load_settings(self._settings.source_file)
        except ConfigError as e:
            self.last_error = str(e)
            import structlog

            structlog.get_logger(__name__).error("settings.reload_failed", error=str(e),
                                                 detail="the last good settings stay in use")
            return self._settings
        self._settings, self.last_error = fresh, None
        self._stamp = self._read_stamp(fresh)
        return fresh


def _check_adapter_sources(path: Path, text: str, settings: Settings) -> None:
    """An adapter source's own keys, checked with the model its adapter registered, so errors name the line."""
    for i, src in enumerate(settings.sources):
        if isinstance(src, AdapterSourceSettings):
            try:
                source_type(src.type).settings_model.model_validate(src.options())
            except ValidationError as e:
                _raise_validation(path, e, text, ("sources", i))


def _invalid(value) -> bool:
    try:
        SupplierSettings.model_validate(value)
        return False
    except ValidationError:
        return True
