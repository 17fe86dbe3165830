"""Google's Pub/Sub and Firestore emulators (Java), started once and shared by any number of stacks.

Both emulators keep each project apart: topics, subscriptions and documents live under
`projects/PROJECT/...`, so stacks that share them are isolated by giving each its own
project id (Stack does). A stack that stops or kills an emulator on purpose (an outage drill)
starts its own instead.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from processes import Child, StackError, free_port

JAVA_READY_SECONDS = 90


class Emulators:
    """The two emulators as children in their own process groups; a context manager."""

    def __init__(self, workdir: Path, run_id: str | None = None):
        self.workdir = Path(workdir)
        # The marker every child carries (processes.leftover_processes finds what it left behind).
        self.run_id = run_id or uuid.uuid4().hex
        self.ports = {"pubsub": free_port(), "firestore": free_port()}
        self.children: dict[str, Child] = {}

    def make_children(self, env: dict[str, str]) -> dict[str, Child]:
        """The two children, not started yet, with `env` (and this run's marker)."""
        env = {**env, "LOCAL_STACK_RUN_ID": self.run_id}
        logs = self.workdir / "logs"
        (self.workdir / "pubsub").mkdir(parents=True, exist_ok=True)
        self.children = {
            "pubsub": Child("pubsub", ["gcloud", "beta", "emulators", "pubsub", "start",
                                       f"--host-port=127.0.0.1:{self.ports['pubsub']}", "--project=demo-proj",
                                       f"--data-dir={self.workdir / 'pubsub'}"],
                            env, logs / "pubsub.log", ready_url=self.url("pubsub")),
            "firestore": Child("firestore", ["gcloud", "emulators", "firestore", "start",
                                             f"--host-port=127.0.0.1:{self.ports['firestore']}"],
                               env, logs / "firestore.log", ready_url=self.url("firestore")),
        }
        return self.children

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    @property
    def hosts(self) -> dict[str, str]:
        """What a client needs to reach them (the project is the client's own)."""
        return {"PUBSUB_EMULATOR_HOST": f"127.0.0.1:{self.ports['pubsub']}",
                "FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{self.ports['firestore']}"}

    def start(self, env: dict[str, str] | None = None) -> Emulators:
        import os

        if not self.children:
            self.make_children(dict(os.environ) if env is None else env)
        for child in self.children.values():  # both JVMs warm up at once
            child.start()
        for child in self.children.values():
            child.wait_ready(JAVA_READY_SECONDS)
        return self

    def check(self) -> None:
        for child in self.children.values():
            if child.proc is not None and not child.alive() and not child.expected_exit:
                raise StackError(f"the shared {child.name} emulator died with {child.proc.returncode};"
                                 f" see {child.log_path}:\n{child.tail()}")

    def stop(self) -> None:
        for child in self.children.values():
            child.stop()

    def __enter__(self) -> Emulators:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()
