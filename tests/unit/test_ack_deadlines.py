"""Every push subscription waits for its handler at least as long as the handler may run.

For push delivery, Pub/Sub uses the ack deadline as the HTTP request timeout
(https://cloud.google.com/pubsub/docs/reference/rest/v1/projects.subscriptions):
a handler allowed to run longer is redelivered, and runs twice in parallel.
"""

from __future__ import annotations

import re
from pathlib import Path

import topology
from deploy import functions as deploy_functions
from deploy import placeholders

ROOT = Path(__file__).resolve().parents[2]
MAX_ACK_DEADLINE = 600  # Pub/Sub's maximum (same page)


def _seconds(duration: str) -> int:
    match = re.fullmatch(r"(\d+)s", duration)
    assert match, f"timeout {duration!r} is not in seconds"
    return int(match.group(1))


def test_every_ack_deadline_covers_its_handlers_timeout():
    topo = topology.load(env={"GOOGLE_CLOUD_PROJECT": "acme"})
    function_timeouts = {d.target: _seconds(d.timeout) for d in deploy_functions.plan(topo, "acme")}
    service = placeholders.fill(ROOT / "deploy" / "service.yaml", {"GOOGLE_CLOUD_PROJECT": "acme"})
    service_timeouts = {"gpu": int(service["spec"]["template"]["spec"]["timeoutSeconds"])}
    assert topo["services"]["gpu"]["name"] == service["metadata"]["name"]

    wrong = []
    for sub in topo["subscriptions"]:
        push = sub["push"]
        timeout = function_timeouts[push["function"]] if "function" in push else service_timeouts[push["service"]]
        deadline = int(sub["ack_deadline_seconds"])
        if not timeout <= deadline <= MAX_ACK_DEADLINE:
            wrong.append(f"{sub['name']}: ack deadline {deadline}s, handler timeout {timeout}s")
    assert wrong == []
    # Terraform makes the subscriptions from the same declaration, not its own numbers.
    pubsub_tf = (ROOT / "infra" / "pubsub.tf").read_text()
    assert re.search(r"^\s*ack_deadline_seconds\s*=\s*each\.value\.ack_deadline_seconds\s*$", pubsub_tf, re.M)
    assert len(re.findall(r"ack_deadline_seconds\s*=", pubsub_tf)) == 1
