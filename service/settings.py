"""The service's settings, read from `TICKET_AUDIT_*` environment variables (see the contract)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_LOG_FILE = "ticket-audit.sqlite3"


class SettingsError(ValueError):
    """A setting is wrong; the message is one line naming it, without secret values."""


@dataclass(frozen=True)
class DatabaseLocation:
    """Where the log lives, parsed from `TICKET_AUDIT_DATABASE_URL`."""

    kind: Literal["sqlite", "postgres"]
    sqlite_path: str = ""
    host: str = ""
    port: int = 5432
    user: str = ""
    password: str = field(default="", repr=False)
    dbname: str = ""
    schema: str = "public"
    # Every other parameter of the URL's query (`sslmode`, `application_name`, ...), for libpq.
    libpq_parameters: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    @classmethod
    def parse(cls, url: str) -> DatabaseLocation:
        if url.startswith("sqlite:///"):
            path = url.removeprefix("sqlite:///")
            if not path:
                raise ValueError("sqlite URL needs a file path: sqlite:///PATH")
            return cls(kind="sqlite", sqlite_path=path)
        parts = urlsplit(url)
        if parts.scheme not in ("postgresql", "postgres"):
            raise ValueError("expected sqlite:///PATH or postgresql://USER[:PASS]@HOST[:PORT]/DB")
        dbname = unquote(parts.path.lstrip("/"))
        if not parts.hostname or not parts.username or not dbname:
            raise ValueError("postgresql URL needs USER, HOST and DB: postgresql://USER@HOST/DB")
        try:
            port = parts.port or 5432
        except ValueError:
            raise ValueError("postgresql URL has an invalid port") from None
        query = parse_qsl(parts.query, keep_blank_values=True)
        schema = next((value for name, value in query if name == "schema"), "public")
        libpq_parameters = tuple((name, value) for name, value in query if name != "schema")
        # Imported here: reading settings needs no database driver until a URL names one.
        from service.database import check_parameters

        check_parameters(dict(libpq_parameters))
        return cls(
            kind="postgres",
            host=parts.hostname,
            port=port,
            user=unquote(parts.username),
            password=unquote(parts.password or ""),
            dbname=dbname,
            schema=schema,
            libpq_parameters=libpq_parameters,
        )

    def sibling_sqlite_path(self, purpose: str) -> str:
        """A file beside the log for a store that must not share the log's SQLite file.

        SQLite tracking tables have a fixed name and one writer at a time per file, so each
        projection (and the quarantine) keeps its own file.
        """
        log = Path(self.sqlite_path)
        return str(log.with_name(f"{log.stem}.{purpose}{log.suffix or '.sqlite3'}"))

    def postgres_conninfo(self) -> str:
        """A connection string with every parameter of the URL (see `service.database`)."""
        from service.database import conninfo

        return conninfo(self)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TICKET_AUDIT_", extra="ignore")

    # Empty means the default: a SQLite log inside `data_dir` (see `_default_log_in_data_dir`).
    database_url: str = ""
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    webhook_token: SecretStr | None = None
    signing_secret: SecretStr | None = None
    read_token: SecretStr | None = None
    admin_token: SecretStr | None = None
    source_timezone: str = "UTC"
    max_body_bytes: int = Field(default=1_048_576, gt=0)
    # The folder of the default SQLite log, its projections, quarantine and lock files.
    data_dir: str = "data"
    access_log: Literal["common", "json", "off"] = "common"
    log_format: Literal["text", "json"] = "text"
    # Deliveries waiting for the log writer; past either bound, intake answers 503 at once.
    intake_queue_deliveries: int = Field(default=10_000, gt=0)
    intake_queue_bytes: int = Field(default=64 * 1_048_576, gt=0)
    # The quarantine keeps this many refused deliveries, dropping the oldest past it.
    quarantine_max_rows: int = Field(default=10_000, ge=1)

    @field_validator("database_url")
    @classmethod
    def _database_url_parses(cls, value: str) -> str:
        if value:
            DatabaseLocation.parse(value)
        return value

    @model_validator(mode="after")
    def _default_log_in_data_dir(self) -> Settings:
        if not self.database_url:
            self.database_url = self.default_database_url
        return self

    @property
    def default_database_url(self) -> str:
        return f"sqlite:///{Path(self.data_dir) / DEFAULT_LOG_FILE}"

    @field_validator("intake_queue_bytes")
    @classmethod
    def _queue_holds_a_delivery(cls, value: int, info: ValidationInfo) -> int:
        largest = info.data.get("max_body_bytes")
        if largest is not None and value < largest:
            raise ValueError(f"must be at least TICKET_AUDIT_MAX_BODY_BYTES ({largest})")
        return value

    @field_validator("source_timezone")
    @classmethod
    def _zone_exists(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("webhook_token", "signing_secret", "read_token", "admin_token", mode="before")
    @classmethod
    def _empty_means_unset(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def database(self) -> DatabaseLocation:
        return DatabaseLocation.parse(self.database_url)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.source_timezone)

    def unset_tokens(self) -> list[str]:
        names = {
            "TICKET_AUDIT_WEBHOOK_TOKEN": self.webhook_token,
            "TICKET_AUDIT_READ_TOKEN": self.read_token,
            "TICKET_AUDIT_ADMIN_TOKEN": self.admin_token,
        }
        return [name for name, value in names.items() if value is None]

    def check_exposure(self) -> None:
        """Refuse to serve beyond loopback while any route would be open to anyone."""
        unset = self.unset_tokens()
        if unset and not is_loopback(self.host):
            raise SettingsError(
                f"refusing to listen on {self.host}: set {', '.join(unset)} "
                "(routes without a token are open only on a loopback address)"
            )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with `overrides` (command-line flags) on top."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    except ValidationError as error:
        first = error.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "settings"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise SettingsError(f"TICKET_AUDIT_{field.upper()}: {message}") from None
