"""The two shopper clients (storefront.Storefront, validation.client.Shopper, built on it)
against a real local HTTP server: what each sends, how long and how often each waits out a 429, and
what each raises."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from storefront import Storefront, UploadRefused
from validation.client import Refused, Shopper


class Server:
    """Answers POST /grant, PUT /put and POST /status from `answers` (path -> (code, headers, body))
    and keeps every request it got: (method, path, headers)."""

    def __init__(self):
        self.answers: dict[str, tuple[int, dict, dict]] = {}
        self.seen: list[tuple[str, str, dict]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                path = self.path.split("?")[0]
                server.seen.append((self.command, path, dict(self.headers)))
                code, headers, body = server.answers[path]
                data = json.dumps(body).encode()
                self.send_response(code)
                for name, value in {**headers, "Content-Length": str(len(data))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _answer

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def granting(self):
        self.answers["/grant"] = (201, {}, {"job_id": "j1", "session_id": "s1", "upload_url": self.url + "/put",
                                            "headers": {"Content-Type": "image/jpeg"}})
        self.answers["/put"] = (200, {}, {})
        self.answers["/status"] = (200, {}, {"state": "done"})


@pytest.fixture
def server():
    running = Server()
    yield running
    running.httpd.shutdown()


def clients(server):
    return {"storefront": Storefront(server.url + "/grant", server.url + "/status"),
            "shopper": Shopper(server.url + "/grant", server.url + "/status", forwarded_for="198.51.100.7")}


def test_both_upload_and_follow_a_job_and_send_the_session_back(server):
    server.granting()
    for name, client in clients(server).items():
        server.seen.clear()
        assert client.upload(b"jpeg", "image/jpeg") == "j1" and client.session_id == "s1"
        assert client.follow("j1", timeout=5)["state"] == "done"
        # Status is POSTed, as the widget does: no job id in a URL.
        assert [(m, p) for m, p, _ in server.seen] == [("POST", "/grant"), ("PUT", "/put"), ("POST", "/status")]
        forwarded = [h.get("X-Forwarded-For") for _, _, h in server.seen]
        # Only the validation shopper claims an address, and never on the PUT to Cloud Storage.
        assert forwarded == (["198.51.100.7", None, "198.51.100.7"] if name == "shopper" else [None] * 3), name


@pytest.mark.parametrize(("name", "calls", "longest_wait"), [("storefront", 5, 10.0), ("shopper", 6, 15.0)])
def test_a_429_is_waited_out_so_often_and_so_long(server, monkeypatch, name, calls, longest_wait):
    server.answers["/grant"] = (429, {"Retry-After": "100"}, {"error": "rate_limited"})
    waits = []
    monkeypatch.setattr(time, "sleep", waits.append)
    client = clients(server)[name]
    with pytest.raises(UploadRefused if name == "storefront" else Refused) as refused:
        client.upload(b"jpeg", "image/jpeg")
    assert refused.value.status == 429
    assert len(server.seen) == calls and waits == [longest_wait] * calls
    # The job's status is asked as politely.
    server.answers["/status"] = (429, {"Retry-After": "100"}, {"error": "rate_limited"})
    server.seen.clear(), waits.clear()
    with pytest.raises(requests.HTTPError):
        client.status("j1")
    assert len(server.seen) == calls and waits == [longest_wait] * calls


def test_each_raises_its_own_error_for_a_refusal_and_a_failed_put(server):
    server.answers["/grant"] = (400, {}, {"error": "too_big"})
    storefront, shopper = clients(server).values()
    with pytest.raises(UploadRefused) as refused:
        storefront.upload(b"jpeg", "image/jpeg")
    assert (refused.value.status, refused.value.reason) == (400, "too_big")
    with pytest.raises(Refused) as body:
        shopper.upload(b"jpeg", "image/jpeg")
    assert body.value.status == 400 and "too_big" in str(body.value)
    server.granting()
    server.answers["/put"] = (500, {}, {})
    with pytest.raises(requests.HTTPError):
        storefront.upload(b"jpeg", "image/jpeg")
    with pytest.raises(Refused) as failed:
        shopper.upload(b"jpeg", "image/jpeg")
    assert failed.value.status == 500
