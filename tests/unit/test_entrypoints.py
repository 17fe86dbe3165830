"""main.py targets through functions-framework: malformed events are acknowledged, never retried."""

import base64

import pytest
from functions_framework import create_app

MAIN = str(__import__("pathlib").Path(__file__).resolve().parents[2] / "main.py")


@pytest.fixture(autouse=True)
def unreachable_backends(monkeypatch):
    """Clients can be built but every call would fail: a malformed event must not need one."""
    from bootstrap import adapters

    for name in ("PUBSUB_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST"):
        monkeypatch.setenv(name, "127.0.0.1:9")
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:9")
    adapters.cache_clear()
    yield
    adapters.cache_clear()


def post_event(target: str, data) -> int:
    client = create_app(target, MAIN, "cloudevent").test_client()
    headers = {"ce-id": "1", "ce-source": "//pubsub.googleapis.com/", "ce-specversion": "1.0",
               "ce-type": "google.cloud.pubsub.topic.v1.messagePublished", "Content-Type": "application/json"}
    return client.post("/", json=data, headers=headers).status_code


@pytest.mark.parametrize("target", ["intake", "job_events", "dead_letter"])
@pytest.mark.parametrize("data", [{}, {"message": "not an object"}, {"message": {"data": "%%%not base64"}}])
def test_malformed_pubsub_events_are_acknowledged(target, data):
    assert post_event(target, data) == 200


def test_a_job_event_that_is_not_json_is_acknowledged():
    garbage = base64.b64encode(b"\x00\x01 not json").decode()
    assert post_event("job_events", {"message": {"data": garbage}}) == 200


def test_upload_url_answers_cors_only_for_the_store():
    client = create_app("upload_url", MAIN).test_client()
    allowed = client.options("/", headers={"Origin": "http://localhost:8000", "Access-Control-Request-Method": "POST"})
    assert allowed.status_code == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == "http://localhost:8000"
    refused = client.options("/", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert refused.status_code == 403 and "Access-Control-Allow-Origin" not in refused.headers
    assert client.post("/", data="{not json", headers={"Origin": "http://localhost:8000"},
                       content_type="application/json").status_code == 400


def test_the_functions_never_import_torch_or_the_models():
    import subprocess
    import sys

    code = "import main, sys; print(sorted(m for m in ('torch', 'onnxruntime', 'gpu_service') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=MAIN.rsplit("/", 1)[0])
    assert result.stdout.strip() == "[]", result.stderr
