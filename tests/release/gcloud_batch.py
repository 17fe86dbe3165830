"""Run many gcloud command lines in one process of the installed CLI (its own Python).

gcloud spends about a second of CPU loading itself; its CLI object can then execute
command after command (the same `Execute` its `gcloud_main.main` calls), each
answering with the exit status and stderr a separate `gcloud` would give.
tests/release/test_gcloud_commands.py checks that against real `gcloud` runs.

    PYTHON gcloud_batch.py SDK_ROOT < [{"argv": [...], "cwd": "..."}, ...]  > [{"rc": N, "stderr": "..."}, ...]
"""

import json
import os
import sys
import tempfile


def main():
    lib = os.path.join(sys.argv[1], "lib")
    sys.path[:0] = [os.path.join(lib, "third_party"), lib]  # as the SDK's lib/gcloud.py does
    from googlecloudsdk import gcloud_main
    from googlecloudsdk.core.credentials import creds_context_managers

    commands = json.load(sys.stdin)
    out = os.fdopen(os.dup(1), "w")
    cli = gcloud_main.CreateCLI([])
    with creds_context_managers.CredentialProvidersManager(None):  # as gcloud_main.main wraps Execute
        results = [_execute(cli, command) for command in commands]
    json.dump(results, out)
    out.flush()


def _execute(cli, command: dict) -> dict:
    """One command line, its stdout discarded and its stderr kept."""
    os.chdir(command["cwd"])
    with tempfile.TemporaryFile() as err, open(os.devnull, "wb") as null:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        os.dup2(null.fileno(), 1)
        os.dup2(err.fileno(), 2)
        try:
            cli.Execute(command["argv"])
            rc = 0
        except SystemExit as stop:
            rc = stop.code if isinstance(stop.code, int) else 1
        except Exception as exc:  # an error gcloud_main would report the same way
            print(f"ERROR: {exc!r}", file=sys.stderr)
            rc = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
        err.seek(0)
        return {"rc": rc, "stderr": err.read().decode(errors="replace")}


if __name__ == "__main__":
    main()
