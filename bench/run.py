#!/usr/bin/env python3
"""The gateway's benchmark suite: each scenario measures the gateway and the reference systems in the
same run, on the same machine, in alternating rounds, and reports medians, ranges and ratios.

Started by `make bench`; writes docs/benchmarks.md, docs/benchmarks/results.{json,csv},
docs/benchmarks/chart.svg and docs/benchmarks/job-sizes.svg. Standard library only. See
docs/benchmarks.md for what each scenario measures and why the reference is the one chosen.
Scenarios (`--only`): see SCENARIOS; the curves and the burst also record each process's CPU.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import hashlib
import http.client
import json
import math
import os
import platform
import random
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
DOCS = ROOT / "docs"
OUT = DOCS / "benchmarks"

# The simulator's published development credentials (vendor_sim::dev).
NX_ACCESS_KEY = "dev-nx-access-key"
NX_ACCESS_SECRET = "dev-nx-access-secret"
NX_APPKEY = "dev-nx-appkey"
NX_BOUND = ["8613800138024", "14155550123", "85291234567"]
WSCRM_HEADER, WSCRM_KEY = "X-Api-Key", "dev-wscrm-key"
SCOPES = "numbers:read numbers:check business:read"
# The HS256 secret the gateway accepts with `auth.allow_dev_secret` (its tokens are minted with it).
DEV_JWT_SECRET = "dev-only-secret-change-me-0123456789abcdef"
# Per-tenant requests per minute, the same for the gateway and HAProxy with JWT: high enough
# that no round is refused, still counted on every request.
RATE_LIMIT_PER_MINUTE = 1_000_000_000
HAPROXY_JWT = "haproxy JWT + rate limit"
TENANT = "bench"
# In the order they run.
SCENARIOS = ("idle", "cached_lookup", "passthrough", "workers", "replicas", "burst", "jwt", "result_parsing",
             "bulk", "job_sizes")


# ---------------------------------------------------------------------------------------------
# small utilities


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(port: int, path: str, timeout: float = 30.0, expect: int = 200) -> float:
    """Seconds until `GET path` answers `expect`; raises after `timeout`."""
    start = time.monotonic()
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", path)
            status = conn.getresponse().status
            conn.close()
            if status == expect:
                return time.monotonic() - start
        except OSError:
            pass
        if time.monotonic() - start > timeout:
            raise RuntimeError(f"127.0.0.1:{port}{path} did not answer {expect} in {timeout} s")
        time.sleep(0.002)


def rss_kb(pid: int, field_name: str = "VmRSS") -> int:
    """Resident memory of `pid` and its children (nginx and haproxy fork workers), in KiB."""
    total = 0
    for p in [pid, *children(pid)]:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith(field_name + ":"):
                    total += int(line.split()[1])
    return total


def children(pid: int) -> list[int]:
    out = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                out += [int(c) for c in (task / "children").read_text().split()]
    return out


CLK_TCK = os.sysconf("SC_CLK_TCK")


def read_sysctl(name: str) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/sys/{name}").read_text().strip()
    return "?"


def listen_backlog(port: int) -> str:
    """The accept queue length of the socket listening on `port` (`ss` shows it as Send-Q)."""
    with contextlib.suppress(OSError, IndexError):
        out = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True).stdout
        return out.split()[2]
    return "?"


def raise_open_files(needed: int) -> None:
    """wrk and the gateway each hold one descriptor per burst connection; they inherit this limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        new = needed if hard == resource.RLIM_INFINITY else min(hard, max(needed, 65536))
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        soft = new
    if soft < needed:
        raise RuntimeError(f"open files limited to {soft}, the burst needs {needed}: raise `ulimit -n`")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of `pid` (all its threads) so far, from /proc/<pid>/stat."""
    with contextlib.suppress(OSError):
        # The command name may hold spaces and parentheses: fields are counted after its last ")".
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    return 0.0


def machine_cpu() -> tuple[int, int]:
    """(busy, total) jiffies of all cores since boot, from /proc/stat; idle and iowait are not busy."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    total = sum(values[:8])  # guest time is already counted in user
    return total - values[3] - values[4], total


class CpuShare:
    """Cores each process used over a measured interval (1.0 = one core busy all the time), the
    load generator's (the suite's reaped children: only wrk runs and ends inside the interval)
    and the whole machine's, so a table can show who took the cores."""

    def __init__(self, pids: dict[str, list[int]]):
        self.pids = pids
        self.before = {name: sum(cpu_seconds(p) for p in ps) for name, ps in pids.items()}
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.children = ru.ru_utime + ru.ru_stime
        self.machine = machine_cpu()
        self.started = time.monotonic()

    def stop(self, run: "Run") -> "Run":
        wall = time.monotonic() - self.started
        known = 0.0
        for name, ps in self.pids.items():
            cores = (sum(cpu_seconds(p) for p in ps) - self.before[name]) / wall
            run.extra[f"cpu_{name}"] = cores
            known += cores
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        run.extra["cpu_wrk"] = (ru.ru_utime + ru.ru_stime - self.children) / wall
        known += run.extra["cpu_wrk"]
        busy, total = machine_cpu()
        machine = (busy - self.machine[0]) / max(1, total - self.machine[1]) * (os.cpu_count() or 1)
        run.extra["cpu_machine"] = machine
        # Everything else on the machine: other processes, the kernel's softirq work on loopback.
        run.extra["cpu_other"] = max(0.0, machine - known)
        return run


def cmd_version(argv: list[str]) -> str:
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        text = (p.stdout + p.stderr).strip().splitlines()
        return text[0] if text else "?"
    except OSError:
        return "not found"


def http_json(port: int, method: str, path: str, token: str | None = None, body=None, timeout=600):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    conn.request(method, path, body=data, headers=headers)
    resp = conn.getresponse()
    raw = resp.read()
    conn.close()
    try:
        return resp.status, json.loads(raw) if raw else None
    except ValueError:
        return resp.status, raw.decode(errors="replace")


class Procs:
    """Background processes, stopped (TERM, then KILL) when the suite ends."""

    def __init__(self, logdir: Path):
        self.logdir = logdir
        self.items: list[subprocess.Popen] = []

    def start(self, name: str, argv: list[str], env: dict | None = None) -> subprocess.Popen:
        logf = open(self.logdir / f"{name}.log", "ab")
        p = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
                             start_new_session=True)
        self.items.append(p)
        return p

    def stop(self, p: subprocess.Popen) -> None:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, 15)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, 9)
                p.wait()
        with contextlib.suppress(ValueError):
            self.items.remove(p)

    def stop_all(self) -> None:
        for p in list(reversed(self.items)):
            self.stop(p)


# ---------------------------------------------------------------------------------------------
# figures


@dataclass
class Run:
    """One round of one system in one scenario."""
    rps: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    errors: int = 0
    extra: dict = field(default_factory=dict)


@dataclass
class System:
    name: str
    runs: list[Run] = field(default_factory=list)
    reference: bool = False
    group: str = ""

    def values(self, attr: str) -> list[float]:
        found = (getattr(r, attr) if attr in ("rps", "p50_ms", "p99_ms") else r.extra.get(attr) for r in self.runs)
        return [v for v in found if v is not None]

    def median(self, attr: str) -> float | None:
        v = self.values(attr)
        return statistics.median(v) if v else None

    def span(self, attr: str) -> tuple[float, float] | None:
        v = self.values(attr)
        return (min(v), max(v)) if v else None


@dataclass
class Scenario:
    key: str
    title: str
    unit_note: str
    systems: list[System] = field(default_factory=list)
    targets: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)

    def system(self, name: str, reference: bool = False) -> System:
        for s in self.systems:
            if s.name == name:
                return s
        s = System(name, reference=reference)
        self.systems.append(s)
        return s

    def reference(self) -> System | None:
        return next((s for s in self.systems if s.reference), None)


# ---------------------------------------------------------------------------------------------
# load generators


WRK_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"socket_errors":%d,"status_errors":%d,' ..
    '"connect":%d,"read":%d,"write":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    e.connect, e.read, e.write, e.timeout, latency:percentile(50), latency:percentile(99), latency.max))
