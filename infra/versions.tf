terraform {
  # templatestring() (topology placeholders) needs 1.9.
  required_version = ">= 1.9"
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.20, < 8.0"
    }
  }
  # State lives in a bucket made by hand once (docs/deploy.md, first-time set-up):
  #   terraform init -backend-config="bucket=PROJECT-tfstate"
  backend "gcs" {
    prefix = "pet-cutout"
  }
}

provider "google" {
  project = var.project
  region  = var.region
  # Budgets and Secret Manager bill their quota to the project, not the caller.
  billing_project       = var.project
  user_project_override = true
}
