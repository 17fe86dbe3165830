"""`python -m deploy.image build [--production] [--tag T]`: make the base if missing, build the image."""

from __future__ import annotations

import argparse

from deploy.image import IMAGE
from deploy.image.build import build


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m deploy.image")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build gpu_service/Dockerfile (CI arguments unless --production)")
    b.add_argument("--tag", default=IMAGE)
    b.add_argument("--production", action="store_true", help="the Dockerfile's own defaults (needs the internet)")
    args = parser.parse_args()
    if args.command == "build":
        print(build(args.tag, ci=not args.production))


if __name__ == "__main__":
    main()
