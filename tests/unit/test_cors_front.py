"""The local bucket front: CORS as the bucket declares it, signatures checked,
upstream CORS headers dropped (fake-gcs-server answers `*` to everyone)."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from local_stack import cors_front
from processes import free_port

STORE = "http://127.0.0.1:8000"
RULES = {"pet-uploads": [{"origin": [STORE], "method": ["PUT", "GET"],
                          "responseHeader": ["Content-Type", "x-goog-content-length-range"], "maxAgeSeconds": 3600}]}


class Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list = []

    def log_message(self, *args):
        pass

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        Upstream.seen.append((self.command, self.path, self.headers.get("Host"), self.rfile.read(length)))
        self.send_response(200)
        self.send_header("Access-Control-Allow-Origin", "*")  # what fake-gcs-server does
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    do_GET = do_PUT = do_OPTIONS = _answer


@pytest.fixture(scope="module")
def front():
    upstream = ThreadingHTTPServer(("127.0.0.1", free_port()), Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    port = free_port()
    server = cors_front.serve(port, f"http://127.0.0.1:{upstream.server_port}", RULES)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{port}", upstream.server_port
    server.shutdown()
    upstream.shutdown()


def preflight(base, origin, method="PUT", headers="content-type,x-goog-content-length-range", bucket="pet-uploads"):
    return requests.options(f"{base}/{bucket}/uploads/x", headers={
        "Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": headers})


def test_the_store_origin_passes_the_preflight(front):
    answer = preflight(front[0], STORE)
    assert answer.status_code == 200
    assert answer.headers["Access-Control-Allow-Origin"] == STORE
    assert answer.headers["Access-Control-Allow-Methods"] == "PUT"
    assert answer.headers["Access-Control-Max-Age"] == "3600"


@pytest.mark.parametrize("origin, method, headers, bucket", [
    ("http://evil.test", "PUT", "content-type", "pet-uploads"),      # another origin
    (STORE, "DELETE", "content-type", "pet-uploads"),                # a method not declared
    (STORE, "PUT", "content-type,x-evil", "pet-uploads"),            # a header not declared
    (STORE, "PUT", "content-type", "pet-results"),                   # a bucket without CORS
])
def test_anything_else_gets_no_cors_headers(front, origin, method, headers, bucket):
    answer = preflight(front[0], origin, method, headers, bucket)
    assert answer.status_code == 403
    assert not [h for h in answer.headers if h.lower().startswith("access-control-")]


def test_requests_pass_through_with_our_cors_headers_not_the_emulators(front):
    base, upstream_port = front
    ours = requests.put(f"{base}/pet-uploads/uploads/x?a=1", data=b"abc", headers={"Origin": STORE})
    assert ours.status_code == 200 and ours.headers["Access-Control-Allow-Origin"] == STORE
    assert Upstream.seen[-1] == ("PUT", "/pet-uploads/uploads/x?a=1", f"127.0.0.1:{upstream_port}", b"abc")
    foreign = requests.put(f"{base}/pet-uploads/uploads/x", data=b"abc", headers={"Origin": "http://evil.test"})
    assert "Access-Control-Allow-Origin" not in foreign.headers  # the emulator's `*` is dropped


def test_with_a_key_unsigned_requests_and_listings_are_refused(tmp_path):
    from local_stack.stack import write_signing_key

    key = tmp_path / "key.json"
    write_signing_key(key, "demo-proj")
    port = free_port()
    server = cors_front.serve(port, "http://127.0.0.1:9", RULES, str(key))  # upstream never reached
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        for path in ("/pet-uploads", "/pet-uploads/uploads/x", "/storage/v1/b/pet-uploads/o"):
            answer = requests.get(f"http://127.0.0.1:{port}{path}")
            assert answer.status_code == 403 and b"not a V4 signed URL" in answer.content
    finally:
        server.shutdown()
