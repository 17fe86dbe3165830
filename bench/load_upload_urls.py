"""Load test of the upload-URL function on the local stack (loopback only).

Bounded in requests and time; stops by itself. Runs with the configured rate
limits (settings.py defaults, not the local stack's relaxed ones) and with
TRUSTED_PROXY_HOPS=1, so each simulated shopper has its own client address in
X-Forwarded-For, as Google's front end would append it.

Phases
  baseline  one shopper, sequential requests (the latency with no crowd)
  crowd     100 concurrent shoppers, each its own IP, keeping the session the
            server issues (as the widget does), a few requests each (inside
            their burst): expect no 429 and no error
  per-ip    one IP, another genuine session per request, back to back,
            alternating TWO function instances for a few seconds: allowed must
            track burst + rate x elapsed (the instances share the counters)
  made-up   one IP, a new client-made session id per request: no more than one
            session's allowance (a made-up id counts as none)
  ipv6-64   a new IPv6 address per request inside one /64, genuine sessions:
            the IP limit
  session   one session, a new IP per request, same: the session limit
  flood     one IP, 8 requests at a time on one instance: the IP limit
  signing   sequential requests, round robin over instances that sign differently:
            the stack's key file, and production's path (no key: IAM signBlob with
            the runtime's token), its metadata server and iamcredentials.googleapis.com
            faked at the HTTP layer (local_stack/identity_fake.py) and every request to
            them counted; with --before DIR also the code in DIR (a checkout of an
            older commit) on the same path, side by side

    PYTHONPATH=. .venv/bin/python bench/load_upload_urls.py [--shoppers 100] [--seconds 6]
        [--signing-only] [--before DIR] [--signing-requests 60]

Prints the figures and writes bench/results/load_upload_urls-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from local_stack.identity_fake import IdentityFake
from local_stack.stack import ROOT, Stack
from processes import Child, free_port
from settings import Settings

RESULTS = ROOT / "bench" / "results"
BODY = {"content_type": "image/jpeg", "size": 1_000_000}


def limits_env() -> dict[str, str]:
    s = Settings()  # the configured values (the stack would otherwise relax them)
    return {"RATE_LIMIT_IP_PER_MINUTE": str(s.rate_limit_ip_per_minute),
            "RATE_LIMIT_SESSION_PER_MINUTE": str(s.rate_limit_session_per_minute),
            "RATE_LIMIT_BURST": str(s.rate_limit_burst), "TRUSTED_PROXY_HOPS": "1"}


_local = threading.local()


def call(url: str, ip: str, session: str, issued: list | None = None) -> tuple[int, float]:
    """One upload-URL request; the session the server answers with goes into `issued`."""
    http = getattr(_local, "http", None) or setattr(_local, "http", requests.Session()) or _local.http
    started = time.perf_counter()
    try:
        response = http.post(url, json={**BODY, "session_id": session}, headers={"X-Forwarded-For": ip}, timeout=30)
        status = response.status_code
        if status == 201 and issued is not None:
            issued.append(response.json()["session_id"])
    except requests.RequestException:
        status = 0
    return status, time.perf_counter() - started


def genuine_sessions(url: str, n: int) -> list[str]:
    """Sessions the server signed, each fetched from its own address (not part of any phase)."""
    issued: list[str] = []
    for i in range(n):
        call(url, f"100.64.{i // 250}.{i % 250 + 1}", "", issued)
    if len(issued) != n:
        raise SystemExit(f"only {len(issued)} of {n} sessions issued")
    return issued


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else float("nan")


def summary(results: list[tuple[int, float]]) -> dict:
    latencies = [t for s, t in results if s in (201, 429)]  # answered, either way
    codes: dict[str, int] = {}
    for status, _ in results:
        codes[str(status)] = codes.get(str(status), 0) + 1
    return {"requests": len(results), "codes": codes,
            "errors": sum(1 for s, _ in results if s not in (201, 429)),
            "p50_ms": round(1000 * statistics.median(latencies), 1) if latencies else None,
            "p95_ms": round(1000 * percentile(latencies, 0.95), 1) if latencies else None}


def baseline(url: str, n: int = 40) -> dict:
    sessions = {i: [""] for i in range(8)}  # 8 shoppers on 8 IPs: inside every limit
    results = []
    for i in range(n):
        issued = sessions[i % 8]
        results.append(call(url, f"192.0.2.{i % 8}", issued[-1], issued))
    return summary(results)


def crowd(url: str, shoppers: int, per_shopper: int) -> dict:
    def shopper(i: int) -> list[tuple[int, float]]:
        ip, issued = f"10.{i // 250}.{i % 250}.1", [""]
        return [call(url, ip, issued[-1], issued) for _ in range(per_shopper)]  # keeps its session, as the widget

    started = time.perf_counter()
    with ThreadPoolExecutor(shoppers) as pool:
        results = [r for batch in pool.map(shopper, range(shoppers)) for r in batch]
    out = summary(results)
    out.update(shoppers=shoppers, per_shopper=per_shopper, seconds=round(time.perf_counter() - started, 2),
               throughput_rps=round(len(results) / (time.perf_counter() - started), 1))
    return out


def hammer(urls: list[str], seconds: float, key: str, ip_for, session_for, per_minute: int, burst: int,
           workers: int = 2, max_requests: int = 2000) -> dict:
    """As fast as `workers` threads can, alternating function instances, for `seconds`;
    request n comes from ip_for(n) with session_for(n)."""
    log: list[tuple[float, int, float]] = []  # (answered at, status, sent at)
    lock = threading.Lock()
    started = time.perf_counter()
    counter = iter(range(max_requests))

    def worker(w: int):
        for n in counter:
            if time.perf_counter() - started > seconds:
                return
            sent = time.perf_counter() - started
            status, _ = call(urls[n % len(urls)], ip_for(n), session_for(n))
            with lock:
                log.append((time.perf_counter() - started, status, sent))

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(worker, range(workers)))
    log.sort()
    allowed = [t for t, s, _ in log if s == 201]
    refused = [t for t, s, _ in log if s == 429]
    elapsed = log[-1][0] if log else 0.0
    ceiling = burst + per_minute / 60.0 * elapsed  # the most the limit may let through by the last request
    # The fewest it must have let through: the bucket's clock starts when the server decides the first
    # request (no later than its answer) and the last was decided after it was sent.
    first_answered = min(log, key=lambda entry: entry[2])[0] if log else 0.0
    last_sent = max((sent for _, _, sent in log), default=0.0)
    floor = int(burst + per_minute / 60.0 * max(0.0, last_sent - first_answered)) - 1
    first_refusal = next((answered for answered, s, _ in log if s == 429), None)
    return {
        "key": key, "instances": len(urls), "workers": workers, "requests": len(log), "seconds": round(elapsed, 2),
        "allowed": len(allowed), "refused_429": len(refused),
        "errors": sum(1 for _, s, _ in log if s not in (201, 429)),
        "configured": {"per_minute": per_minute, "burst": burst},
        "allowed_ceiling": round(ceiling, 2),
        "allowed_floor": floor,  # less one: a token earned but not yet spent when the window closed
        # Allowed requests sent before the first 429 was answered: with concurrent requests an
        # allowed one may be answered after a refusal decided later (it still has a job to make).
        "first_429_after_allowed": sum(1 for _, s, sent in log if s == 201 and sent < first_refusal)
        if first_refusal is not None else None,
        "observed_rate_per_minute_after_burst": round(60.0 * (len(allowed) - burst) / elapsed, 1) if elapsed else None,
    }


def second_instance(stack: Stack, name: str = "upload_url") -> Child:
    """Another instance of the same function: the limits must hold across both."""
    original = stack.children[name]
    port = free_port()
    argv = [a if not a.startswith("--port=") else f"--port={port}" for a in original.argv]
    child = Child(f"{name}_2", argv, original.env, original.log_path.with_name(f"fn-{name}-2.log"), port=port)
    child.start()
    child.wait_ready(60)
    stack.children[child.name] = child  # stopped with the stack
    return child


def signing_instance(stack: Stack, fake: IdentityFake, source: Path = ROOT, name: str = "upload_url") -> Child:
    """An instance of the function, from the code in `source`, that signs as production does."""
    original = stack.children[name]
    port = free_port()
    argv = [f"--port={port}" if a.startswith("--port=") else f"--source={source / 'main.py'}"
            if a.startswith("--source=") else a for a in original.argv]
    # PYTHONSAFEPATH: `python -m` would otherwise put the current directory (this checkout) first.
    env = {**original.env, **fake.env(), "PYTHONPATH": str(source), "PYTHONSAFEPATH": "1"}
    child = Child(f"{name}_iam_{port}", argv, env, original.log_path.with_name(f"fn-{name}-iam-{port}.log"), port=port)
    child.start()
    child.wait_ready(60)
    stack.children[child.name] = child
    return child


def signing(stack: Stack, n: int, before: Path | None) -> dict:
    """Sequential requests, one instance after another (a noisy machine slows each alike),
    each from its own address: p50/p95 per signing path, and the fakes' request counts."""
    from cryptography.hazmat.primitives import serialization

    key_file = json.loads((stack.workdir / "signing-key.json").read_text())
    key = serialization.load_pem_private_key(key_file["private_key"].encode(), None)  # so URLs verify locally
    fakes = {"iam": IdentityFake(signing_key=key).__enter__()}
    if before:
        fakes["iam_before"] = IdentityFake(signing_key=key).__enter__()
    try:
        urls = {"key_file": stack.url("upload_url") + "/"}
        for variant, fake in fakes.items():
            source = before if variant == "iam_before" else ROOT
            urls[variant] = f"http://127.0.0.1:{signing_instance(stack, fake, source).port}/"
        for variant, url in urls.items():  # warm each: the first request builds the clients
            assert call(url, f"203.0.113.{len(variant)}", "")[0] == 201, f"{variant}: the warm-up request failed"
        counted = {variant: dict(fake.counts) for variant, fake in fakes.items()}
        results: dict[str, list] = {variant: [] for variant in urls}
        for i in range(n):
            for j, (variant, url) in enumerate(urls.items()):
                results[variant].append(call(url, f"10.{200 + j}.{i // 250}.{i % 250 + 1}", ""))
        out = {variant: summary(r) for variant, r in results.items()}
        for variant, fake in fakes.items():
            during = {k: v - counted[variant].get(k, 0) for k, v in fake.counts.items()}
            out[variant]["per_request"] = {k: round(v / n, 2) for k, v in sorted(during.items())}
        return out
    finally:
        for fake in fakes.values():
            fake.__exit__()


