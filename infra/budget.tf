# The budget publishes every update to billing-alerts, where the budget_guard
# function (topology.yaml's budget-guard subscription) acts on crossed thresholds.
# Budgets cannot be daily: the monthly amount is the daily target times 31.
# A budget watches the whole project's spend: production's instance makes it; a staging
# deployment in the same project has none (its budget_guard would act on production's bill).
resource "google_billing_budget" "monthly" {
  count           = local.owns_shared ? 1 : 0
  billing_account = var.billing_account
  display_name    = "pet-cutout monthly${local.suffix}"

  budget_filter {
    projects        = ["projects/${data.google_project.this.number}"]
    calendar_period = "MONTH"
  }

  amount {
    specified_amount {
      currency_code = var.budget_currency
      units         = tostring(ceil(var.daily_budget * 31))
    }
  }

  dynamic "threshold_rules" {
    for_each = var.budget_thresholds
    content {
      threshold_percent = threshold_rules.value
      spend_basis       = "CURRENT_SPEND"
    }
  }

  all_updates_rule {
    pubsub_topic   = google_pubsub_topic.topology[local.billing_topic].id
    schema_version = "1.0"
  }

  lifecycle {
    precondition {
      condition     = contains(local.topology.topics, local.billing_topic)
      error_message = "topology.yaml must declare the billing-alerts topic."
    }
  }
  depends_on = [google_project_service.apis]
}
