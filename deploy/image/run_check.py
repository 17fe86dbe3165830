"""Start the built image's service as its own CMD and ENV would, probe it, stop it: one JSON report.

Run it inside a network namespace with only loopback up (`python -m deploy.image
check` does: `unshare -n`), so the service and the probes share a loopback and any
download at start-up fails. podman cannot run containers on these machines;
`buildah run --isolation chroot --network host` runs the CMD in the image's root,
in this (isolated) network namespace.

Overrides of the image's ENV, each because this is not Cloud Run:
- ENGINE_DEVICE=cpu: there is no GPU here.
- PORT: a free port, so a stack running on 8080 beside it does not collide.
- STORAGE/FIRESTORE/PUBSUB_EMULATOR_HOST at a closed loopback port: there are no
  Google credentials here, and with these the clients build without looking for
  any (they connect lazily; the smoke route touches no bucket, job or topic).
- LOCAL_STACK_RUN_ID: the run id that marks every process of this run, so a scan
  of /proc finds any left behind (processes.leftover_processes).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from processes import free_port, leftover_processes

NOWHERE = "127.0.0.1:9"  # the discard port: nothing listens, connections are refused


def image_config(image: str) -> dict:
    """The image's Config (Env, Cmd, Entrypoint, WorkingDir, User) from `podman image inspect`."""
    out = subprocess.run(["podman", "image", "inspect", image], capture_output=True, text=True, check=True).stdout
    return json.loads(out)[0]["Config"]


def loopback_only() -> dict:
    """Bring loopback up and prove nothing else is reachable (a DNS name and a public address)."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    probes = {}
    for name, target in {"dns": ("pypi.org", 443), "ip": ("151.101.0.223", 443)}.items():
        try:
            socket.create_connection(target, timeout=3).close()
            probes[name] = "reachable"
        except OSError as exc:
            probes[name] = f"{type(exc).__name__}: {exc}"
    return probes


def get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_ready(base: str, proc: subprocess.Popen, timeout: float) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < timeout and proc.poll() is None:
        try:
            if get(base + "/ready", timeout=2)[0] == 200:
                return time.monotonic() - started
        except OSError:
            pass
        time.sleep(0.25)
    return None


def wait_warm(base: str, proc: subprocess.Popen, timeout: float) -> float | None:
    """Seconds until the service reports its warm-up pass done (None: not within `timeout`)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout and proc.poll() is None:
        if json.loads(get(base + "/model-info")[1]).get("warmed"):
            return round(time.monotonic() - started, 2)
        time.sleep(0.5)
    return None


def process_tree(root: int) -> dict[int, str]:
    """pid -> start time (field 22 of /proc/PID/stat) of `root` and all its descendants."""
    parents, starts = {}, {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents[int(proc.name)], starts[int(proc.name)] = int(fields[1]), fields[19]
    tree, frontier = {root}, [root]
    while frontier:
        children = [pid for pid, ppid in parents.items() if ppid in frontier and pid not in tree]
        tree.update(children)
        frontier = children
    return {pid: starts[pid] for pid in tree if pid in starts}


def still_alive(tree: dict[int, str]) -> list[int]:
    """The pids of `tree` still running (same pid, same start time: not a reused pid; zombies are done)."""
    alive = []
    for pid, start in tree.items():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            if fields[19] == start and fields[0] != "Z":
                alive.append(pid)
        except (OSError, IndexError):
            continue
    return alive


def stop(proc: subprocess.Popen, run_id: str, grace: float) -> dict:
    """SIGTERM to the service itself, as Cloud Run stops an instance, then wait for the run to end.

    Not to buildah: on SIGTERM it kills its child outright. The service is the
    run's topmost process inside the image: its parent is buildah's chroot helper,
    which carries no run id. SIGKILL to the whole tree only past `grace`.
    """
    tree = process_tree(proc.pid)
    marked = set(leftover_processes(run_id)) - {proc.pid}
    services = [pid for pid in marked if _parent(pid) not in marked]
    started = time.monotonic()
    for pid in services:
        os.kill(pid, signal.SIGTERM)
    result = {"signal": "SIGTERM", "service_pids": services, "tree": len(tree)}
    try:
        result["exit_code"] = proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        result["signal"] = "SIGKILL"
        for pid in still_alive(tree):
            os.kill(pid, signal.SIGKILL)
        result["exit_code"] = proc.wait()
    result["seconds"] = round(time.monotonic() - started, 2)
    time.sleep(0.5)  # let the helpers that outlive buildah by an instant finish
    result["tree_alive"] = still_alive(tree)
    return result


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError):
        return 0


