"""What reaches the dead-letter topic is what topology.yaml routes there, and the handler knows each."""

import base64
import json

import topology
from events.schemas import PubSubMessage
from functions import dead_letter
from tests.fakes import FakeJobs, FakeLeases


def dead_lettering_subscriptions() -> list[str]:
    return [s["name"] for s in topology.load()["subscriptions"]
            if s.get("dead_letter", {}).get("topic") == "dead-letter"]


def test_the_docstring_names_every_subscription_that_dead_letters():
    sources = dead_lettering_subscriptions()
    assert {"intake", "segment", "job-events", "budget-guard"} <= set(sources)
    doc = " ".join(dead_letter.__doc__.split())  # the docstring's line breaks fall anywhere
    missing = [name for name in sources if f"({name} subscription)" not in doc]
    assert missing == [], f"functions/dead_letter.py's docstring does not say what happens to {missing}"


def test_a_dead_lettered_budget_notification_changes_no_job():
    jobs = FakeJobs()
    budget = {"budgetDisplayName": "gpu", "costAmount": 120.0, "budgetAmount": 100.0, "currencyCode": "USD"}
    message = PubSubMessage(data=base64.b64encode(json.dumps(budget).encode()).decode(), attributes={
        "CloudPubSubDeadLetterSourceSubscription": "projects/p/subscriptions/budget-guard",
        "CloudPubSubDeadLetterSourceDeliveryCount": "5", "billingAccountId": "0-0-0"})
    assert dead_letter.handle(message, jobs=jobs, leases=FakeLeases()) == "no_job"
