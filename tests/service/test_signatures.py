from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from service.signatures import InvalidSigningSecret, SignatureVerifier, sign

# The test vector published with the Standard Webhooks specification. Matching it means any of the
# specification's sender libraries can sign deliveries this service accepts.
REFERENCE_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
REFERENCE_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
REFERENCE_TIMESTAMP = 1614265330
REFERENCE_BODY = b'{"test": 2432232314}'
REFERENCE_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

OTHER_SECRET = "whsec_" + base64.b64encode(b"a different thirty-two byte key!").decode()


def reference_headers(
    signature: str = REFERENCE_SIGNATURE,
    webhook_id: str = REFERENCE_ID,
    timestamp: str = str(REFERENCE_TIMESTAMP),
) -> dict[str, str]:
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": signature,
    }


def reference_verifier() -> SignatureVerifier:
    return SignatureVerifier([REFERENCE_SECRET])


def test_sign_reproduces_the_reference_vector() -> None:
    signature = sign(REFERENCE_SECRET, REFERENCE_ID, REFERENCE_TIMESTAMP, REFERENCE_BODY)

    assert signature == REFERENCE_SIGNATURE


def test_sign_agrees_with_hmac_computed_by_hand() -> None:
    key = b"\x00\x01 arbitrary key bytes \xff"
    body = b'{"ticket": 42, "status": "checked_in"}'
    expected_digest = hmac.new(key, b"msg_1.1700000000." + body, hashlib.sha256).digest()

    signature = sign("whsec_" + base64.b64encode(key).decode(), "msg_1", 1700000000, body)

    assert signature == "v1," + base64.b64encode(expected_digest).decode()


def test_reference_delivery_passes() -> None:
    assert reference_verifier().verify(reference_headers(), REFERENCE_BODY, now=REFERENCE_TIMESTAMP)


def test_secret_without_prefix_is_accepted() -> None:
    verifier = SignatureVerifier([REFERENCE_SECRET.removeprefix("whsec_")])

    assert verifier.verify(reference_headers(), REFERENCE_BODY, now=REFERENCE_TIMESTAMP)


def test_wrong_secret_fails() -> None:
    verifier = SignatureVerifier([OTHER_SECRET])

    assert not verifier.verify(reference_headers(), REFERENCE_BODY, now=REFERENCE_TIMESTAMP)


def test_tampered_body_fails() -> None:
    tampered_body = b'{"test": 2432232315}'

    assert not reference_verifier().verify(
        reference_headers(), tampered_body, now=REFERENCE_TIMESTAMP
    )


def test_tampered_id_fails() -> None:
    headers = reference_headers(webhook_id="msg_p5jXN8AQM9LWM0D4loKWxJel")

    assert not reference_verifier().verify(headers, REFERENCE_BODY, now=REFERENCE_TIMESTAMP)


def test_tampered_timestamp_fails() -> None:
    headers = reference_headers(timestamp=str(REFERENCE_TIMESTAMP + 1))

    assert not reference_verifier().verify(headers, REFERENCE_BODY, now=REFERENCE_TIMESTAMP)


@pytest.mark.parametrize(
    ("age_seconds", "accepted"),
    [(299, True), (300, True), (301, False), (-299, True), (-300, True), (-301, False)],
)
def test_timestamp_must_be_within_tolerance_in_both_directions(
    age_seconds: int, accepted: bool
) -> None:
    now = REFERENCE_TIMESTAMP + age_seconds

    assert reference_verifier().verify(reference_headers(), REFERENCE_BODY, now=now) is accepted


def test_tolerance_is_configurable() -> None:
    verifier = SignatureVerifier([REFERENCE_SECRET], tolerance_seconds=10)

    assert verifier.verify(reference_headers(), REFERENCE_BODY, now=REFERENCE_TIMESTAMP + 10)
    assert not verifier.verify(reference_headers(), REFERENCE_BODY, now=REFERENCE_TIMESTAMP + 11)


def test_negative_tolerance_is_rejected() -> None:
    with pytest.raises(ValueError, match="tolerance_seconds"):
        SignatureVerifier([REFERENCE_SECRET], tolerance_seconds=-1)


def test_now_defaults_to_the_current_time() -> None:
    # The reference timestamp is years old, so only a verifier using the real clock rejects it.
    assert not reference_verifier().verify(reference_headers(), REFERENCE_BODY)