def print_signing(r: dict) -> None:
    print(f"{'signing path':<14}{'requests':>9}{'errors':>7}{'p50 ms':>9}{'p95 ms':>9}  fake requests per upload URL")
    for variant, v in r.items():
        print(f"{variant:<14}{v['requests']:>9}{v['errors']:>7}{v['p50_ms']:>9}{v['p95_ms']:>9}  "
              f"{v.get('per_request', '')}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/load_upload_urls.py")
    parser.add_argument("--shoppers", type=int, default=100)
    parser.add_argument("--per-shopper", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=6.0, help="length of each rate-limit phase")
    parser.add_argument("--signing-requests", type=int, default=60, help="requests per instance in the signing phase")
    parser.add_argument("--signing-only", action="store_true", help="only the signing phase")
    parser.add_argument("--before", type=Path, help="a checkout of older code to sign side by side (signing phase)")
    args = parser.parse_args(argv)
    env = limits_env()
    ip_limit, session_limit, burst = (int(env[k]) for k in ("RATE_LIMIT_IP_PER_MINUTE",
                                                             "RATE_LIMIT_SESSION_PER_MINUTE", "RATE_LIMIT_BURST"))
    started = time.monotonic()
    with Stack(env=env, functions=["upload_url", "job_status"]) as stack:
        print(f"stack up in {time.monotonic() - started:.1f}s", file=sys.stderr)
        if args.signing_only:
            return signing_only(stack, args)
        url = stack.url("upload_url") + "/"
        other = f"http://127.0.0.1:{second_instance(stack).port}/"
        # Genuine sessions to spend one per request where only the IP limit should bite (a refused
        # request spends nothing, so each is spent about once per phase, far inside its own limit).
        pool = genuine_sessions(url, 60)
        fixed = pool.pop()
        cycle = lambda n: pool[n % len(pool)]  # noqa: E731
        v6 = f"2001:db8:{uuid.uuid4().int % 0xffff:x}:1"
        report = {
            "limits": {"ip_per_minute": ip_limit, "session_per_minute": session_limit, "burst": burst},
            "baseline": baseline(url),
            "crowd": crowd(url, args.shoppers, args.per_shopper),
            # One client at a time, alternating two instances: the counters are shared.
            "per_ip": hammer([url, other], args.seconds, "ip", lambda n: "198.51.100.7", cycle,
                             ip_limit, burst, workers=1),
            "per_ip_made_up_sessions": hammer([url, other], args.seconds, "no session (made-up ids)",
                                              lambda n: "198.51.100.8", lambda n: uuid.uuid4().hex,
                                              session_limit, burst, workers=1),
            "per_ipv6_64": hammer([url, other], args.seconds, "ipv6 /64",
                                  lambda n: f"{v6}:{n // 65536 % 65536:x}:{n % 65536:x}::1",
                                  cycle, ip_limit, burst, workers=1),
            "per_session": hammer([url, other], args.seconds, "session", lambda n: f"172.16.{n // 250}.{n % 250}",
                                  lambda n: fixed, session_limit, burst, workers=1),
            # A flood from one IP, 8 at once on one instance.
            "per_ip_flood": hammer([url], args.seconds, "ip", lambda n: "198.51.100.9", cycle, ip_limit, burst,
                                   workers=8),
            "signing": signing(stack, args.signing_requests, args.before),
        }
    b, c = report["baseline"], report["crowd"]
    report["crowd_vs_baseline_p50"] = round(c["p50_ms"] / b["p50_ms"], 2) if b["p50_ms"] else None
    checks = {
        "crowd: no 429 and no error": c["codes"].get("429", 0) == 0 and c["errors"] == 0,
    }
    phases = ("per_ip", "per_ip_made_up_sessions", "per_ipv6_64", "per_session", "per_ip_flood")
    for phase in phases:
        r = report[phase]
        checks[f"{phase}: allowed within [floor, ceiling]"] = r["allowed_floor"] <= r["allowed"] <= r["allowed_ceiling"]
        checks[f"{phase}: no 429 before the burst was spent"] = (r["first_429_after_allowed"] or 0) >= burst
        checks[f"{phase}: 429s answered, no errors"] = r["refused_429"] > 0 and r["errors"] == 0
    report["checks"] = checks

    print(f"\nlimits: {ip_limit}/min per IP, {session_limit}/min per session, burst {burst}")
    print(f"{'phase':<12}{'requests':>9}{'201':>6}{'429':>6}{'errors':>7}{'p50 ms':>9}{'p95 ms':>9}")
    for name, r in (("baseline", b), ("crowd", c)):
        print(f"{name:<12}{r['requests']:>9}{r['codes'].get('201', 0):>6}{r['codes'].get('429', 0):>6}"
              f"{r['errors']:>7}{r['p50_ms']:>9}{r['p95_ms']:>9}")
    print(f"crowd: {c['shoppers']} concurrent shoppers, {c['throughput_rps']} req/s; "
          f"p50 {report['crowd_vs_baseline_p50']}x the single-shopper baseline")
    for phase in phases:
        r = report[phase]
        print(f"{phase}: {r['requests']} requests ({r['workers']} at a time) over {r['seconds']} s "
              f"on {r['instances']} instances: "
              f"{r['allowed']} allowed (limit allows {r['allowed_floor']}..{r['allowed_ceiling']}), "
              f"{r['refused_429']} x 429, first 429 after {r['first_429_after_allowed']} allowed, "
              f"{r['observed_rate_per_minute_after_burst']}/min after the burst")
    print_signing(report["signing"])
    checks["signing: no errors"] = all(v["errors"] == 0 for v in report["signing"].values())
    for check, passed in checks.items():
        print(f"  [{'ok' if passed else 'FAIL'}] {check}")
    write(report)
    return 0 if all(checks.values()) else 1


def signing_only(stack: Stack, args) -> int:
    report = {"signing": signing(stack, args.signing_requests, args.before)}
    print_signing(report["signing"])
    write(report)
    return 0 if all(v["errors"] == 0 for v in report["signing"].values()) else 1


def write(report: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"load_upload_urls-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"written {out}")


if __name__ == "__main__":
    sys.exit(main())
