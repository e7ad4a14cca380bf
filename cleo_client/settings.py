"""Settings of a Cleo source (a ``sources:`` entry with ``type: cleo``) and the API routes it may override.

Light on purpose (pydantic only, no HTTP stack): importing :mod:`cleo_client` registers the ``cleo``
source type with these settings, and every ``qbedi`` command that reads a config imports it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

AckMode = Literal["delete", "archive", "none"]


@dataclass(frozen=True)
class CleoApiPaths:
    """Every route the adapter uses, relative to the API root (``.../api``).

    Templates use ``{connection_id}``, ``{file_id}``, ``{action_id}``.
    """

    authentication: str = "/authentication"  # A1
    connections: str = "/connections"  # A6
    actions: str = "/actions"  # A7
    action_run: str = "/actions/{action_id}/run"  # A7
    incoming: str = "/connections/{connection_id}/incoming"  # A8
    incoming_file: str = "/connections/{connection_id}/incoming/{file_id}"  # A9 download / A10 delete
    outgoing: str = "/connections/{connection_id}/outgoing"  # A12
    alias_filter: str = 'alias eq "{alias}"'  # A6/A7
    content_link_names: tuple[str, ...] = ("content", "download")  # A9
    version_header: str = "Server"  # A13
    token_field: str = "access_token"  # A1
    expires_field: str = "expires_in"  # A2


class CleoSettings(BaseModel):
    """Settings for one Cleo source (a ``sources:`` entry with ``type: cleo``)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)  # validators built on first use, not at import

    # where: either base_url (API root, e.g. https://tenant.example.com/api) or scheme/host/port
    base_url: str | None = None
    scheme: Literal["http", "https"] = "https"
    host: str | None = None
    port: int = Field(6080, ge=1, le=65535)  # cleo.md §3: 6080 https, 5080 http on-prem
    api_path: str = "/api"
    tenant: str | None = None  # CIC tenant label, for logs/reports only (URL pattern unknown)

    # what
    connections: list[str] = Field(default_factory=list)  # partner connection aliases to poll
    receive_action: str | None = None  # admin-defined action run before listing (e.g. SFTP "GET *")
    receive_action_timeout: int | None = None  # seconds, passed to the action run
    acknowledge: AckMode = "none"  # after the bytes are stored: delete | archive (action) | none
    archive_action: str | None = None  # action alias when acknowledge == "archive"
    upload_acks: bool = False  # send our 997s back through Cleo
    upload_connection: str | None = None  # alias to upload to (default: first of connections)
    send_action: str | None = None  # optional action run after an upload (e.g. "PUT -DEL *")

    # how
    paths: CleoApiPaths = Field(default_factory=CleoApiPaths)
    auth_mode: Literal["token", "basic"] = "token"
    page_size: int = Field(100, ge=1, le=1000)
    connect_timeout: float = Field(10.0, gt=0)
    read_timeout: float = Field(60.0, gt=0)
    retries: int = Field(4, ge=0, le=20)
    backoff_factor: float = Field(1.0, ge=0)
    backoff_max: float = Field(60.0, ge=0)
    backoff_jitter: float = Field(1.0, ge=0)
    verify: bool = True
    ca_bundle: str | None = None
    token_refresh_skew: float = 60.0
    auth_failure_cooldown: float = 300.0  # don't retry a rejected password sooner (account lockout)
    max_file_bytes: int = Field(50 * 1024 * 1024, ge=1)
    download_timeout: float = Field(600.0, gt=0)  # whole-download deadline (read_timeout is per read)
    temp_dir: str | None = None
    credentials_name: str = "cleo"  # name in the CredentialStore

    @model_validator(mode="after")
    def _check(self) -> "CleoSettings":
        if not self.base_url and not self.host:
            raise ValueError("Cleo source needs base_url (API root) or host (+ scheme/port)")
        if self.acknowledge == "archive" and not self.archive_action:
            raise ValueError("acknowledge: archive needs archive_action (the Cleo action alias that archives a file)")
        if self.ca_bundle and not self.verify:
            raise ValueError("ca_bundle is set but verify is false; remove verify: false")
        return self

    def api_base_url(self) -> str:
        if self.base_url:
            return self.base_url
        path = "/" + self.api_path.strip("/") if self.api_path.strip("/") else ""
        return f"{self.scheme}://{self.host}:{self.port}{path}"

    def tls_verify(self) -> bool | str:
        return self.ca_bundle if self.ca_bundle else self.verify