end
"""

WRK_PATHS = r"""
local paths = {}
local i = 0
local pause = 0
init = function(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  pause = tonumber(args[2] or "0")
  i = math.random(#paths)
end
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
delay = function() return pause end
"""


def wrk(url: str, script: Path, args: list[str], connections: int, seconds: int,
        headers: list[str] = (), threads: int = 2) -> Run:
    argv = ["wrk", "-t", str(min(threads, connections)), "-c", str(connections), "-d", f"{seconds}s",
            "--timeout", "5s", "-s", str(script)]
    for h in headers:
        argv += ["-H", h]
    argv += [url, "--", *args]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    line = next((ln for ln in p.stdout.splitlines() if ln.startswith("BENCHJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary:\n{p.stdout}\n{p.stderr}")
    d = json.loads(line[len("BENCHJSON "):])
    return Run(rps=d["requests"] / (d["duration_us"] / 1e6), p50_ms=d["p50_us"] / 1000,
               p99_ms=d["p99_us"] / 1000, errors=d["socket_errors"] + d["status_errors"],
               extra={"requests": d["requests"], "max_ms": d["max_us"] / 1000,
                      **{k: d[k] for k in ("connect", "read", "write", "timeout")},
                      "non_2xx": d["status_errors"]})


def redis_benchmark(port: int, connections: int, requests: int, keyspace: int, value_bytes: int,
                    test: str = "get") -> Run:
    argv = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-c", str(connections),
            "-n", str(requests), "-r", str(keyspace), "-d", str(value_bytes), "-t", test, "--csv"]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    rows = list(csv.reader(p.stdout.strip().splitlines()))
    header, values = rows[0], rows[-1]
    d = dict(zip(header, values))
    return Run(rps=float(d["rps"]), p50_ms=float(d["p50_latency_ms"]), p99_ms=float(d["p99_latency_ms"]),
               extra={"requests": requests})


# ---------------------------------------------------------------------------------------------
# the systems under test


class Bench:
    def __init__(self, args):
        self.args = args
        self.run_dir = Path(tempfile.mkdtemp(prefix="wagw-bench-"))
        self.procs = Procs(self.run_dir)
        # cargo puts the `dev` profile's binaries in `debug`.
        self.bin = Path(args.target_dir) / ("debug" if args.profile == "dev" else args.profile)
        self.scenarios: list[Scenario] = []
        self.redis_port = free_port()
        self.sim_port = free_port()
        self.gw_port = free_port()
        self.redis = None
        self.sim = None
        self.gw = None
        self.token = ""
        # The key prefix of the main gateway: the curves' gateways share it, so they read its cache.
        self.prefix = f"bench:{random.getrandbits(48):x}:"
        self.cached_numbers: list[str] = []
        self.lookup: tuple[Path, Path] | None = None
        self.bulk_results: dict[int, list[dict]] = {}
        log(f"logs and generated configs in {self.run_dir}")

    # ---- infrastructure ----------------------------------------------------------------------

    def start_redis(self):
        self.redis = self.procs.start("redis", [
            "redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(self.run_dir)])
        for _ in range(500):
            if subprocess.run(["redis-cli", "-p", str(self.redis_port), "ping"], capture_output=True,
                              text=True).stdout.strip() == "PONG":
                return
            time.sleep(0.01)
        raise RuntimeError("redis-server did not start")

    def sim_config(self) -> Path:
        path = self.run_dir / "sim.json"
        path.write_text(json.dumps({
            "workers": 2,
            "speed": {"screening_base_ms": 50, "screening_numbers_per_second": 0,
                      "ekycpro_pending_ms": 0, "ekycpro_numbers_per_second": 0, "ekycpro_export_ms": 0},
            "nxcloud": {"appkeys": {NX_APPKEY: NX_BOUND}},
        }))
        return path

    def start_sim(self):
        self.sim = self.procs.start("vendor-sim", [
            str(self.bin / "vendor-sim"), "--listen", f"127.0.0.1:{self.sim_port}",
            "--config", str(self.sim_config())], env={"RUST_LOG": "warn"})
        wait_http(self.sim_port, "/_sim/ledger")

    def gateway_config(self, port: int, prefix: str, workers: int | None = None) -> Path:
        base = f"http://127.0.0.1:{self.sim_port}"
        text = f"""
[server]
listen = "127.0.0.1:{port}"
workers = {workers or self.args.gateway_workers}

[store]
redis_url = "redis://127.0.0.1:{self.redis_port}"
key_prefix = "{prefix}"

[auth]
allow_dev_secret = true

[log]
format = "json"
level = "warn"

[limits.rate_limits.default]
requests = {RATE_LIMIT_PER_MINUTE}
per = "1m"

[limits.rate_limits."numbers:check"]
requests = {RATE_LIMIT_PER_MINUTE}
per = "1m"

[accounts]
business_phones_cache_ttl = "0s"

[number_checks]
worker_interval = "20ms"
poll_initial = "50ms"
poll_max = "200ms"

[vendors.wscrm]
bus_api_base_url = "{base}/wscrm-bus-api"
dispatch_api_base_url = "{base}/group-dispatch-api"
result_hosts = ["{base}"]
auth_headers = {{ "{WSCRM_HEADER}" = "{WSCRM_KEY}" }}

[vendors.ekycpro]
base_url = "{base}"
user_id = "dev-user"
api_key = "dev-ekycpro-key"
result_hosts = ["{base}"]

[vendors.nxcloud]
base_url = "{base}"
access_key = "{NX_ACCESS_KEY}"
access_secret = "{NX_ACCESS_SECRET}"
appkey = "{NX_APPKEY}"
"""
        path = self.run_dir / f"gateway-{port}.toml"
        path.write_text(text)
        return path

    def start_gateway(self, port: int | None = None, name: str = "gateway", prefix: str | None = None,
                      workers: int | None = None) -> tuple[subprocess.Popen, float]:
        port = port or self.gw_port
        config = self.gateway_config(port, prefix or f"bench:{random.getrandbits(48):x}:", workers)
        started = time.monotonic()
        p = self.procs.start(name, [str(self.bin / "gateway-api"), "--config", str(config), "serve"])
        wait_http(port, "/readyz")
        return p, time.monotonic() - started

    def mint_token(self):
        config = self.gateway_config(self.gw_port, "bench:")
        p = subprocess.run([str(self.bin / "gateway-api"), "--config", str(config), "token", "--tenant",
                            TENANT, "--scope", SCOPES, "--ttl", "6h"], capture_output=True, text=True, check=True)
        self.token = p.stdout.strip()

    # ---- scenario: idle ----------------------------------------------------------------------

    def scenario_idle(self):
        sc = Scenario("idle", "Idle: start-up time and resident memory",
                      "start-up = process start until the health route answers 200; RSS after 2 s idle "
                      "(all processes of the system)")
        sc.targets.append({"what": f"gateway idle RSS with {self.args.gateway_workers} workers", "limit": "≤ 30 MB"})
        sc.targets.append({"what": "gateway start-up", "limit": "≤ 50 ms"})
        gw = sc.system("gateway")
        ng = sc.system("nginx", reference=True)
        ha = sc.system("haproxy")
        # One start of each system first, not counted: the first start after a build reads the
        # binary from disk, which is the disk's time, not the system's.
        for start in (lambda: self.start_gateway(free_port(), "gateway-warm-up"),
                      lambda: self.start_nginx(free_port(), upstream=self.sim_port),
                      lambda: self.start_haproxy(free_port(), upstream=self.sim_port)):
            self.procs.stop(start()[0])
        for _ in range(self.args.idle_rounds):
            port = free_port()
            p, startup = self.start_gateway(port, "gateway-idle")
            time.sleep(2)
            gw.runs.append(Run(extra={"startup_ms": startup * 1000, "rss_mb": rss_kb(p.pid) / 1024,
                                      "workers": self.args.gateway_workers}))
            self.procs.stop(p)
            p, startup = self.start_nginx(free_port(), upstream=self.sim_port)
            time.sleep(2)
            ng.runs.append(Run(extra={"startup_ms": startup * 1000, "rss_mb": rss_kb(p.pid) / 1024}))
            self.procs.stop(p)
            p, startup = self.start_haproxy(free_port(), upstream=self.sim_port)
            time.sleep(2)
            ha.runs.append(Run(extra={"startup_ms": startup * 1000, "rss_mb": rss_kb(p.pid) / 1024}))
            self.procs.stop(p)
        sc.commands.append("gateway-api --config gateway.toml serve; nginx -p DIR -c nginx.conf; haproxy -db -f haproxy.cfg")
        sc.notes.append(f"{self.args.idle_rounds} alternating starts of each system, after one start of each that is "
                        "not counted (it reads the binary from disk)")
        self.scenarios.append(sc)

    # ---- scenario: cached lookup ---------------------------------------------------------------

    def seed_cache(self, count: int):
        """A number-check job over `count` numbers, so every one is cached afterwards."""
        numbers = [f"+9198{i:08d}" for i in range(10_000_000, 10_000_000 + count)]
        status, job = http_json(self.gw_port, "POST", "/v1/number-checks", self.token,
                                {"numbers": numbers, "checks": ["registered"]})
        if status not in (200, 202):
            raise RuntimeError(f"seeding job refused: {status} {job}")
        deadline = time.monotonic() + 300
        while job.get("status") not in ("completed", "completed_with_errors", "failed"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"seeding job did not finish: {job}")
            time.sleep(0.2)
            _, job = http_json(self.gw_port, "GET", f"/v1/number-checks/{job['id']}", self.token)
        if job["status"] != "completed":
            raise RuntimeError(f"seeding job ended {job['status']}: {job.get('errors')}")
        self.cached_numbers = numbers
        # One lookup must be a cache hit, or the scenario would measure the vendor.
        status, body = http_json(self.gw_port, "GET", f"/v1/numbers/{urllib.parse.quote(numbers[0])}?checks=registered",
                                 self.token)
        if status != 200 or not body.get("from_cache"):
            raise RuntimeError(f"seeded number is not served from cache: {status} {body}")

    def lookup_load(self) -> tuple[Path, Path]:
        """The cached numbers' lookup paths and the wrk script cycling over them (the cache is seeded
        once per run, by the first scenario that needs it)."""
        if self.lookup is None:
            if not self.cached_numbers:
                log("seeding the cache")
                self.seed_cache(self.args.cached_numbers)
            paths = self.run_dir / "lookup-paths.txt"
            paths.write_text("".join(f"/v1/numbers/{urllib.parse.quote(n)}?checks=registered\n"
                                     for n in self.cached_numbers))
            script = self.run_dir / "lookup.lua"
            script.write_text(WRK_PATHS + WRK_DONE)
            self.lookup = (paths, script)
        return self.lookup

    def cached_value_bytes(self) -> int:
        keys = subprocess.run(["redis-cli", "-p", str(self.redis_port), "--scan", "--pattern", "*nc:cache:*",
                               "--count", "1000"], capture_output=True, text=True).stdout.split()[:50]
        sizes = [int(subprocess.run(["redis-cli", "-p", str(self.redis_port), "strlen", k], capture_output=True,
                                    text=True).stdout.strip() or 0) for k in keys]
        return int(statistics.mean(sizes)) if sizes else 256

    def scenario_cached_lookup(self):
        c, secs = self.args.connections, self.args.seconds
        self.lookup_load()
        sc = Scenario("cached_lookup", "Cached lookup: GET /v1/numbers/{n} vs redis-benchmark GET",
                      f"{len(self.cached_numbers)} distinct cached numbers, {c} connections, {secs} s per round; "
                      "the gateway authenticates (HS256), rate-limits and counts usage in Redis on every request")
        sc.targets.append({"what": "gateway rps / redis-benchmark GET rps", "limit": "≥ 0.5"})
        sc.targets.append({"what": "gateway p99 at half its peak rate", "limit": "≤ 2 ms"})
        paths, script = self.lookup_load()
        value_bytes = self.cached_value_bytes()
        # The same number of keys with values of the cached records' size, on the same Redis.
        subprocess.run(["redis-benchmark", "-p", str(self.redis_port), "-t", "set", "-n", "200000", "-r",
                        str(len(self.cached_numbers)), "-d", str(value_bytes), "-q"], capture_output=True, check=True)
        gw = sc.system("gateway")
        rb = sc.system("redis-benchmark GET", reference=True)
        url = f"http://127.0.0.1:{self.gw_port}"
        auth = [f"Authorization: Bearer {self.token}"]
        wrk(url, script, [str(paths)], c, 2, auth)  # warm-up
        for _ in range(self.args.rounds):
            run = wrk(url, script, [str(paths)], c, secs, auth)
            gw.runs.append(run)
            ref_requests = max(50_000, int((rb.median("rps") or 50_000) * secs))
            rb.runs.append(redis_benchmark(self.redis_port, c, ref_requests, len(self.cached_numbers), value_bytes))
        # Half the gateway's peak: the fewest connections (closed loop, no think time) whose
        # throughput reaches half the peak. Think time would make wrk's connections fire in
        # bursts and measure the bursts, not the load.
        peak = gw.median("rps") or 1000
        half = sc.system("gateway at half peak")
        conns = 1
        while conns < c:
            probe = wrk(url, script, [str(paths)], conns, 3, auth, threads=1)
            if probe.rps >= peak / 2:
                break
            conns *= 2
        for _ in range(self.args.rounds):
            run = wrk(url, script, [str(paths)], conns, secs, auth, threads=1)
            run.extra["connections"] = conns
            run.extra["share_of_peak"] = run.rps / peak
            half.runs.append(run)
        half_conns = conns
        sc.commands += [f"wrk -t2 -c{c} -d{secs}s -s lookup.lua -H 'Authorization: Bearer …' {url} -- paths.txt",
                        f"redis-benchmark -c {c} -n N -r {len(self.cached_numbers)} -d {value_bytes} -t get --csv",
                        f"wrk -t1 -c{half_conns} -d{secs}s -s lookup.lua … -- paths.txt  (the fewest connections reaching half the peak)"]
        sc.notes.append(f"redis-benchmark values are {value_bytes} bytes, the mean size of a cached record.")
        self.scenarios.append(sc)

    # ---- scenario: passthrough -----------------------------------------------------------------

    def start_nginx(self, port: int, upstream: int) -> tuple[subprocess.Popen, float]:
        d = self.run_dir / f"nginx-{port}"
        d.mkdir(exist_ok=True)
        conf = d / "nginx.conf"
        conf.write_text(f"""
daemon off;
master_process on;
worker_processes {self.args.gateway_workers};
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  upstream sim {{ server 127.0.0.1:{upstream}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port};
    location = /healthz {{ return 200 "ok"; }}
    location / {{
      proxy_pass http://sim;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
}}
""")
        started = time.monotonic()
        p = self.procs.start(f"nginx-{port}", ["nginx", "-p", str(d), "-c", str(conf), "-e", f"{d}/error.log"])
        wait_http(port, "/healthz")
        return p, time.monotonic() - started

    def start_haproxy(self, port: int, upstream: int) -> tuple[subprocess.Popen, float]:
        cfg = self.run_dir / f"haproxy-{port}.cfg"
        cfg.write_text(f"""
global
  nbthread {self.args.gateway_workers}
  maxconn 8192
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  option http-keep-alive
frontend fe
  bind 127.0.0.1:{port}
  http-request return status 200 content-type text/plain string ok if {{ path /healthz }}
  default_backend sim
backend sim
  http-reuse always
  server sim 127.0.0.1:{upstream}
""")
        started = time.monotonic()
        p = self.procs.start(f"haproxy-{port}", ["haproxy", "-db", "-f", str(cfg)])
        wait_http(port, "/healthz")
        return p, time.monotonic() - started

    def start_haproxy_jwt(self, port: int, upstream: int, secret: str = DEV_JWT_SECRET,
                          per_minute: int = RATE_LIMIT_PER_MINUTE) -> tuple[subprocess.Popen, float]:
        """HAProxy doing the gateway's edge work natively: the bearer token's HS256 signature and
        expiry are checked, the tenant claim is counted in a stick table (`http_req_rate(60s)`,
        local to the process), over the limit is 429; then the pre-signed vendor request goes on."""
        cfg = self.run_dir / f"haproxy-jwt-{port}.cfg"
        cfg.write_text(f"""
global
  nbthread {self.args.gateway_workers}
  maxconn 8192
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  option http-keep-alive
frontend fe
  bind 127.0.0.1:{port}
  http-request return status 200 content-type text/plain string ok if {{ path /healthz }}
  http-request deny status 401 unless {{ http_auth_bearer -m found }}
  http-request set-var(txn.alg) http_auth_bearer,jwt_header_query('$.alg')
  http-request deny status 401 unless {{ var(txn.alg) -m str HS256 }}
  http-request deny status 401 unless {{ http_auth_bearer,jwt_verify(txn.alg,"{secret}") -m int 1 }}
  http-request set-var(txn.exp) http_auth_bearer,jwt_payload_query('$.exp','int')
  http-request set-var(txn.now) date()
  http-request deny status 401 if {{ var(txn.exp),sub(txn.now) -m int le 0 }}
  http-request set-var(txn.tenant) http_auth_bearer,jwt_payload_query('$.tenant')
  http-request deny status 401 unless {{ var(txn.tenant) -m found }}
  http-request track-sc0 var(txn.tenant) table tenants
  http-request deny status 429 if {{ sc_http_req_rate(0) gt {per_minute} }}
  default_backend sim
backend tenants
  stick-table type string len 128 size 100k expire 2m store http_req_rate(60s)
backend sim
  http-reuse always
  server sim 127.0.0.1:{upstream}
""")
        subprocess.run(["haproxy", "-c", "-q", "-f", str(cfg)], check=True)
        started = time.monotonic()
        p = self.procs.start(f"haproxy-jwt-{port}", ["haproxy", "-db", "-f", str(cfg)])
        wait_http(port, "/healthz")
        return p, time.monotonic() - started

    def signed_get_phone_script(self) -> Path:
        """A wrk script sending NxCloud getPhone as the gateway sends it, signed now (the vendor
        accepts a signature for 60 s, longer than a round)."""
        body = json.dumps({"appkey": NX_APPKEY, "messaging_product": "whatsapp"}, separators=(",", ":"))
        headers = {"accessKey": NX_ACCESS_KEY, "ts": str(int(time.time() * 1000)), "bizType": "2",
                   "action": "getPhone"}
        text = "&".join(f"{k}={v}" for k, v in sorted(headers.items(), key=lambda kv: kv[0].encode()))
        text += f"&body={body}&accessSecret={NX_ACCESS_SECRET}"
        headers["sign"] = hashlib.md5(text.encode()).hexdigest()
        headers["Content-Type"] = "application/json"
        lines = ['wrk.method = "POST"', 'wrk.path = "/api/wa/getPhone"', f"wrk.body = {json.dumps(body)}"]
        lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
        script = self.run_dir / "getphone.lua"
        script.write_text("\n".join(lines) + "\n" + WRK_DONE)
        return script

    def check_passthrough(self, port: int, script: Path, label: str, headers: list[str] = ()):
        """One request first, so a round never measures error answers."""
        run = wrk(f"http://127.0.0.1:{port}", script, [], 1, 1, headers)
        if run.errors or not run.extra["requests"]:
            raise RuntimeError(f"{label}: the getPhone request fails ({run})")

    def scenario_passthrough(self):
        c, secs = self.args.connections, self.args.seconds
        sc = Scenario("passthrough", "Passthrough: business numbers (NxCloud getPhone), caching off",
                      f"{c} connections, {secs} s per round; the gateway verifies the JWT, rate-limits in Redis, "
                      "signs the vendor call and translates the answer; the proxies forward a pre-signed vendor request")
        sc.targets.append({"what": f"gateway rps / {HAPROXY_JWT} rps", "limit": "≥ 1.0"})
        sc.targets.append({"what": f"gateway p99 − {HAPROXY_JWT} p99", "limit": "≤ 1 ms"})
        nginx_port, haproxy_port, haproxy_jwt_port = free_port(), free_port(), free_port()
        ng_proc, _ = self.start_nginx(nginx_port, self.sim_port)
        ha_proc, _ = self.start_haproxy(haproxy_port, self.sim_port)
        hj_proc, _ = self.start_haproxy_jwt(haproxy_jwt_port, self.sim_port)
        gw_script = self.run_dir / "business-phones.lua"
        gw_script.write_text('wrk.path = "/v1/business-phones"\n' + WRK_DONE)
        status, body = http_json(self.gw_port, "GET", "/v1/business-phones", self.token)
        if status != 200 or len(body.get("items", [])) != len(NX_BOUND):
            raise RuntimeError(f"business phones through the gateway: {status} {body}")
        auth = [f"Authorization: Bearer {self.token}"]
        # The reference is the proxy doing the same edge work (the peer); nginx and plain
        # HAProxy show what forwarding alone costs.
        systems = [("gateway", self.gw_port, False), ("nginx proxy_pass", nginx_port, False),
                   ("haproxy", haproxy_port, False), (HAPROXY_JWT, haproxy_jwt_port, True),
                   ("simulator direct", self.sim_port, False)]
        for name, port, ref in systems:
            sc.system(name, reference=ref)
        for r in range(self.args.rounds):
            order = systems if r % 2 == 0 else list(reversed(systems))
            for name, port, _ in order:
                if name == "gateway":
                    run = wrk(f"http://127.0.0.1:{port}", gw_script, [], c, secs, auth)
                else:
                    # HAProxy with JWT gets the caller's token, as the gateway does.
                    headers = auth if name == HAPROXY_JWT else []
                    script = self.signed_get_phone_script()
                    self.check_passthrough(port, script, name, headers)
                    run = wrk(f"http://127.0.0.1:{port}", script, [], c, secs, headers)
                sc.system(name).runs.append(run)
        self.procs.stop(ng_proc)
        self.procs.stop(ha_proc)
        self.procs.stop(hj_proc)
        sc.commands += [f"wrk -t2 -c{c} -d{secs}s -H 'Authorization: Bearer …' http://gateway/v1/business-phones",
                        f"wrk -t2 -c{c} -d{secs}s -s getphone.lua http://{{nginx,haproxy,simulator}}/api/wa/getPhone",
                        f"wrk -t2 -c{c} -d{secs}s -s getphone.lua -H 'Authorization: Bearer …' "
                        "http://haproxy-jwt/api/wa/getPhone"]
        sc.notes.append(f"{HAPROXY_JWT}: HAProxy checks the bearer token (HS256 signature with jwt_verify, "
                        "`exp` against date()) and counts the tenant claim in a stick table "
                        f"(http_req_rate(60s), deny 429 over {RATE_LIMIT_PER_MINUTE}/min) before forwarding the "
                        "pre-signed vendor request. Its count is local to the process, not shared across replicas.")
        self.scenarios.append(sc)

    # ---- scenarios: worker and replica curves, burst ------------------------------------------

    def spread_script(self, ports: list[int]) -> Path:
        """The lookup script with wrk's threads given the ports in turn: with -t2 and two ports each
        thread keeps its connections on one gateway, so no load balancer takes CPU from the two cores."""
        _, lookup = self.lookup_load()
        script = self.run_dir / f"lookup-{'-'.join(map(str, ports))}.lua"
        script.write_text(f"""
local ports = {{{", ".join(f'"{p}"' for p in ports)}}}
local started = 0
setup = function(thread)
  started = started + 1
  thread.addr = wrk.lookup("127.0.0.1", ports[(started - 1) % #ports + 1])[1]
end
""" + lookup.read_text())
        return script

    def measured_lookups(self, ports: list[int], gateways: list[subprocess.Popen], connections: int,
                         seconds: int, threads: int = 2) -> Run:
        """A round of cached lookups with the CPU each party used during it."""
        paths, _ = self.lookup_load()
        script = self.spread_script(ports)
        auth = [f"Authorization: Bearer {self.token}"]
        url = f"http://127.0.0.1:{ports[0]}"
        share = CpuShare({"gateway": [g.pid for g in gateways], "redis": [self.redis.pid]})
        run = wrk(url, script, [str(paths)], connections, seconds, auth, threads=threads)
        return share.stop(run)

    def scenario_workers(self):
        c, secs = self.args.connections, self.args.seconds
        counts = [int(x) for x in self.args.worker_counts.split(",")]
        sc = Scenario("workers", "Worker curve: cached lookups by server.workers",
                      f"one gateway with 1, 2, … HTTP workers, the same wrk load (2 threads, {c} connections, {secs} s "
                      "per round), rounds alternating; CPU in cores (1.0 = one core all the time) from /proc during "
                      f"the round; the machine has {os.cpu_count()} cores")
        sc.targets.append({"what": "2 workers rps / 1 worker rps", "limit": "≥ 1.8"})
        self.lookup_load()
        for n in counts:
            sc.system(f"{n} worker{'s' if n > 1 else ''}", reference=(n == 1)).group = str(n)
        for r in range(self.args.curve_rounds):
            for n in (counts if r % 2 == 0 else list(reversed(counts))):
                port = free_port()
                gw, _ = self.start_gateway(port, f"gateway-workers-{n}", prefix=self.prefix, workers=n)
                self.measured_lookups([port], [gw], c, 2)  # warm-up: connections and pools
                run = self.measured_lookups([port], [gw], c, secs)
                run.extra["workers"] = n
                sc.system(f"{n} worker{'s' if n > 1 else ''}").runs.append(run)
                self.procs.stop(gw)
        sc.commands.append(f"wrk -t2 -c{c} -d{secs}s -s lookup.lua -H 'Authorization: Bearer …' "
                           "http://gateway/ -- paths.txt  (server.workers = " + ", ".join(map(str, counts)) + ")")
        self.scenarios.append(sc)

    def scenario_replicas(self):
        c, secs, w = self.args.connections, self.args.seconds, self.args.replica_workers
        sc = Scenario("replicas", "Replica curve: cached lookups, one vs two gateway processes on one Redis",
                      f"each replica with {w} HTTP worker{'s' if w > 1 else ''}, the same key prefix and Redis; "
                      f"wrk (2 threads, {c} connections, {secs} s per round) puts each thread's connections on one "
                      "replica's port (thread.addr in the script's setup), so no load balancer shares the cores; "
                      "CPU in cores, gateway = all replicas")
        sc.targets.append({"what": "2 replicas rps / 1 replica rps", "limit": "≥ 1.6"})
        self.lookup_load()
        names = {1: "1 replica", 2: "2 replicas"}
        for k, name in names.items():
            sc.system(name, reference=(k == 1)).group = str(k)
        for r in range(self.args.curve_rounds):
            for k in ((1, 2) if r % 2 == 0 else (2, 1)):
                ports = [free_port() for _ in range(k)]
                gws = [self.start_gateway(p, f"gateway-replica-{i}", prefix=self.prefix, workers=w)[0]
                       for i, p in enumerate(ports)]
                self.measured_lookups(ports, gws, c, 2)
                run = self.measured_lookups(ports, gws, c, secs)
                run.extra["replicas"] = k
                sc.system(names[k]).runs.append(run)
                for g in gws:
                    self.procs.stop(g)
        sc.commands.append(f"wrk -t2 -c{c} -d{secs}s -s lookup-<ports>.lua -H 'Authorization: Bearer …' "
                           "http://127.0.0.1:<first port>/ -- paths.txt")
        self.scenarios.append(sc)

    def scenario_burst(self):
        c, secs = self.args.burst_connections, self.args.burst_seconds
        sc = Scenario("burst", f"Burst: {c:,} connections on cached lookups",
                      f"wrk opens {c:,} connections at once to one gateway ({self.args.gateway_workers} workers) and "
                      f"keeps them busy for {secs} s per round; any connect, read, write or timeout error (5 s) or "
                      "non-2xx answer counts")
        sc.targets.append({"what": "errors (connect, read, write, timeout, non-2xx)", "limit": "= 0"})
        self.lookup_load()
        s = sc.system("gateway")
        backlog = "?"
        for _ in range(self.args.curve_rounds):
            port = free_port()
            gw, _ = self.start_gateway(port, "gateway-burst", prefix=self.prefix)
            backlog = listen_backlog(port)
            # The first wrk connection's handshake should not be the first the gateway ever serves.
            self.measured_lookups([port], [gw], 4, 1)
            run = self.measured_lookups([port], [gw], c, secs)
            run.extra["connections"] = c
            s.runs.append(run)
            self.procs.stop(gw)
        sc.commands.append(f"wrk -t2 -c{c} -d{secs}s --timeout 5s -s lookup.lua -H 'Authorization: Bearer …' "
                           "http://gateway/ -- paths.txt")
        sc.notes.append(f"open files: soft limit {resource.getrlimit(resource.RLIMIT_NOFILE)[0]} for wrk and the "
                        f"gateway; the gateway's listen backlog: {backlog} (net.core.somaxconn = "
                        f"{read_sysctl('net/core/somaxconn')}): connections beyond it wait for the kernel to retry "
                        "their SYN, which can show in the p99")
        self.scenarios.append(sc)

    # ---- scenarios measured by criterion --------------------------------------------------------

    def criterion(self, bench: str, group: str) -> dict[str, dict]:
        target = Path(self.args.target_dir)
        subprocess.run(["cargo", "bench", "--locked", "-p", "gateway-api", "--bench", bench], cwd=ROOT,
                       check=True, env={**os.environ, "CARGO_TARGET_DIR": str(target),
                                        "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}"})
        out = {}
        base = target / "criterion" / group
        for d in sorted(base.iterdir()) if base.is_dir() else []:
            est = d / "new" / "estimates.json"
            sample = d / "new" / "sample.json"
            if not est.is_file():
                continue
            e = json.loads(est.read_text())
            s = json.loads(sample.read_text())
            per_iter = [t / i for t, i in zip(s["times"], s["iters"])]
            out[d.name] = {"median_ns": e["median"]["point_estimate"], "min_ns": min(per_iter),
                           "max_ns": max(per_iter), "samples": len(per_iter)}
        return out

    def scenario_jwt(self):
        sc = Scenario("jwt", "JWT verification per request (criterion)",
                      "time per verification; reference = the bare jsonwebtoken decode with the same key and checks")
        figures = self.criterion("jwt", "jwt")
        for alg in ("hs256", "rs256"):
            for who, ref in (("gateway", False), ("reference", True)):
                f = figures.get(f"{alg}_{who}")
                if not f:
                    continue
                s = sc.system(f"{alg.upper()} {'gateway' if who == 'gateway' else 'jsonwebtoken'}", reference=ref)
                s.group = alg
                s.runs.append(Run(extra={"time_us": f["median_ns"] / 1000, "time_min_us": f["min_ns"] / 1000,
                                         "time_max_us": f["max_ns"] / 1000}))
        sc.commands.append("cargo bench -p gateway-api --bench jwt")
        self.scenarios.append(sc)

    def scenario_result_parsing(self):
        sc = Scenario("result_parsing", "Result parsing: a 20,000-row result xlsx downloaded, parsed and stored (criterion)",
                      "reference = calamine reading every cell of the same file")
        sc.targets.append({"what": "20,000 rows parsed and stored", "limit": "≤ 300 ms"})
        sc.targets.append({"what": "20,000 three-check rows stored", "limit": "≤ 300 ms"})
        figures = self.criterion("result_parsing", "result_parsing")
        for name, label, ref in (("parse_and_store_20000", "gateway: download + parse + store", False),
                                 ("store_20000", "gateway: store only", False),
                                 ("calamine_read_20000", "calamine read", True)):
            f = figures.get(name)
            if f:
                sc.system(label, reference=ref).runs.append(Run(extra={
                    "time_ms": f["median_ns"] / 1e6, "time_min_ms": f["min_ns"] / 1e6, "time_max_ms": f["max_ns"] / 1e6}))
        sc.commands.append("cargo bench -p gateway-api --bench result_parsing")
        self.scenarios.append(sc)

    # ---- scenario: bulk job ----------------------------------------------------------------------

    def scenario_bulk(self):
        n = self.args.bulk_numbers
        sc = Scenario("bulk", f"Bulk job: {n:,} numbers",
                      "accept = POST until the 202 arrives; peak RSS = the gateway's VmHWM; complete = until the job "
                      "is final, against a simulator that answers orders at once")
        sc.targets.append({"what": "accept time", "limit": "≤ 1.0 s"})
        sc.targets.append({"what": "gateway peak RSS", "limit": "≤ 100 MB"})
        sc.targets.append({"what": "complete time", "limit": "≤ 10 s"})
        gw = sc.system("gateway")
        for _ in range(self.args.bulk_rounds):
            d = self.bulk_job(n)
            gw.runs.append(Run(extra={"accept_s": d["accept_seconds"], "peak_rss_mb": d["peak_rss_kb"] / 1024,
                                      "complete_s": d.get("complete_seconds")}))
        sc.commands.append(f"NUMBERS={n} scripts/bench-bulk.sh")
        self.scenarios.append(sc)

    def bulk_job(self, n: int) -> dict:
        """One run of scripts/bench-bulk.sh on the suite's own Redis (never the shared one); its
        figures are kept for the job-size curve."""
        script = ROOT / "scripts" / "bench-bulk.sh"
        env = {"BENCH_GATEWAY_BIN": str(self.bin / "gateway-api"), "BENCH_SIM_BIN": str(self.bin / "vendor-sim"),
               "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}", "NUMBERS": str(n)}
        p = subprocess.run(["bash", str(script)], capture_output=True, text=True, env={**os.environ, **env},
                           timeout=1800)
        line = next((ln for ln in reversed(p.stdout.splitlines()) if ln.startswith("{")), None)
        if p.returncode != 0 or line is None:
            raise RuntimeError(f"bench-bulk.sh failed ({p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-4000:]}")
        d = json.loads(line)
        self.bulk_results.setdefault(n, []).append(d)
        return d

    # ---- scenario: job-size curve -------------------------------------------------------------

    def scenario_job_sizes(self):
        sizes = sorted(int(x) for x in self.args.job_sizes.split(","))
        sc = Scenario("job_sizes", "Job-size curve: accept time and peak RSS for " +
                      ", ".join(f"{n:,}" for n in sizes) + " numbers",
                      "one POST /v1/number-checks per size (scripts/bench-bulk.sh, a fresh gateway each); growth = "
                      "peak RSS (VmHWM after the 202) minus the gateway's VmHWM before the POST; a size the bulk "
                      "scenario ran in this run reuses its rounds")
        sc.targets.append({"what": "accept time per number, largest vs smallest job", "limit": "≤ 1.2×"})
        sc.targets.append({"what": "RSS growth per number, largest vs smallest job", "limit": "≤ 1.2×"})
        for n in sizes:
            s = sc.system(f"{n:,} numbers")
            s.group = str(n)
            runs = self.bulk_results.get(n) or [self.bulk_job(n) for _ in range(self.args.job_rounds)]
            for d in runs:
                growth_kb = max(0, d["peak_rss_kb"] - d["idle_rss_kb"])
                s.runs.append(Run(extra={
                    "numbers": n, "accept_s": d["accept_seconds"], "peak_rss_mb": d["peak_rss_kb"] / 1024,
                    "growth_mb": growth_kb / 1024, "accept_us_per_number": d["accept_seconds"] * 1e6 / n,
                    "growth_bytes_per_number": growth_kb * 1024 / n}))
        sc.commands.append("NUMBERS=<size> scripts/bench-bulk.sh")
        self.scenarios.append(sc)

    # ---- the whole run ---------------------------------------------------------------------------

    def run(self):
        only = set(self.args.only.split(",")) if self.args.only else None
        want = lambda key: only is None or key in only  # noqa: E731
        self.start_redis()
        self.start_sim()
        self.mint_token()
        self.gw, _ = self.start_gateway(prefix=self.prefix)
        if want("idle"):
            log("idle")
            self.scenario_idle()
        if want("cached_lookup"):
            log("cached lookup")
            self.scenario_cached_lookup()
        if want("passthrough"):
            log("passthrough")
            self.scenario_passthrough()
        if want("workers"):
            log("worker curve")
            self.scenario_workers()
        if want("replicas"):
            log("replica curve")
            self.scenario_replicas()
        if want("burst"):
            log("burst")
            raise_open_files(2 * self.args.burst_connections + 1024)
            self.scenario_burst()
        if want("jwt"):
            log("jwt (criterion)")
            self.scenario_jwt()
        if want("result_parsing"):
            log("result parsing (criterion)")
            self.scenario_result_parsing()
        self.procs.stop(self.gw)
        if want("bulk"):
            log("bulk job")
            self.scenario_bulk()
        if want("job_sizes"):
            log("job-size curve")
            self.scenario_job_sizes()


# ---------------------------------------------------------------------------------------------
# report


def fmt(v, digits=1) -> str:
    if v is None:
        return "–"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{digits}f}" if abs(v) >= 10 else f"{v:.{digits + 1}f}"


def med_range(s: System, attr: str, digits=1) -> str:
    m, sp = s.median(attr), s.span(attr)
    if m is None:
        return "–"
    if sp and len(s.values(attr)) > 1:
        return f"{fmt(m, digits)} ({fmt(sp[0], digits)}–{fmt(sp[1], digits)})"
    return fmt(m, digits)


def ratio(a: float | None, b: float | None) -> str:
    if a is None or not b:
        return "–"
    return f"{a / b:.2f}×"


def verdicts(sc: Scenario) -> list[tuple[str, str, str, bool | None]]:
    """(target, limit, measured, met) per target of a scenario."""
    out = []
    get = {s.name: s for s in sc.systems}
    if sc.key == "idle":
        g = get["gateway"]
        rss, up = g.median("rss_mb"), g.median("startup_ms")
        out.append((f"gateway idle RSS with {g.runs[0].extra.get('workers', '?') if g.runs else '?'} workers",
                    "≤ 30 MB", f"{fmt(rss)} MB", rss is not None and rss <= 30))
        out.append(("gateway start-up (exec to 200 on /readyz)", "≤ 50 ms", f"{fmt(up)} ms", up is not None and up <= 50))
    elif sc.key == "cached_lookup":
        g, r, h = get["gateway"].median("rps"), get["redis-benchmark GET"].median("rps"), get["gateway at half peak"]
        out.append(("gateway rps / redis-benchmark GET rps", "≥ 0.5", ratio(g, r), bool(g and r and g / r >= 0.5)))
        p99 = h.median("p99_ms")
        out.append(("gateway p99 at half its peak rate", "≤ 2 ms",
                    f"{fmt(p99)} ms at {fmt(h.median('rps'))} rps", p99 is not None and p99 <= 2))
    elif sc.key in ("workers", "replicas"):
        one, two = (next((s for s in sc.systems if s.group == k), None) for k in ("1", "2"))
        a, b = (one.median("rps") if one else None), (two.median("rps") if two else None)
        limit = 1.8 if sc.key == "workers" else 1.6
        what = "2 workers rps / 1 worker rps" if sc.key == "workers" else "2 replicas rps / 1 replica rps"
        out.append((what, f"≥ {limit}", ratio(b, a), bool(a and b and b / a >= limit)))
    elif sc.key == "burst":
        g = get["gateway"]
        errors = sum(r.errors for r in g.runs)
        kinds = ", ".join(f"{k} {sum(r.extra.get(k, 0) for r in g.runs)}"
                          for k in ("connect", "read", "write", "timeout", "non_2xx"))
        out.append((f"errors over {g.runs[0].extra.get('connections', '?') if g.runs else '?'} connections", "= 0",
                    f"{errors} ({kinds}); p99 {fmt(g.median('p99_ms'))} ms", bool(g.runs) and errors == 0))
    elif sc.key == "job_sizes":
        small, large = (sc.systems[0], sc.systems[-1]) if sc.systems else (None, None)
        for what, attr, unit in (("accept time per number", "accept_us_per_number", "µs"),
                                 ("RSS growth per number", "growth_bytes_per_number", "B")):
            a, b = (small.median(attr) if small else None), (large.median(attr) if large else None)
            measured = (f"{fmt(b, 2)} {unit} at {large.name} vs {fmt(a, 2)} {unit} at {small.name} "
                        f"({ratio(b, a)})") if small and large else "–"
            out.append((f"{what}, largest vs smallest job (linear or better)", "≤ 1.2×", measured,
                        a is not None and b is not None and a > 0 and b <= 1.2 * a))
    elif sc.key == "passthrough":
        g = get["gateway"]
        h = get[HAPROXY_JWT]
        out.append((f"gateway rps / {HAPROXY_JWT} rps", "≥ 1.0", ratio(g.median("rps"), h.median("rps")),
                    bool(g.median("rps") and h.median("rps") and g.median("rps") >= h.median("rps"))))
        d = (g.median("p99_ms") or 0) - (h.median("p99_ms") or 0)
        out.append((f"gateway p99 − {HAPROXY_JWT} p99", "≤ 1 ms", f"{d:+.2f} ms", d <= 1))
    elif sc.key == "result_parsing":
        t = get.get("gateway: download + parse + store")
        v = t.median("time_ms") if t else None
        out.append(("20,000 rows downloaded, parsed and stored", "≤ 300 ms", f"{fmt(v)} ms", v is not None and v <= 300))
        t = get.get("gateway: store only")
        v = t.median("time_ms") if t else None
        out.append(("20,000 three-check rows stored (records + cache)", "≤ 300 ms", f"{fmt(v)} ms",
                    v is not None and v <= 300))
    elif sc.key == "bulk":
        g = get["gateway"]
        a, m = g.median("accept_s"), g.median("peak_rss_mb")
        out.append(("accept time", "≤ 1.0 s", f"{fmt(a, 2)} s", a is not None and a <= 1.0))
        out.append(("gateway peak RSS", "≤ 100 MB", f"{fmt(m)} MB", m is not None and m <= 100))
        c = g.median("complete_s")
        out.append(("complete time", "≤ 10 s", f"{fmt(c)} s", c is not None and c <= 10))
    return out


def scenario_table(sc: Scenario) -> list[str]:
    ref = sc.reference()
    if sc.key in ("cached_lookup", "passthrough"):
        rows = ["| system | rps, median (min–max) | p50 ms | p99 ms, median (min–max) | errors | rps vs reference |",
                "|---|---|---|---|---|---|"]
        for s in sc.systems:
            rows.append(f"| {s.name}{' (reference)' if s.reference else ''} | {med_range(s, 'rps', 0)} | "
                        f"{med_range(s, 'p50_ms', 2)} | {med_range(s, 'p99_ms', 2)} | {sum(r.errors for r in s.runs)} | "
                        f"{ratio(s.median('rps'), ref.median('rps')) if ref else '–'} |")
    elif sc.key in ("workers", "replicas", "burst"):
        cores = os.cpu_count() or 1
        rows = ["| system | rps, median (min–max) | p99 ms, median (min–max) | errors | rps vs first | "
                f"CPU cores: gateway | redis | wrk | other | machine busy (of {cores}) |",
                "|---|---|---|---|---|---|---|---|---|---|"]
        first = sc.systems[0] if sc.systems else None
        for s in sc.systems:
            rows.append(f"| {s.name} | {med_range(s, 'rps', 0)} | {med_range(s, 'p99_ms', 2)} | "
                        f"{sum(r.errors for r in s.runs)} | {ratio(s.median('rps'), first.median('rps'))} | "
                        + " | ".join(fmt(s.median(f"cpu_{k}"), 2)
                                     for k in ("gateway", "redis", "wrk", "other", "machine")) + " |")
    elif sc.key == "job_sizes":
        rows = ["| job | accept s, median | µs per number | peak RSS MB | growth MB | growth bytes per number |",
                "|---|---|---|---|---|---|"]
        for s in sc.systems:
            rows.append(f"| {s.name} | {med_range(s, 'accept_s', 2)} | {fmt(s.median('accept_us_per_number'), 2)} | "
                        f"{med_range(s, 'peak_rss_mb')} | {fmt(s.median('growth_mb'))} | "
                        f"{fmt(s.median('growth_bytes_per_number'))} |")
    elif sc.key == "idle":
        rows = ["| system | start-up ms, median (min–max) | RSS MB, median (min–max) | RSS vs reference |",
                "|---|---|---|---|"]
        for s in sc.systems:
            rows.append(f"| {s.name}{' (reference)' if s.reference else ''} | {med_range(s, 'startup_ms')} | "
                        f"{med_range(s, 'rss_mb')} | {ratio(s.median('rss_mb'), ref.median('rss_mb')) if ref else '–'} |")
    elif sc.key == "jwt":
        rows = ["| verification | µs per token, median (sample min–max) | vs bare jsonwebtoken |", "|---|---|---|"]
        refs = {s.group: s for s in sc.systems if s.reference}
        for s in sc.systems:
            r = refs.get(s.group)
            m = s.median("time_us")
            span = f"{fmt(s.runs[0].extra['time_min_us'], 2)}–{fmt(s.runs[0].extra['time_max_us'], 2)}"
            rows.append(f"| {s.name} | {fmt(m, 2)} ({span}) | {ratio(m, r.median('time_us')) if r else '–'} |")
    elif sc.key == "result_parsing":
        rows = ["| step | ms, median (sample min–max) | vs reference |", "|---|---|---|"]
        for s in sc.systems:
            m = s.median("time_ms")
            span = f"{fmt(s.runs[0].extra['time_min_ms'])}–{fmt(s.runs[0].extra['time_max_ms'])}"
            rows.append(f"| {s.name}{' (reference)' if s.reference else ''} | {fmt(m)} ({span}) | "
                        f"{ratio(m, ref.median('time_ms')) if ref else '–'} |")
    elif sc.key == "bulk":
        rows = ["| system | accept s | peak RSS MB | complete s |", "|---|---|---|---|"]
        for s in sc.systems:
            rows.append(f"| {s.name} | {med_range(s, 'accept_s', 2)} | {med_range(s, 'peak_rss_mb')} | "
                        f"{med_range(s, 'complete_s')} |")
    else:
        rows = []
    return rows


def machine() -> dict:
    cpu = "?"
    with contextlib.suppress(OSError):
        cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                    if ln.startswith("model name")), "?")
    mem = "?"
    with contextlib.suppress(OSError):
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024 / 1024:.1f} GiB"
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True,
                           text=True).stdout.strip()
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "kernel": platform.release(), "cpu": cpu, "cores": os.cpu_count(), "memory": mem,
        "commit": commit + (" (with uncommitted changes)" if dirty else ""),
        "versions": {
            "rustc": cmd_version(["rustc", "-V"]), "wrk": cmd_version(["wrk", "-v"]),
            "nginx": cmd_version(["nginx", "-v"]), "haproxy": cmd_version(["haproxy", "-v"]),
            "redis-server": cmd_version(["redis-server", "-v"]),
            "redis-benchmark": cmd_version(["redis-benchmark", "--version"]),
        },
    }


def write_report(bench: Bench, args) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    info = machine()
    raw = {"machine": info, "settings": {k: v for k, v in vars(args).items() if k != "target_dir"},
           "scenarios": []}
    csv_rows = [["scenario", "system", "reference", "round", "metric", "value"]]
    for sc in bench.scenarios:
        entry = {"key": sc.key, "title": sc.title, "systems": [], "targets": []}
        for s in sc.systems:
            runs = []
            for i, r in enumerate(s.runs):
                figures = {k: v for k, v in {"rps": r.rps, "p50_ms": r.p50_ms, "p99_ms": r.p99_ms}.items() if v is not None}
                figures.update(r.extra)
                if r.rps is not None:
                    figures["errors"] = r.errors
                runs.append(figures)
                csv_rows += [[sc.key, s.name, s.reference, i + 1, k, v] for k, v in figures.items()]
            entry["systems"].append({"name": s.name, "reference": s.reference, "rounds": runs})
        for what, limit, measured, met in verdicts(sc):
            entry["targets"].append({"target": what, "limit": limit, "measured": measured, "met": met})
        raw["scenarios"].append(entry)
    (OUT / "results.json").write_text(json.dumps(raw, indent=2, ensure_ascii=False) + "\n")
    with open(OUT / "results.csv", "w", newline="") as f:
        csv.writer(f).writerows(csv_rows)
    (OUT / "chart.svg").write_text(chart(bench.scenarios))
    sizes = next((sc for sc in bench.scenarios if sc.key == "job_sizes"), None)
    if sizes:
        (OUT / "job-sizes.svg").write_text(job_sizes_chart(sizes))

    md = ["# Benchmarks", "",
          "Generated by `make bench` (bench/run.py); do not edit by hand. Each scenario measures the gateway and",
          "its reference systems in the same run on the same machine, alternating rounds, so the ratios hold even",
          "where the absolute figures move with the machine. Raw figures: [results.json](benchmarks/results.json),",
          "[results.csv](benchmarks/results.csv).", "",
          "## Machine", "",
          f"- {info['date']}, commit {info['commit']}",
          f"- {info['cpu']}, {info['cores']} cores, {info['memory']}, Linux {info['kernel']}",
          f"- everything on loopback on this one machine: load generator, gateway and simulator (cargo profile `{args.profile}`), Redis",
          *[f"- {k}: {v}" for k, v in info["versions"].items()],
          f"- rounds per scenario: {args.rounds}; {args.seconds} s per load round; {args.connections} connections; "
          f"gateway, nginx and haproxy with {args.gateway_workers} workers", "",
          "## Targets", "",
          "| scenario | target | limit | measured | met |", "|---|---|---|---|---|"]
    for sc in bench.scenarios:
        for what, limit, measured, met in verdicts(sc):
            md.append(f"| {sc.key} | {what} | {limit} | {measured} | {'yes' if met else '**no**'} |")
    md += ["", "![throughput and p99 per system](benchmarks/chart.svg)", ""]
    for sc in bench.scenarios:
        md += [f"## {sc.title}", "", sc.unit_note + ".", "", *scenario_table(sc), ""]
        if sc.key == "job_sizes":
            md += ["![accept time and peak RSS per job size](benchmarks/job-sizes.svg)", ""]
        if sc.notes:
            md += [*(f"- {n}" for n in sc.notes), ""]
        if sc.commands:
            md += ["Commands:", "", "```", *sc.commands, "```", ""]
    analysis = DOCS / "benchmarks-analysis.md"
    if analysis.is_file():
        md += ["## Reading the figures", "", analysis.read_text().strip(), ""]
    (DOCS / "benchmarks.md").write_text("\n".join(md))
    log(f"wrote {DOCS / 'benchmarks.md'} and {OUT}/results.{{json,csv}}, chart.svg, job-sizes.svg")


def chart(scenarios: list[Scenario]) -> str:
    """Horizontal bars: throughput and p99 per system of the load scenarios."""
    load = [sc for sc in scenarios if sc.key in ("cached_lookup", "passthrough", "workers", "replicas", "burst")]
    bar_h, gap, left, width = 18, 6, 230, 300
    rows = sum(len(sc.systems) + 1 for sc in load)
    height = 40 + rows * (bar_h + gap) + 20
    total_w = left + 2 * (width + 120)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_w}" height="{height}" '
           'font-family="sans-serif" font-size="12">',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="{left}" y="20" font-weight="bold">throughput (requests/s, median)</text>',
           f'<text x="{left + width + 120}" y="20" font-weight="bold">p99 latency (ms, median)</text>']
    y = 40
    colors = {True: "#7f8c8d", False: "#2e86c1"}
    for sc in load:
        out.append(f'<text x="8" y="{y + 13}" font-weight="bold">{sc.key.replace("_", " ")}</text>')
        y += bar_h + gap
        max_rps = max((s.median("rps") or 0) for s in sc.systems) or 1
        max_p99 = max((s.median("p99_ms") or 0) for s in sc.systems) or 1
        for s in sc.systems:
            rps, p99 = s.median("rps") or 0, s.median("p99_ms") or 0
            # Every system of the curves and the burst is the gateway.
            gateway = s.name.startswith("gateway") or sc.key in ("workers", "replicas", "burst")
            color = "#d35400" if gateway else colors[s.reference]
            out.append(f'<text x="16" y="{y + 13}">{s.name}</text>')
            w1 = width * rps / max_rps
            out.append(f'<rect x="{left}" y="{y}" width="{w1:.1f}" height="{bar_h}" fill="{color}"/>')
            out.append(f'<text x="{left + w1 + 4:.1f}" y="{y + 13}">{rps:,.0f}</text>')
            x2 = left + width + 120
            w2 = width * p99 / max_p99
            out.append(f'<rect x="{x2}" y="{y}" width="{w2:.1f}" height="{bar_h}" fill="{color}"/>')
            out.append(f'<text x="{x2 + w2 + 4:.1f}" y="{y + 13}">{p99:.2f}</text>')
            y += bar_h + gap
    out.append(f'<text x="8" y="{height - 6}" fill="#555">orange: gateway; blue: other systems; grey: the reference</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def job_sizes_chart(sc: Scenario) -> str:
    """Two log-log panels, accept time and peak RSS against the job's numbers. The dashed line is
    linear growth from the smallest job (for RSS: its idle RSS plus its growth scaled), so points
    on or under it are linear or better."""
    points = [(s.median("numbers"), s.median("accept_s"), s.median("peak_rss_mb"), s.median("growth_mb"))
              for s in sc.systems if s.median("numbers")]
    panel_w, panel_h, margin, top = 320, 220, 60, 40
    total_w, height = 2 * (panel_w + margin) + 40, top + panel_h + 60
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_w}" height="{height}" '
           'font-family="sans-serif" font-size="12">', '<rect width="100%" height="100%" fill="white"/>']
    if not points:
        out.append('<text x="10" y="20">no job-size figures</text></svg>')
        return "\n".join(out) + "\n"
    n0, a0, r0, g0 = points[0]
    idle0 = r0 - g0
    panels = [("accept time (s)", [(n, a) for n, a, _, _ in points], lambda n: a0 * n / n0),
              ("peak RSS (MB)", [(n, r) for n, _, r, _ in points], lambda n: idle0 + g0 * n / n0)]
    for i, (title, pts, linear) in enumerate(panels):
        x0 = margin + i * (panel_w + margin)
        xs = [n for n, _ in pts]
        ys = [v for _, v in pts] + [linear(n) for n in xs]
        lx0, lx1 = math.log10(min(xs)), math.log10(max(xs))
        ly0, ly1 = math.log10(max(1e-6, min(ys)) / 1.5), math.log10(max(ys) * 1.5)
        px = lambda n: x0 + (math.log10(n) - lx0) / ((lx1 - lx0) or 1) * panel_w  # noqa: E731
        py = lambda v: top + panel_h - (math.log10(max(v, 1e-6)) - ly0) / ((ly1 - ly0) or 1) * panel_h  # noqa: E731
        out.append(f'<text x="{x0}" y="{top - 14}" font-weight="bold">{title}, log-log</text>')
        out.append(f'<rect x="{x0}" y="{top}" width="{panel_w}" height="{panel_h}" fill="none" stroke="#999"/>')
        for n in xs:
            out.append(f'<text x="{px(n):.1f}" y="{top + panel_h + 16}" text-anchor="middle">{n:,.0f}</text>')
        out.append(f'<polyline fill="none" stroke="#7f8c8d" stroke-dasharray="5,4" points="'
                   + " ".join(f"{px(n):.1f},{py(linear(n)):.1f}" for n in xs) + '"/>')
        out.append('<polyline fill="none" stroke="#d35400" stroke-width="2" points="'
                   + " ".join(f"{px(n):.1f},{py(v):.1f}" for n, v in pts) + '"/>')
        for n, v in pts:
            out.append(f'<circle cx="{px(n):.1f}" cy="{py(v):.1f}" r="3.5" fill="#d35400"/>')
            label = f"{v:.3f}" if v < 1 else f"{v:,.1f}"
            last = n == xs[-1]
            out.append(f'<text x="{px(n) + (-6 if last else 6):.1f}" y="{py(v) - 8:.1f}" '
                       f'text-anchor="{"end" if last else "start"}">{label}</text>')
    out.append(f'<text x="{margin}" y="{height - 10}" fill="#555">numbers per job (x); orange: measured (median); '
               'dashed grey: linear growth from the smallest job</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3, help="rounds per scenario and system (alternating)")
    ap.add_argument("--idle-rounds", type=int, default=7,
                    help="starts per system of the idle scenario (a start is short and noisy: more rounds than the load's)")
    ap.add_argument("--seconds", type=int, default=10, help="length of one load round")
    ap.add_argument("--connections", type=int, default=32, help="concurrent connections of the load rounds")
    ap.add_argument("--gateway-workers", type=int, default=2, help="HTTP workers of gateway, nginx and haproxy")
    ap.add_argument("--cached-numbers", type=int, default=10_000, help="distinct numbers of the cached lookup")
    ap.add_argument("--bulk-numbers", type=int, default=1_000_000, help="numbers of the bulk job")
    ap.add_argument("--bulk-rounds", type=int, default=2, help="rounds of the bulk job")
    ap.add_argument("--worker-counts", default="1,2,4", help="server.workers values of the worker curve")
    ap.add_argument("--replica-workers", type=int, default=1, help="HTTP workers of each replica in the replica curve")
    ap.add_argument("--curve-rounds", type=int, default=2,
                    help="rounds of the worker curve, the replica curve and the burst")
    ap.add_argument("--burst-connections", type=int, default=2000, help="connections of the burst")
    ap.add_argument("--burst-seconds", type=int, default=5, help="length of one burst round")
    ap.add_argument("--job-sizes", default="10000,100000,1000000", help="numbers per job of the job-size curve")
    ap.add_argument("--job-rounds", type=int, default=1,
                    help="rounds per size of the job-size curve (a size the bulk scenario ran reuses its rounds)")
    ap.add_argument("--only", default="", help="comma-separated scenarios: " + ",".join(SCENARIOS))
    ap.add_argument("--profile", default="image",
                    help="cargo profile of the measured binaries (the container image's by default: fat LTO)")
    ap.add_argument("--target-dir", default=os.environ.get("CARGO_TARGET_DIR", str(ROOT / "target")))
    ap.add_argument("--no-report", action="store_true", help="print the figures, leave docs/ alone")
    args = ap.parse_args()
    unknown = set(filter(None, args.only.split(","))) - set(SCENARIOS)
    if unknown:
        ap.error(f"unknown scenario(s) {', '.join(sorted(unknown))}; known: {', '.join(SCENARIOS)}")
    # A TERM (timeout, Ctrl-C from make) still stops every process the suite started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    bench = Bench(args)
    try:
        bench.run()
    finally:
        bench.procs.stop_all()
    if args.no_report:
        for sc in bench.scenarios:
            print(f"\n## {sc.title}")
            print("\n".join(scenario_table(sc)))
            for v in verdicts(sc):
                print("  ", v)
    else:
        write_report(bench, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
