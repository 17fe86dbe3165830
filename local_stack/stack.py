"""Start, wire and stop the whole pipeline on one machine."""

from __future__ import annotations

import ast
import json
import os
import secrets
import sys
import time
import uuid
from pathlib import Path

import topology as topo
from local_stack import provision
from local_stack.emulators import Emulators
from local_stack.prerequisites import doctor, fake_gcs_binary, write_signing_key
from processes import Child, StackError, free_port, http_ok, leftover_processes, patched_environ

ROOT = Path(__file__).resolve().parent.parent
__all__ = ["ROOT", "Stack", "StackError", "doctor", "leftover_processes", "write_signing_key"]
# All local traffic comes from 127.0.0.1, so the demo's Python storefront would
# trip the per-IP limit; the stack relaxes the limits unless they are set (the
# browser tests and bench/load_upload_urls.py run with the configured ones).
LOCAL_RATE_LIMITS = {"RATE_LIMIT_IP_PER_MINUTE": "100000", "RATE_LIMIT_SESSION_PER_MINUTE": "100000",
                     "RATE_LIMIT_BURST": "1000"}
# Functions whose signed URLs a browser uses: they sign for the CORS front.
BROWSER_FACING = {"upload_url", "job_status"}
# The variant's signed GET URLs are fetched by the widget too, but it also reads and writes
# objects, which the front (signed URLs only) does not pass: its URLs alone point at the front.
SIGNS_THROUGH_FRONT = {"variant"}


def function_targets() -> list[str]:
    """The functions-framework targets main.py defines (topology names the rest)."""
    tree = ast.parse((ROOT / "main.py").read_text())
    return [node.name for node in tree.body if isinstance(node, ast.FunctionDef)
            and any("functions_framework" in ast.unparse(d) for d in node.decorator_list)]


