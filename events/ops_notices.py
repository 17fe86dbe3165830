"""Messages Google sends to the operations functions (lenient: Google adds fields)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from events.schemas import PubSubMessage, _Lenient


class BudgetNotification(_Lenient):
    """A Cloud Billing budget notification (Pub/Sub; schemaVersion 1.0).

    `alertThresholdExceeded` is present only once a configured threshold is crossed."""

    budget_display_name: str = Field(alias="budgetDisplayName")
    alert_threshold_exceeded: float | None = Field(default=None, alias="alertThresholdExceeded", ge=0)
    cost_amount: float = Field(alias="costAmount", ge=0)
    cost_interval_start: datetime = Field(alias="costIntervalStart")
    budget_amount: float = Field(alias="budgetAmount", gt=0)
    budget_amount_type: str = Field(alias="budgetAmountType")
    currency_code: str = Field(alias="currencyCode", min_length=3, max_length=3)
    billing_account_id: str = Field(alias="billingAccountId", min_length=1)
    budget_id: str = Field(alias="budgetId", min_length=1)
    schema_version: str = Field(alias="schemaVersion")
    message_id: str = ""

    @classmethod
    def from_message(cls, message: PubSubMessage) -> BudgetNotification:
        data = message.json_data()
        if not isinstance(data, dict):
            raise ValueError("budget notification data is not a JSON object")
        return cls.model_validate({**data, **message.attributes, "message_id": message.message_id})

    @property
    def fraction(self) -> float:
        """Spent share of the budget: the threshold Billing reports, or the ratio, whichever is higher."""
        return max(self.alert_threshold_exceeded or 0.0, self.cost_amount / self.budget_amount)


class IncidentResource(_Lenient):
    type: str = ""
    labels: dict[str, str] = Field(default_factory=dict)


class Incident(_Lenient):
    incident_id: str = Field(min_length=1, max_length=200)
    state: Literal["open", "closed"]
    policy_name: str = ""
    condition_name: str = ""
    resource: IncidentResource = Field(default_factory=IncidentResource)
    started_at: int | None = None
    ended_at: int | None = None
    summary: str = ""
    url: str = ""


class MonitoringNotification(_Lenient):
    """A Cloud Monitoring webhook notification, payload version 1.2."""

    version: Literal["1.2"]
    incident: Incident
