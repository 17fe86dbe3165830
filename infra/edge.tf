# The public functions (upload_url, job_status) behind a global external Application
# Load Balancer with a Cloud Armor per-IP rate rule, made when var.edge_domain is set.
#
# Why it fits: a serverless NEG of type Cloud Run "supports Cloud Run and Cloud Run
# functions (2nd gen)" behind the global external Application Load Balancer
# (https://docs.cloud.google.com/load-balancing/docs/negs/serverless-neg-concepts), and
# such a load balancer gives serverless apps "security policies"
# (https://docs.cloud.google.com/load-balancing/docs/https/setup-global-ext-https-serverless).
# Cloud Armor's throttle action limits each client IP to a threshold, applied to each
# backend service on its own (https://docs.cloud.google.com/armor/docs/rate-limiting-overview).
#
# This ceiling is coarser than the functions' own token buckets (per address, so an IPv6
# client rotating inside its /64 counts as many; no sessions) and does not depend on
# Firestore: it is what still holds while the shared counters are down
# (adapters/rate_limits.py, OutagePolicy). Its 429s carry no Retry-After; the widget then
# waits 1 s. The forwarding rule below has an IPv4 address only.
#
# The functions' own URLs stay reachable unless they are deployed with
# --ingress-settings=internal-and-gclb (`python -m deploy.functions --behind-load-balancer`),
# which lets in only internal traffic and traffic through Cloud Load Balancing
# (https://docs.cloud.google.com/run/docs/securing/ingress). docs/deploy.md has the order.

locals {
  edge_enabled   = var.edge_domain != ""
  edge_functions = local.edge_enabled ? { for f, spec in local.functions : f => local.function_names[f] if try(spec.public, false) } : {}
}

resource "google_compute_security_policy" "edge" {
  count       = local.edge_enabled ? 1 : 0
  name        = "pet-cutout-edge${local.suffix}"
  description = "Per-IP ceiling in front of the public functions"
  type        = "CLOUD_ARMOR"

  rule {
    action      = "deny(403)"
    priority    = 900
    description = "Log4j (CVE-2021-44228) probes"
    match {
      expr {
        expression = "evaluatePreconfiguredWaf('cve-canary')"
      }
    }
  }

  rule {
    action      = "throttle"
    priority    = 1000
    description = "Each client IP: at most edge_requests_per_minute per function"
    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_ranges = ["*"]
      }
    }
    rate_limit_options {
      conform_action = "allow"
      exceed_action  = "deny(429)"
      enforce_on_key = "IP"
      rate_limit_threshold {
        count        = var.edge_requests_per_minute
        interval_sec = 60
      }
    }
  }

  rule {
    action      = "allow"
    priority    = 2147483647
    description = "Default rule: allow"
    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_ranges = ["*"]
      }
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_compute_region_network_endpoint_group" "edge" {
  for_each              = local.edge_functions
  name                  = "pet-${each.value}"
  region                = var.region
  network_endpoint_type = "SERVERLESS"
  cloud_run {
    service = each.value # a 2nd gen function is the Cloud Run service of its name
  }
  depends_on = [google_project_service.apis]
}

resource "google_compute_backend_service" "edge" {
  for_each              = local.edge_functions
  name                  = "pet-${each.value}"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  security_policy       = google_compute_security_policy.edge[0].id
  backend {
    group = google_compute_region_network_endpoint_group.edge[each.key].id
  }
  log_config {
    enable      = true
    sample_rate = 1.0
  }
}

resource "google_compute_url_map" "edge" {
  count           = local.edge_enabled ? 1 : 0
  name            = "pet-cutout-edge${local.suffix}"
  default_service = google_compute_backend_service.edge["upload_url"].id
  host_rule {
    hosts        = [var.edge_domain]
    path_matcher = "functions"
  }
  path_matcher {
    name            = "functions"
    default_service = google_compute_backend_service.edge["upload_url"].id
    dynamic "path_rule" {
      for_each = local.edge_functions
      content {
        paths   = ["/${path_rule.key}"]
        service = google_compute_backend_service.edge[path_rule.key].id
      }
    }
  }
}

resource "google_compute_managed_ssl_certificate" "edge" {
  count = local.edge_enabled ? 1 : 0
  name  = "pet-cutout-edge${local.suffix}"
  managed {
    domains = [var.edge_domain]
  }
}

resource "google_compute_ssl_policy" "edge" {
  count           = local.edge_enabled ? 1 : 0
  name            = "pet-cutout-edge${local.suffix}"
  profile         = "MODERN"
  min_tls_version = "TLS_1_2"
}

resource "google_compute_target_https_proxy" "edge" {
  count            = local.edge_enabled ? 1 : 0
  name             = "pet-cutout-edge${local.suffix}"
  url_map          = google_compute_url_map.edge[0].id
  ssl_certificates = [google_compute_managed_ssl_certificate.edge[0].id]
  ssl_policy       = google_compute_ssl_policy.edge[0].id
}

resource "google_compute_global_address" "edge" {
  count = local.edge_enabled ? 1 : 0
  name  = "pet-cutout-edge${local.suffix}"
}

resource "google_compute_global_forwarding_rule" "edge" {
  count                 = local.edge_enabled ? 1 : 0
  name                  = "pet-cutout-edge${local.suffix}"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  ip_address            = google_compute_global_address.edge[0].id
  port_range            = "443"
  target                = google_compute_target_https_proxy.edge[0].id
}
