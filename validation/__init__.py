"""The release gate: checks a deployment (local stack, staging or production) through its
public endpoints against the store's plan (../STORE_PLAN.md "Staging before production").

    python -m validation --target <local|staging|production> --report <path.json>

Thresholds live in validation/targets.py; each check is one module in validation/checks/.
"""