@pytest.mark.parametrize("timestamp", ["1614265330.0", "abc", " 1614265330", "-1614265330", "1e9"])
def test_timestamp_that_is_not_an_integer_fails(timestamp: str) -> None:
    headers = reference_headers(timestamp=timestamp)

    assert not reference_verifier().verify(headers, REFERENCE_BODY, now=REFERENCE_TIMESTAMP)


def test_absurdly_long_timestamp_fails_without_error() -> None:
    headers = reference_headers(timestamp="9" * 5000)

    assert not reference_verifier().verify(headers, REFERENCE_BODY, now=REFERENCE_TIMESTAMP)


@pytest.mark.parametrize("header", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_header_fails(header: str) -> None:
    headers = reference_headers()
    del headers[header]

    assert not reference_verifier().verify(headers, REFERENCE_BODY, now=REFERENCE_TIMESTAMP)


@pytest.mark.parametrize("header", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_empty_header_fails(header: str) -> None:
    headers = {**reference_headers(), header: ""}

    assert not reference_verifier().verify(headers, REFERENCE_BODY, now=REFERENCE_TIMESTAMP)


def test_one_valid_signature_among_several_passes() -> None:
    decoy = sign(OTHER_SECRET, REFERENCE_ID, REFERENCE_TIMESTAMP, REFERENCE_BODY)
    header = f"v1,bm90IGEgc2lnbmF0dXJl {decoy} {REFERENCE_SIGNATURE} v1,"

    assert reference_verifier().verify(
        reference_headers(signature=header), REFERENCE_BODY, now=REFERENCE_TIMESTAMP
    )


def test_only_invalid_signatures_fail() -> None:
    decoy = sign(OTHER_SECRET, REFERENCE_ID, REFERENCE_TIMESTAMP, REFERENCE_BODY)
    header = f"v1,bm90IGEgc2lnbmF0dXJl {decoy}"

    assert not reference_verifier().verify(
        reference_headers(signature=header), REFERENCE_BODY, now=REFERENCE_TIMESTAMP
    )


def test_entries_of_other_versions_are_ignored() -> None:
    digest_only = REFERENCE_SIGNATURE.removeprefix("v1,")
    header = f"v1a,c29tZSBhc3ltbWV0cmljIHNpZ25hdHVyZQ== v2,{digest_only} {REFERENCE_SIGNATURE}"

    assert reference_verifier().verify(
        reference_headers(signature=header), REFERENCE_BODY, now=REFERENCE_TIMESTAMP
    )


def test_correct_digest_under_another_version_fails() -> None:
    header = REFERENCE_SIGNATURE.replace("v1,", "v1a,")

    assert not reference_verifier().verify(
        reference_headers(signature=header), REFERENCE_BODY, now=REFERENCE_TIMESTAMP
    )


def test_non_ascii_signature_fails_without_error() -> None:
    headers = reference_headers(signature="v1,sïgnätürë")

    assert not reference_verifier().verify(headers, REFERENCE_BODY, now=REFERENCE_TIMESTAMP)


@pytest.mark.parametrize("accepted_secret", [REFERENCE_SECRET, OTHER_SECRET])
def test_rotation_accepts_deliveries_signed_with_either_secret(accepted_secret: str) -> None:
    verifier = SignatureVerifier([REFERENCE_SECRET, OTHER_SECRET])
    signature = sign(accepted_secret, REFERENCE_ID, REFERENCE_TIMESTAMP, REFERENCE_BODY)

    assert verifier.verify(
        reference_headers(signature=signature), REFERENCE_BODY, now=REFERENCE_TIMESTAMP
    )


def test_rotation_still_rejects_a_secret_outside_the_set() -> None:
    verifier = SignatureVerifier([OTHER_SECRET, "whsec_" + base64.b64encode(b"third").decode()])

    assert not verifier.verify(reference_headers(), REFERENCE_BODY, now=REFERENCE_TIMESTAMP)


@pytest.mark.parametrize(
    "header_names",
    [
        ("webhook-id", "webhook-timestamp", "webhook-signature"),
        ("Webhook-Id", "Webhook-Timestamp", "Webhook-Signature"),
        ("WEBHOOK-ID", "WEBHOOK-TIMESTAMP", "WEBHOOK-SIGNATURE"),
        ("wEbHoOk-iD", "webhook-TIMESTAMP", "Webhook-signature"),
    ],
)
def test_header_names_match_in_any_case(header_names: tuple[str, str, str]) -> None:
    id_name, timestamp_name, signature_name = header_names
    headers = {
        id_name: REFERENCE_ID,
        timestamp_name: str(REFERENCE_TIMESTAMP),
        signature_name: REFERENCE_SIGNATURE,
    }

    assert reference_verifier().verify(headers, REFERENCE_BODY, now=REFERENCE_TIMESTAMP)


def test_aiohttp_request_headers_are_accepted() -> None:
    request_headers = CIMultiDictProxy(
        CIMultiDict(
            [
                ("Webhook-Id", REFERENCE_ID),
                ("Webhook-Timestamp", str(REFERENCE_TIMESTAMP)),
                ("Webhook-Signature", REFERENCE_SIGNATURE),
                ("Content-Type", "application/json"),
            ]
        )
    )

    assert reference_verifier().verify(request_headers, REFERENCE_BODY, now=REFERENCE_TIMESTAMP)


@pytest.mark.parametrize(
    "malformed_secret",
    [
        "whsec_not base64!",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS",
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw%%",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLäSw",
    ],
)
def test_malformed_secret_is_rejected_without_revealing_it(malformed_secret: str) -> None:
    with pytest.raises(InvalidSigningSecret) as raised:
        SignatureVerifier([REFERENCE_SECRET, malformed_secret])

    message = str(raised.value)
    assert malformed_secret not in message
    assert malformed_secret.removeprefix("whsec_") not in message
    assert "2 of 2" in message
    # The decoder's own error must not travel along as the cause or displayed context.
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__


@pytest.mark.parametrize("empty_secret", ["", "whsec_"])
def test_empty_secret_is_rejected(empty_secret: str) -> None:
    with pytest.raises(InvalidSigningSecret, match="empty"):
        SignatureVerifier([empty_secret])


def test_verifier_without_secrets_is_rejected() -> None:
    with pytest.raises(InvalidSigningSecret):
        SignatureVerifier([])


def test_invalid_signing_secret_is_a_value_error() -> None:
    assert issubclass(InvalidSigningSecret, ValueError)


def test_sign_rejects_a_malformed_secret() -> None:
    with pytest.raises(InvalidSigningSecret):
        sign("whsec_not base64!", REFERENCE_ID, REFERENCE_TIMESTAMP, REFERENCE_BODY)


@pytest.mark.parametrize(
    "setting",
    [
        f"{OTHER_SECRET} {REFERENCE_SECRET}",
        f"{OTHER_SECRET},{REFERENCE_SECRET}",
        f"  {OTHER_SECRET} ,\t{REFERENCE_SECRET},\n",
        f"{REFERENCE_SECRET}",
    ],
)
def test_from_setting_splits_on_spaces_and_commas(setting: str) -> None:
    verifier = SignatureVerifier.from_setting(setting)

    assert verifier.verify(reference_headers(), REFERENCE_BODY, now=REFERENCE_TIMESTAMP)


def test_from_setting_accepts_every_listed_secret() -> None:
    verifier = SignatureVerifier.from_setting(f"{REFERENCE_SECRET}, {OTHER_SECRET}")
    signature = sign(OTHER_SECRET, REFERENCE_ID, REFERENCE_TIMESTAMP, REFERENCE_BODY)

    assert verifier.verify(
        reference_headers(signature=signature), REFERENCE_BODY, now=REFERENCE_TIMESTAMP
    )


@pytest.mark.parametrize("setting", ["", "   ", " , ,"])
def test_from_setting_without_secrets_is_rejected(setting: str) -> None:
    with pytest.raises(InvalidSigningSecret):
        SignatureVerifier.from_setting(setting)


def test_from_setting_with_a_malformed_secret_is_rejected() -> None:
    with pytest.raises(InvalidSigningSecret):
        SignatureVerifier.from_setting(f"{REFERENCE_SECRET} whsec_%%%")


@given(
    key=st.binary(min_size=1, max_size=64),
    webhook_id=st.text(min_size=1),
    timestamp=st.integers(min_value=0, max_value=2**40),
    body=st.binary(),
)
def test_signed_deliveries_verify_and_altered_bodies_do_not(
    key: bytes, webhook_id: str, timestamp: int, body: bytes
) -> None:
    secret = "whsec_" + base64.b64encode(key).decode()
    verifier = SignatureVerifier([secret])
    headers = {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, webhook_id, timestamp, body),
    }

    assert verifier.verify(headers, body, now=timestamp)
    assert not verifier.verify(headers, body + b"\x00", now=timestamp)