class Stack:
    """The local pipeline. Use as a context manager: every child is stopped on exit."""

    runs_started: list[str] = []  # every run id of this process, for a final leftover check

    def __init__(self, workdir: Path | None = None, env: dict[str, str] | None = None,
                 functions: list[str] | None = None, cloud_run: bool = False, gpu_app: str = "gpu_service.app:app",
                 emulators: Emulators | None = None):
        self.workdir = Path(workdir or ROOT / ".local" / time.strftime("run-%Y%m%d-%H%M%S"))
        self.extra_env = dict(env or {})
        if "SESSION_SIGNING_KEY" not in {**os.environ, **self.extra_env}:
            # One key per run, shared by every function (production's comes from Secret Manager).
            self.extra_env["SESSION_SIGNING_KEY"] = secrets.token_urlsafe(32)
        # Marks every child (and its children) so a check can find any left behind.
        self.run_id = uuid.uuid4().hex
        Stack.runs_started.append(self.run_id)
        # Pub/Sub and Firestore: emulators shared with other stacks (each stack its own project),
        # or this stack's own, which it starts and stops as its children (an outage drill stops them).
        self.shared_emulators = emulators is not None
        self.emulators = emulators or Emulators(self.workdir, run_id=self.run_id)
        if self.shared_emulators and "GOOGLE_CLOUD_PROJECT" not in {**os.environ, **self.extra_env}:
            self.extra_env["GOOGLE_CLOUD_PROJECT"] = f"stack-{self.run_id[:12]}"
        self.children: dict[str, Child] = {}
        store_port = self._storefront_env()
        self.topology = topo.load(env={**os.environ, **self.extra_env})
        self.project = self.topology["project"]
        self.function_names = functions or [f for f in function_targets() if f in self.topology["functions"]]
        self.ports = {**self.emulators.ports, **{name: free_port() for name in ["gcs", "gpu", *self.function_names]}}
        # Opt-in: the GPU service behind a local Cloud Run (Admin API + router on the "gpu" port),
        # one process per revision, instead of one plain GPU service process.
        self.cloud_run = cloud_run
        # The GPU service's ASGI app (uvicorn's MODULE:ATTR); drills pass one with a rigged engine.
        self.gpu_app = gpu_app
        if cloud_run:
            self.ports["cloud_run"] = free_port()
        self.ports.update(store=store_port, gcs_front=free_port())

    def _storefront_env(self) -> int:
        """The store page's port (STORE_PORT, or a free one), with the functions' and
        the bucket's CORS allowing exactly its origin unless STORE_ORIGINS is set."""
        given = {**os.environ, **self.extra_env}
        port = int(given.get("STORE_PORT") or free_port())
        if "STORE_ORIGINS" not in given:
            self.extra_env["STORE_ORIGINS"] = f"http://127.0.0.1:{port},http://localhost:{port}"
        for key, value in LOCAL_RATE_LIMITS.items():
            if key not in given:
                self.extra_env[key] = value
        return port

    def store_config(self) -> dict:
        """What the demo page is told (public endpoints only)."""
        given = {**os.environ, **self.extra_env}
        return {
            "uploadUrlEndpoint": self.url("upload_url") + "/",
            "statusEndpoint": self.url("job_status") + "/",
            # The public warm function, never the private pre-warm one (which also sets scaling).
            "warmEndpoint": self.url("warm") + "/" if "warm" in self.function_names else None,
            "variantEndpoint": self.url("variant") + "/" if "variant" in self.function_names else None,
            "warmHours": given.get("STORE_WARM_HOURS", "7-22"),
        }

    # --- addresses ---------------------------------------------------------
    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    @property
    def env(self) -> dict[str, str]:
        """What a client needs to reach the emulators (children get the same)."""
        return {
            "GOOGLE_CLOUD_PROJECT": self.project,
            "PUBSUB_EMULATOR_HOST": f"127.0.0.1:{self.ports['pubsub']}",
            "FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{self.ports['firestore']}",
            "STORAGE_EMULATOR_HOST": self.url("gcs"),
            "SIGNING_KEY_FILE": str(self.workdir / "signing-key.json"),
            "UPLOADS_BUCKET": self.topology["buckets"]["uploads"]["name"],
            "RESULTS_BUCKET": self.topology["buckets"]["results"]["name"],
            "CACHE_BUCKET": self.topology["buckets"]["cache"]["name"],
            "GPU_SERVICE_URL": self.url("gpu"),
            **({"CLOUD_RUN_ENDPOINT": self.url("cloud_run")} if self.cloud_run else {}),
        }

    def _child_env(self) -> dict[str, str]:
        return {**os.environ, **self.extra_env, **self.env, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1",
                "LOCAL_STACK_RUN_ID": self.run_id}

    # --- lifecycle ---------------------------------------------------------
    def __enter__(self) -> Stack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        if problems := doctor():
            raise StackError("the local stack cannot start:\n  " + "\n  ".join(problems))
        write_signing_key(self.workdir / "signing-key.json", self.project)
        env = self._child_env()
        logs = self.workdir / "logs"
        if self.shared_emulators:
            self.emulators.check()
        else:
            self.children.update(self.emulators.make_children(env))
            self.emulators.start()
        gcs = self.ports["gcs"]
        # fake-gcs-server publishes object events to the Pub/Sub emulator, so it starts after it.
        self._add(Child("gcs", [fake_gcs_binary(), "-scheme", "http", "-host", "127.0.0.1", "-port", str(gcs),
                                "-backend", "memory", "-external-url", self.url("gcs"),
                                "-public-host", f"127.0.0.1:{gcs}",
                                "-event.pubsub-project-id", self.project,
                                "-event.pubsub-topic", self.topology["buckets"]["uploads"]["notification"]["topic"],
                                "-event.list", "finalize", "-log-level", "warn"],
                        env, logs / "gcs.log", ready_url=self.url("gcs") + "/storage/v1/b"))
        self.children["gcs"].start()
        self.children["gcs"].wait_ready(30)
        self.apply_topology()
        # Browsers reach the uploads bucket through a front that applies its CORS and checks signatures.
        self._add(Child("gcs_front", [sys.executable, "-m", "local_stack.cors_front", "--port",
                                      str(self.ports["gcs_front"]), "--upstream", self.url("gcs"),
                                      "--cors", json.dumps({b["name"]: topo.cors_rules(b)
                                                            for b in self.topology["buckets"].values()}),
                                      "--key-file", str(self.workdir / "signing-key.json")],
                        env, logs / "gcs-front.log", port=self.ports["gcs_front"]))
        self.children["gcs_front"].start()
        for name in self.function_names:
            fn_env = {**env, "STORAGE_EMULATOR_HOST": self.url("gcs_front")} if name in BROWSER_FACING else env
            if name in SIGNS_THROUGH_FRONT:
                fn_env = {**env, "SIGNED_URL_ENDPOINT": self.url("gcs_front")}
            self._add(Child(name, [sys.executable, "-m", "functions_framework", f"--target={name}",
                                   "--host=127.0.0.1", f"--port={self.ports[name]}", f"--source={ROOT / 'main.py'}"],
                            fn_env, logs / f"fn-{name}.log", port=self.ports[name]))
            self.children[name].start()
        if BROWSER_FACING <= set(self.function_names):
            self._add(Child("store", [sys.executable, "-m", "local_stack.static_site",
                                      "--port", str(self.ports["store"]),
                                      "--config", json.dumps(self.store_config())],
                            env, logs / "store.log", ready_url=self.url("store") + "/config.json"))
            self.children["store"].start()
        if self.cloud_run:
            self._add(Child("gpu", [sys.executable, "-m", "local_stack.cloud_run", "--project", self.project,
                                    "--region", env.get("REGION", "us-central1"),
                                    "--service", self.topology["services"]["gpu"]["name"],
                                    "--admin-port", str(self.ports["cloud_run"]),
                                    "--router-port", str(self.ports["gpu"]), "--logs", str(logs)],
                            env, logs / "cloud-run.log", ready_url=self.url("cloud_run") + "/_local/ready"))
        else:
            self._add(Child("gpu", [sys.executable, "-m", "uvicorn", self.gpu_app, "--host", "127.0.0.1",
                                    "--port", str(self.ports["gpu"]), "--no-access-log"],
                            env, logs / "gpu.log", ready_url=self.url("gpu") + "/ready"))
        self.children["gpu"].start()
        for name in [*self.function_names, "gpu", "gcs_front", "store"]:
            if name in self.children:
                self.children[name].wait_ready(120)
        self._start_schedules()

    def _start_schedules(self) -> None:
        """Cloud Scheduler's jobs, fired by a cron library at the local pre-warm function.
        Only with the local Cloud Run: pre-warm acts on it."""
        self.scheduler = None
        if self.cloud_run and "prewarm" in self.function_names:
            from local_stack.cron import LocalScheduler

            self.scheduler = LocalScheduler(self.url("prewarm") + "/", urls={
                name: self.url(name) + "/" for name in self.function_names if name != "prewarm"})
            self.scheduler.start()

    def _add(self, child: Child) -> None:
        self.children[child.name] = child

    def apply_topology(self) -> None:
        with self.client_env():
            from google.auth.credentials import AnonymousCredentials
            from google.cloud import pubsub_v1, storage

            provision.apply(
                self.topology,
                storage_client=storage.Client(project=self.project, credentials=AnonymousCredentials()),
                publisher=pubsub_v1.PublisherClient(),
                subscriber=pubsub_v1.SubscriberClient(),
                function_url=lambda name: self.url(name) + "/" if name in self.function_names else None,
                service_url=lambda name: self.url(name),
            )

    def client_env(self):
        """Context in which this process's Google clients talk to the stack."""
        return patched_environ(self.env)

    def check(self) -> None:
        """Raise if any child died without being told to (the shared emulators included)."""
        if self.shared_emulators:
            self.emulators.check()
        for child in self.children.values():
            if child.proc is not None and not child.alive() and not child.expected_exit:
                raise StackError(f"{child.name} died with {child.proc.returncode};"
                                 f" see {child.log_path}:\n{child.tail()}")

    def restart(self, name: str, kill: bool = True) -> None:
        child = self.children[name]
        child.kill() if kill else child.stop()
        child.start()
        child.wait_ready(120)

    def stop(self) -> None:
        if getattr(self, "scheduler", None):
            self.scheduler.stop()
        # Reverse order: consumers first, emulators last.
        for child in reversed(list(self.children.values())):
            child.stop()

    def healthy(self) -> bool:
        return all(child.alive() for child in self.children.values()) and http_ok(self.url("gpu") + "/ready")
