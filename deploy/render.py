"""Fill `${VAR:-default}` in a deploy file from the environment, as topology.yaml is.

    IMAGE=... GOOGLE_CLOUD_PROJECT=... python -m deploy.render deploy/service.yaml > service.yaml
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from local_stack import topology


def render(path: Path, env: dict[str, str] | None = None) -> dict:
    return topology.load(path, env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    args = parser.parse_args()
    yaml.safe_dump(render(args.file), sys.stdout, sort_keys=False)


if __name__ == "__main__":
    main()
