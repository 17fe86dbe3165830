"""Fill `${VAR:-default}` in a deploy file from the environment, as topology.yaml is.

    IMAGE=... GOOGLE_CLOUD_PROJECT=... python -m deploy.placeholders deploy/service.yaml > service.yaml
    IMAGE=... python -m deploy.placeholders --environment staging deploy/service.yaml > staging.yaml

With `--environment`, the deployment's names and GPU instance (topology.yaml
`environments:`, deploy/environments.py) fill their placeholders over the process's.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import yaml

import topology
from deploy import environments


def fill(path: Path, env: dict[str, str] | None = None, environment: str | None = None) -> dict:
    if environment is not None:
        base = dict(os.environ if env is None else env)
        env = {**base, **environments.of(topology.load(env=base), environment).gpu_values()}
    return topology.load(path, env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--environment", help="a deployment of topology.yaml `environments:`")
    args = parser.parse_args()
    yaml.safe_dump(fill(args.file, environment=args.environment), sys.stdout, sort_keys=False)


if __name__ == "__main__":
    main()
