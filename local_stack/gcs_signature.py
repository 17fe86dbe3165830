"""Check a V4 signed URL the way Cloud Storage does (GOOG4-RSA-SHA256).

fake-gcs-server accepts any signature, so the local CORS front checks them with
this, and unit tests use it to show what a signed upload URL binds: the method,
the object path, the expiry, and every signed header (Content-Type and
x-goog-content-length-range for our uploads). Written from the published V4
signing process, not from the client library, so the two check each other.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, quote, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding


class SignatureRejected(Exception):
    """Why Cloud Storage would refuse the request (403 or 400)."""


def _encode(value: str) -> str:
    return quote(value, safe="-_.~")


def canonical_request(method: str, path: str, query: list[tuple[str, str]], headers: dict[str, str],
                      signed_headers: list[str]) -> str:
    lowered = {k.lower(): " ".join(str(v).split()) for k, v in headers.items()}
    missing = [h for h in signed_headers if h not in lowered]
    if missing:
        raise SignatureRejected(f"signed headers missing from the request: {', '.join(missing)}")
    canonical_query = "&".join(f"{_encode(k)}={_encode(v)}" for k, v in sorted(query) if k != "X-Goog-Signature")
    canonical_headers = "".join(f"{h}:{lowered[h]}\n" for h in signed_headers)
    return "\n".join([method, path, canonical_query, canonical_headers, ";".join(signed_headers), "UNSIGNED-PAYLOAD"])


def verify(method: str, url: str, headers: dict[str, str], public_key, now: datetime | None = None) -> dict[str, str]:
    """Raise SignatureRejected unless `url` was signed for exactly this request.
    Returns the request's signed headers (lowercased), e.g. the length range to enforce."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    params = dict(query)
    try:
        signature = bytes.fromhex(params["X-Goog-Signature"])
        algorithm, credential = params["X-Goog-Algorithm"], params["X-Goog-Credential"]
        stamp, expires = params["X-Goog-Date"], int(params["X-Goog-Expires"])
        signed_headers = params["X-Goog-SignedHeaders"].split(";")
        signed_at = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    except (KeyError, ValueError) as exc:
        raise SignatureRejected(f"not a V4 signed URL: {exc}") from exc
    if algorithm != "GOOG4-RSA-SHA256":
        raise SignatureRejected(f"unsupported algorithm {algorithm}")
    if (now or datetime.now(timezone.utc)) > signed_at + timedelta(seconds=expires):
        raise SignatureRejected("expired")
    request_headers = {"host": parts.netloc, **{k.lower(): v for k, v in headers.items()}}
    canonical = canonical_request(method, parts.path, query, request_headers, signed_headers)
    scope = credential.split("/", 1)[1] if "/" in credential else ""
    to_sign = "\n".join(["GOOG4-RSA-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    try:
        public_key.verify(signature, to_sign.encode(), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature as exc:
        raise SignatureRejected("SignatureDoesNotMatch") from exc
    return {h: " ".join(str(request_headers[h]).split()) for h in signed_headers}


def check_length(signed: dict[str, str], length: int) -> None:
    """Cloud Storage refuses a body outside a signed x-goog-content-length-range."""
    if (span := signed.get("x-goog-content-length-range")) is None:
        return
    low, high = (int(x) for x in span.split(","))
    if not low <= length <= high:
        raise SignatureRejected(f"EntityTooLarge: {length} bytes is outside {low}-{high}")


def public_key_from_service_account_file(path: str):
    import json

    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    info = json.loads(open(path).read())
    return load_pem_private_key(info["private_key"].encode(), password=None).public_key()
