"""No log line carries a secret: the Slack webhook's URL when a post fails (refused connection,
timeout, HTTP 403, each against a real local socket), the rollback password on forged calls, and
whatever else adapters/logs.py was told to redact, stack traces included."""

from __future__ import annotations

import base64
import io
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from adapters import logs
from adapters.notify import SlackWebhook
from processes import free_port

SECRET_PATH = "T0SECRET1/B0SECRET2/XOXBsecretTOKENabcdef123456"


@pytest.fixture
def lines():
    """Every record, as the deployed JSON formatter writes it, with the secrets a deploy would register."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    yield out
    root.removeHandler(handler)


def assert_no_part_of_the_secret(text: str):
    for part in (SECRET_PATH, *SECRET_PATH.split("/")):
        assert part not in text, f"{part!r} reached a log line"


class Forbidden(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(403)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_failed_slack_post_logs_its_kind_and_never_the_webhook_url(lines):
    refused = f"http://127.0.0.1:{free_port()}/services/{SECRET_PATH}"  # nothing listens there
    silent = socket.socket()  # accepts, never answers: a timeout
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Forbidden)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        urls = {"ConnectionError": refused,
                "ReadTimeout": f"http://127.0.0.1:{silent.getsockname()[1]}/services/{SECRET_PATH}",
                "HTTPError": f"http://127.0.0.1:{server.server_port}/services/{SECRET_PATH}"}
        for url in urls.values():
            logs.redact(url)  # what logs.setup does with settings.secrets at start-up
        for kind, url in urls.items():
            assert SlackWebhook(url, timeout=0.5).announce("rolled back") is False
            assert f'"error": "{kind}"' in lines.getvalue(), lines.getvalue()[-500:]
        assert '"status": 403' in lines.getvalue()
    finally:
        server.shutdown()
        silent.close()
    assert_no_part_of_the_secret(lines.getvalue())


def test_the_formatter_scrubs_a_registered_secret_from_messages_fields_and_stack_traces(lines):
    url = f"https://hooks.slack.com/services/{SECRET_PATH}"
    logs.redact(url)
    logger = logging.getLogger("anywhere")
    logs.log(logger, logging.ERROR, f"posting to {url}", url=url, nested={"detail": [SECRET_PATH.split('/')[2]]})
    try:
        raise RuntimeError(f"Max retries exceeded with url: /services/{SECRET_PATH}")
    except RuntimeError:
        logger.exception("failed")
    text = lines.getvalue()
    assert_no_part_of_the_secret(text)
    assert text.count(logs.REDACTED) >= 4


def test_forged_rollback_calls_never_log_the_password(request):
    from settings import Settings
    from tests.fakes_web import FakeAdapters, function_client

    password = "rollback-" + "p" * 40
    settings = Settings(rollback_webhook_user="cloud-monitoring", rollback_webhook_password=password)
    logs.redact(*settings.secrets)
    client = function_client("rollback", FakeAdapters(settings=settings))
    client.main_module.get_settings = lambda: settings
    lines = request.getfixturevalue("lines")  # after main.py's logs.setup, which replaces the root's handlers
    wrong = base64.b64encode(f"cloud-monitoring:{password[:-1]}x".encode()).decode()
    answers = [client.post(f"/?auth_token={password}", json={}).status_code,
               client.post("/", json={}, headers={"Authorization": f"Basic {wrong}"}).status_code,
               client.post("/", json={}, headers={"Authorization": f"Bearer {password}"}).status_code]
    assert answers == [401, 403, 403]
    assert password not in lines.getvalue() and "rollback webhook refused" in lines.getvalue()


def test_a_rollback_password_rotation_accepts_both_until_the_old_one_is_removed():
    from functions.rollback import authenticate
    from settings import Settings

    old, new = "old-" + "o" * 40, "new-" + "n" * 40

    def basic(password):
        return {"Authorization": "Basic " + base64.b64encode(f"cloud-monitoring:{password}".encode()).decode()}

    rotating = Settings(rollback_webhook_user="cloud-monitoring", rollback_webhook_password=new,
                        rollback_webhook_password_previous=old)
    assert [authenticate(basic(p), {}, rotating) for p in (new, old, "guess")] == [None, None, 403]
    done = Settings(rollback_webhook_user="cloud-monitoring", rollback_webhook_password=new)
    assert [authenticate(basic(p), {}, done) for p in (new, old)] == [None, 403]
