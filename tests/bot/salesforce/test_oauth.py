import base64
import hashlib
import hmac

from bot.redaction import Secret
from bot.salesforce.oauth import new_code_verifier, new_state, verify_signature

SECRET = Secret("client-secret-for-signature-tests")
IDENTITY = "https://login.salesforce.com/id/00Dxx0000000001AAA/005xx0000000001AAA"
ISSUED = "1700000000000"


def sign(secret: str, message: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()).decode()


def test_a_genuine_signature_verifies():
    assert verify_signature(client_secret=SECRET, identity_url=IDENTITY, issued_at=ISSUED,
                            signature=sign(SECRET.reveal(), IDENTITY + ISSUED))


def test_signatures_over_other_values_or_keys_fail():
    assert not verify_signature(client_secret=SECRET, identity_url=IDENTITY, issued_at="1700000000001",
                                signature=sign(SECRET.reveal(), IDENTITY + ISSUED))
    assert not verify_signature(client_secret=SECRET, identity_url=IDENTITY, issued_at=ISSUED,
                                signature=sign("another-secret", IDENTITY + ISSUED))
    assert not verify_signature(client_secret=SECRET, identity_url=IDENTITY, issued_at=ISSUED, signature="%%%")


def test_state_and_verifier_are_long_and_fresh():
    states = {new_state().reveal() for _ in range(100)}
    assert len(states) == 100 and min(len(state) for state in states) >= 43  # 256 bits
    verifier = new_code_verifier().reveal()
    assert 43 <= len(verifier) <= 128 and set(verifier) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