def run(image: str, photo: Path, out: Path, run_id: str, ready_timeout: float) -> dict:
    report: dict = {"image": image, "network": loopback_only()}
    config = image_config(image)
    port = free_port()
    overrides = {"ENGINE_DEVICE": "cpu", "PORT": str(port), "STORAGE_EMULATOR_HOST": f"http://{NOWHERE}",
                 "FIRESTORE_EMULATOR_HOST": NOWHERE, "PUBSUB_EMULATOR_HOST": NOWHERE, "LOCAL_STACK_RUN_ID": run_id}
    env = dict(item.split("=", 1) for item in config.get("Env") or [])
    env.update(overrides)
    command = (config.get("Entrypoint") or []) + (config.get("Cmd") or [])
    report.update(cmd=command, overrides=sorted(overrides), user=config.get("User"))
    container = subprocess.run(["buildah", "from", "--pull=never", "--name", run_id, image],
                               capture_output=True, text=True, check=True).stdout.strip()
    argv = ["buildah", "run", "--isolation", "chroot", "--network", "host",
            "--workingdir", config.get("WorkingDir") or "/", "--user", config.get("User") or "root"]
    for key, value in env.items():
        argv += ["--env", f"{key}={value}"]
    argv += [container, "--", *command]
    log_path = out / "service.log"
    base = f"http://127.0.0.1:{port}"
    try:
        with log_path.open("wb") as log_file:
            started = time.monotonic()
            proc = subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
                                    env={**os.environ, "LOCAL_STACK_RUN_ID": run_id})
            try:
                ready = wait_ready(base, proc, ready_timeout)
                report["ready_seconds"] = round(ready, 2) if ready is not None else None
                report["pid"] = proc.pid
                if ready is not None:
                    # /ready answers once the model is loaded; the warm-up pass follows. Wait for it
                    # (the service's own cold_start_seconds) so the photo's timing is not shared with it.
                    report["warm_seconds"] = wait_warm(base, proc, ready_timeout)
                    clock = time.monotonic()
                    request = urllib.request.Request(base + "/segment", data=photo.read_bytes(), method="POST",
                                                     headers={"Content-Type": "image/jpeg"})
                    with urllib.request.urlopen(request, timeout=600) as response:
                        (out / "cutout.png").write_bytes(response.read())
                        report["segment"] = {"status": response.status, "type": response.headers["Content-Type"],
                                             "seconds": round(time.monotonic() - clock, 2)}
                    status, body = get(base + "/metrics")
                    (out / "metrics.txt").write_bytes(body)
                    report["metrics_status"] = status
                    cold = re.search(rb"^cold_start_seconds (\S+)$", body, re.M)
                    report["cold_start_seconds"] = round(float(cold.group(1)), 2) if cold else None
                    report["model_info"] = json.loads(get(base + "/model-info")[1])
            finally:
                report["uptime_seconds"] = round(time.monotonic() - started, 2)
                report["stop"] = stop(proc, run_id, grace=30)
    finally:
        report["buildah_rm"] = subprocess.run(["buildah", "rm", container], capture_output=True).returncode
    report["log_tail"] = log_path.read_text(errors="replace").splitlines()[-15:]
    return report


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m deploy.image.run_check")
    parser.add_argument("--image", required=True)
    parser.add_argument("--photo", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--ready-timeout", type=float, default=300)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    report = run(args.image, args.photo, args.out, args.run_id, args.ready_timeout)
    (args.out / "report.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
