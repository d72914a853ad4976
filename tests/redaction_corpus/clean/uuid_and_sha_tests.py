import base64
import hashlib
import hmac
import uuid

import pytest

from shop.orders import Order, parse_order_id
from shop.webhooks import verify_signature

ORDER_ID = uuid.UUID("3fa85f64-5717-4562-b3fc-2c963f66afa6")
REQUEST_IDS = ["0b9e6c2e-4f7a-4d0b-9d6a-8f1e2c3b4a5d", "c56a4180-65aa-42ec-a945-5fd21dec0538"]
RELEASE_COMMIT = "9fceb02d0ae598e95dc970b74767f19372d61af8"
PARENT_SHA = "e83c5163316f89bfbde7d9ab23ca2e25604af290"
SHORT_SHA = "e83c516"

# 1x1 transparent PNG and a small gzip stream, used by the upload tests.
PNG_PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
GZIP_HELLO = base64.b64decode("H4sIAAAAAAAAA8tIzcnJBwCGphA2BQAAAA==")
FIXTURE_DIGEST = "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"

WEBHOOK_BODY = b'{"type":"order.paid","id":"evt_1"}'
WEBHOOK_KEY = b"test-webhook-key"


def test_order_ids_round_trip():
    assert parse_order_id(str(ORDER_ID)) == ORDER_ID
    for raw in REQUEST_IDS:
        assert uuid.UUID(raw).version == 4


def test_commit_is_recorded():
    order = Order(id=ORDER_ID, built_from=RELEASE_COMMIT)
    assert order.built_from.startswith(SHORT_SHA[:4]) is False
    assert len(PARENT_SHA) == 40


def test_digest_matches_fixture():
    assert hashlib.sha256(b"hello world").hexdigest() == FIXTURE_DIGEST


def test_png_fixture_decodes():
    assert base64.b64decode(PNG_PIXEL).startswith(b"\x89PNG")


@pytest.mark.parametrize("tamper", [False, True])
def test_webhook_signature(tamper):
    signature = hmac.new(WEBHOOK_KEY, WEBHOOK_BODY, hashlib.sha256).hexdigest()
    body = WEBHOOK_BODY + (b" " if tamper else b"")
    assert verify_signature(body, signature, key=WEBHOOK_KEY) is not tamper
