"""Verification of Standard Webhooks signatures on incoming Ingresse deliveries.

See https://www.standardwebhooks.com/ for the specification. A delivery is authentic when one of
the ``v1`` entries of its ``webhook-signature`` header is the base64 HMAC-SHA256, under one of our
signing keys, of ``"{webhook-id}.{webhook-timestamp}.{body}"``, and its timestamp is recent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Mapping, Sequence

__all__ = ["InvalidSigningSecret", "PendingSignature", "SignatureVerifier", "sign"]

# The marker that opens every secret in this format; it is not itself secret.
SECRET_PREFIX = "whsec_"  # noqa: S105
SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE_SECONDS = 300

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"

# Bounded so that an absurdly long header cannot reach int(), which rejects very long digit
# strings with an error rather than a number.
_TIMESTAMP_PATTERN = re.compile(r"[0-9]{1,20}")
# Base64 never contains spaces or commas, so either can separate secrets in one setting.
_SETTING_SEPARATOR = re.compile(r"[\s,]+")


class InvalidSigningSecret(ValueError):
    """A configured signing secret cannot be used as an HMAC key.

    Messages identify a secret only by its position, so that they are safe to log.
    """


class SignatureVerifier:
    """Checks deliveries against one or more signing secrets.

    Several secrets support rotation: during the changeover a delivery signed with either the
    outgoing or the incoming secret is accepted.
    """

    __slots__ = ("_keys", "_tolerance_seconds")

    def __init__(
        self, secrets: Sequence[str], tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS
    ) -> None:
        if not secrets:
            raise InvalidSigningSecret("at least one signing secret is required")
        if tolerance_seconds < 0:
            raise ValueError("tolerance_seconds must not be negative")
        self._keys = tuple(
            _decode_secret(secret, position, len(secrets))
            for position, secret in enumerate(secrets, start=1)
        )
        self._tolerance_seconds = tolerance_seconds

    @classmethod
    def from_setting(cls, value: str) -> SignatureVerifier:
        """Builds a verifier from TICKET_AUDIT_SIGNING_SECRET, whose secrets are separated by
        spaces or commas."""
        return cls([secret for secret in _SETTING_SEPARATOR.split(value) if secret])

    def verify(self, headers: Mapping[str, str], body: bytes, now: float | None = None) -> bool:
        """Tells whether a delivery is authentic and recent.

        ``headers`` may be any mapping; names are matched regardless of case. ``now`` (unix
        seconds) defaults to the current time.
        """
        pending = self.start(headers, now)
        if pending is None:
            return False
        pending.update(body)
        return pending.matches()

    def start(
        self, headers: Mapping[str, str], now: float | None = None
    ) -> PendingSignature | None:
        """Begins a check fed the body as it arrives; None when the headers already fail it.

        Streaming lets a body past the size limit be authenticated without being buffered.
        """
        headers_by_lowercase_name = {name.lower(): value for name, value in headers.items()}
        webhook_id = headers_by_lowercase_name.get(ID_HEADER)
        timestamp = headers_by_lowercase_name.get(TIMESTAMP_HEADER)
        signature_header = headers_by_lowercase_name.get(SIGNATURE_HEADER)
        if not webhook_id or not timestamp or not signature_header:
            return None
        if not _is_text(webhook_id) or not _is_text(signature_header):
            return None
        if not _TIMESTAMP_PATTERN.fullmatch(timestamp):
            return None
        current_time = time.time() if now is None else now
        # Checking both directions bounds how long any captured delivery can be replayed, including
        # one stamped ahead of time.
        if abs(current_time - int(timestamp)) > self._tolerance_seconds:
            return None

        presented_signatures = [
            encoded.encode()
            for version, _, encoded in (entry.partition(",") for entry in signature_header.split())
            if version == SIGNATURE_VERSION
        ]
        prefix = _signed_content(webhook_id, timestamp, b"")
        return PendingSignature(
            [hmac.new(key, prefix, hashlib.sha256) for key in self._keys], presented_signatures
        )


class PendingSignature:
    """The HMACs of a delivery under every signing key, fed its body chunk by chunk."""

    __slots__ = ("_abandoned", "_macs", "_presented")

    def __init__(self, macs: list[hmac.HMAC], presented: list[bytes]) -> None:
        self._macs = macs
        self._presented = presented
        self._abandoned = False

    def update(self, chunk: bytes) -> None:
        for mac in self._macs:
            mac.update(chunk)

    def abandon(self) -> None:
        """The body was not read to its end, so no signature over it can be confirmed."""
        self._abandoned = True

    def matches(self) -> bool:
        if self._abandoned:
            return False
        for mac in self._macs:
            expected = base64.b64encode(mac.digest())
            for presented in self._presented:
                if hmac.compare_digest(expected, presented):
                    return True
        return False


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """Returns the ``webhook-signature`` header value for a delivery, e.g. ``"v1,K5oZ...="``."""
    key = _decode_secret(secret, position=1, count=1)
    signed_content = _signed_content(webhook_id, str(timestamp), body)
    return f"{SIGNATURE_VERSION},{_signature(key, signed_content)}"


def _decode_secret(secret: str, position: int, count: int) -> bytes:
    encoded_key = secret.removeprefix(SECRET_PREFIX)
    which = "signing secret" if count == 1 else f"signing secret {position} of {count}"
    try:
        key = base64.b64decode(encoded_key, validate=True)
    except ValueError:
        # Catches binascii.Error (bad alphabet or padding) and the error for non-ASCII text alike.
        # Suppressing the decoder's error keeps the secret's characters out of tracebacks.
        raise InvalidSigningSecret(f"{which} is not valid base64") from None
    if not key:
        raise InvalidSigningSecret(f"{which} is empty")
    return key


def _is_text(header_value: str) -> bool:
    """False for a header whose bytes were not UTF-8 (they arrive as lone surrogates)."""
    try:
        header_value.encode()
    except UnicodeEncodeError:
        return False
    return True


def _signed_content(webhook_id: str, timestamp: str, body: bytes) -> bytes:
    return f"{webhook_id}.{timestamp}.".encode() + body


def _signature(key: bytes, signed_content: bytes) -> str:
    return base64.b64encode(hmac.new(key, signed_content, hashlib.sha256).digest()).decode()
