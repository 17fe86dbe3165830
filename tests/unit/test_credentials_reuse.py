"""Credentials built once and refreshed only when expired, counted at the HTTP layer.

The production signing path (no key file: IAM signBlob with the runtime's token) and
the ID-token caller run unchanged in a child process whose metadata server and
iamcredentials.googleapis.com are local fakes (local_stack/identity_fake.py): a child,
because google-auth reads GCE_METADATA_HOST when it is first imported.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from local_stack.gcs_signature import verify
from local_stack.identity_fake import SERVICE_HOST, IdentityFake

ROOT = Path(__file__).resolve().parents[2]
# google-auth counts a token as expired 3 min 45 s before its end: 227 s lasts 2 s.
SHORT_LIFETIME_S = 225 + 2

SIGN = """
import json, sys, time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from adapters.blobs import GcsBlobs
from bootstrap import _signing_credentials
from settings import Settings

n, pause = int(sys.argv[1]), float(sys.argv[2])
client = storage.Client(project="demo-proj", credentials=AnonymousCredentials(),
                        client_options={"api_endpoint": "https://storage.googleapis.com"})
blobs = GcsBlobs(client, _signing_credentials(Settings(signing_key_file="")))
put = lambda i: blobs.signed_put_url("pet-uploads", f"uploads/{i}", "image/jpeg", 1000, timedelta(minutes=5))
with ThreadPoolExecutor(8) as pool:  # many threads at a cold start: still one token
    first = list(pool.map(put, range(n)))
time.sleep(pause)
later = [blobs.signed_get_url("pet-results", f"results/{i}.png", timedelta(minutes=5)) for i in range(n)]
print(json.dumps({"put": first, "get": later}))
"""

CALL = """
import json, sys, time
from adapters.notify import HttpCaller

n, pause = int(sys.argv[1]), float(sys.argv[2])
caller = HttpCaller()
seen = [json.loads(caller.call("GET", "https://%s/ready" % sys.argv[3])[1])["authorization"] for _ in range(n)]
time.sleep(pause)
seen += [json.loads(caller.call("GET", "https://%s/ready" % sys.argv[3])[1])["authorization"] for _ in range(n)]
print(json.dumps(seen))
"""


def run_child(code: str, fake: IdentityFake, *args) -> object:
    env = {**os.environ, **fake.env(), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code, *map(str, args)], check=False, env=env, capture_output=True,
                          text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_one_token_signs_many_urls_on_one_connection():
    with IdentityFake() as fake:
        urls = run_child(SIGN, fake, 12, 0)
    assert fake.counts["signBlob"] == 24 and fake.counts["refused"] == 0
    assert fake.counts["token"] == 1, dict(fake.counts)
    # signBlob connections are kept alive: at most one per thread that signed at once, not one per URL.
    assert fake.counts["connect"] <= 8, dict(fake.counts)
    assert fake.counts["metadata"] <= 5, dict(fake.counts)  # ping, project, account, token, universe: once
    url, headers = urls["put"][0]
    signed = verify("PUT", url, headers, fake.signing_key.public_key())  # IAM's signature, as GCS checks it
    assert set(signed) == {"host", "content-type", "x-goog-content-length-range"}
    assert f"X-Goog-Credential={fake.email.replace('@', '%40')}" in url


def test_an_expired_token_is_refreshed_once():
    with IdentityFake(token_lifetime_s=SHORT_LIFETIME_S) as fake:
        run_child(SIGN, fake, 6, SHORT_LIFETIME_S - 225 + 0.5)
    assert fake.counts["signBlob"] == 12
    assert fake.counts["token"] == 2, dict(fake.counts)


@pytest.mark.parametrize("pause, tokens", [(0, 1), (SHORT_LIFETIME_S - 225 + 0.5, 2)])
def test_id_tokens_are_fetched_once_per_lifetime(pause, tokens):
    with IdentityFake(token_lifetime_s=SHORT_LIFETIME_S) as fake:
        sent = run_child(CALL, fake, 5, pause, SERVICE_HOST)
    assert fake.counts["service"] == 10
    assert fake.counts["identity"] == tokens, dict(fake.counts)
    assert len(set(sent)) == tokens and all(s.startswith("Bearer ey") for s in sent)
