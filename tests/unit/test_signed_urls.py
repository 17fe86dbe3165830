"""What a V4 signed upload URL binds, proved by verifying signatures the way
Cloud Storage does (fake-gcs-server checks none): the object, the method, the
content type, the size range and the expiry."""

from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from google.oauth2 import service_account

from adapters.blobs import GcsBlobs
from events.schemas import UploadUrlRequest
from functions import upload_url
from local_stack.gcs_signature import SignatureRejected, check_length, verify
from settings import Settings
from tests.fakes_web import MemoryJobs


@pytest.fixture(scope="module")
def key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def blobs(key):
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    signer = service_account.Credentials.from_service_account_info({
        "type": "service_account", "project_id": "demo-proj", "private_key_id": "k", "private_key": pem,
        "client_email": "signer@demo-proj.iam.gserviceaccount.com", "client_id": "0",
        "token_uri": "https://oauth2.googleapis.com/token"})
    client = storage.Client(project="demo-proj", credentials=AnonymousCredentials(),
                            client_options={"api_endpoint": "https://storage.googleapis.com"})
    return GcsBlobs(client, signer)


@pytest.fixture(scope="module")
def grant(blobs):
    """An upload grant exactly as the upload-URL function makes it."""
    jobs = MemoryJobs()
    response = upload_url.handle(UploadUrlRequest(content_type="image/jpeg", size=2_000_000), jobs=jobs,
                                 blobs=blobs, settings=Settings())
    return response


def test_the_grant_verifies_for_exactly_its_own_request(grant, key):
    signed = verify("PUT", grant.upload_url, grant.headers, key.public_key())
    assert set(signed) == {"host", "content-type", "x-goog-content-length-range"}
    assert urlsplit(grant.upload_url).path == f"/pet-uploads/uploads/{grant.job_id}"


@pytest.mark.parametrize("change", [
    {"Content-Type": "image/png"},
    {"Content-Type": "text/html"},
    {"x-goog-content-length-range": "0,999999999999"},
])
def test_another_content_type_or_size_range_breaks_the_signature(grant, key, change):
    with pytest.raises(SignatureRejected, match="SignatureDoesNotMatch"):
        verify("PUT", grant.upload_url, {**grant.headers, **change}, key.public_key())


def test_leaving_a_signed_header_out_is_refused(grant, key):
    headers = {"Content-Type": grant.headers["Content-Type"]}
    with pytest.raises(SignatureRejected, match="x-goog-content-length-range"):
        verify("PUT", grant.upload_url, headers, key.public_key())


def test_the_url_cannot_name_another_object_or_bucket(grant, key):
    for other in (f"uploads/{'0' * 32}", "results/anything.png"):
        url = grant.upload_url.replace(f"uploads/{grant.job_id}", other)
        with pytest.raises(SignatureRejected, match="SignatureDoesNotMatch"):
            verify("PUT", url, grant.headers, key.public_key())
    with pytest.raises(SignatureRejected, match="SignatureDoesNotMatch"):
        verify("PUT", grant.upload_url.replace("/pet-uploads/", "/pet-results/"), grant.headers, key.public_key())


def test_the_method_and_the_expiry_are_bound(grant, key):
    with pytest.raises(SignatureRejected, match="SignatureDoesNotMatch"):
        verify("GET", grant.upload_url, grant.headers, key.public_key())
    query = parse_qs(urlsplit(grant.upload_url).query)
    assert query["X-Goog-Expires"] == ["900"]  # 15 minutes
    later = datetime.now(timezone.utc) + timedelta(minutes=16)
    with pytest.raises(SignatureRejected, match="expired"):
        verify("PUT", grant.upload_url, grant.headers, key.public_key(), now=later)


def test_a_forged_expiry_breaks_the_signature(grant, key):
    url = grant.upload_url.replace("X-Goog-Expires=900", "X-Goog-Expires=604800")
    with pytest.raises(SignatureRejected, match="SignatureDoesNotMatch"):
        verify("PUT", url, grant.headers, key.public_key())


def test_the_size_range_is_the_declared_size_so_a_bigger_file_is_refused(grant, key):
    signed = verify("PUT", grant.upload_url, grant.headers, key.public_key())
    assert signed["x-goog-content-length-range"] == "0,2000000"
    check_length(signed, 2_000_000)
    with pytest.raises(SignatureRejected, match="EntityTooLarge"):
        check_length(signed, 2_000_001)


def test_another_key_cannot_have_signed_it(grant):
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(SignatureRejected, match="SignatureDoesNotMatch"):
        verify("PUT", grant.upload_url, grant.headers, stranger.public_key())


def test_job_ids_are_unguessable():
    ids = {upload_url.new_job_id() for _ in range(2000)}
    assert len(ids) == 2000 and all(len(i) == 32 for i in ids)
    assert len({i[:8] for i in ids}) == 2000  # no shared prefix or counter
