#!/usr/bin/env python3
"""The gateway's benchmark suite: each scenario measures the gateway and the reference systems in the
same run, on the same machine, in alternating rounds, and reports medians, ranges and ratios.

Started by `make bench`; writes docs/benchmarks.md, docs/benchmarks/results.{json,csv} and
docs/benchmarks/chart.svg. Standard library only. See docs/benchmarks.md for what each scenario
measures and why the reference is the one chosen.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import hashlib
import http.client
import json
import os
import platform
import random
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
    '"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), latency.max))
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
               extra={"requests": d["requests"], "max_ms": d["max_us"] / 1000})


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
        self.bin = Path(args.target_dir) / "release"
        self.scenarios: list[Scenario] = []
        self.redis_port = free_port()
        self.sim_port = free_port()
        self.gw_port = free_port()
        self.redis = None
        self.sim = None
        self.gw = None
        self.token = ""
        self.cached_numbers: list[str] = []
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

    def gateway_config(self, port: int, prefix: str) -> Path:
        base = f"http://127.0.0.1:{self.sim_port}"
        text = f"""
[server]
listen = "127.0.0.1:{port}"
workers = {self.args.gateway_workers}

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

    def start_gateway(self, port: int | None = None, name: str = "gateway") -> tuple[subprocess.Popen, float]:
        port = port or self.gw_port
        config = self.gateway_config(port, f"bench:{random.getrandbits(48):x}:")
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
        sc.targets.append({"what": "gateway idle RSS", "limit": "≤ 30 MB"})
        gw = sc.system("gateway")
        ng = sc.system("nginx", reference=True)
        ha = sc.system("haproxy")
        for _ in range(self.args.rounds):
            port = free_port()
            p, startup = self.start_gateway(port, "gateway-idle")
            time.sleep(2)
            gw.runs.append(Run(extra={"startup_ms": startup * 1000, "rss_mb": rss_kb(p.pid) / 1024}))
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

    def cached_value_bytes(self) -> int:
        keys = subprocess.run(["redis-cli", "-p", str(self.redis_port), "--scan", "--pattern", "*nc:cache:*",
                               "--count", "1000"], capture_output=True, text=True).stdout.split()[:50]
        sizes = [int(subprocess.run(["redis-cli", "-p", str(self.redis_port), "strlen", k], capture_output=True,
                                    text=True).stdout.strip() or 0) for k in keys]
        return int(statistics.mean(sizes)) if sizes else 256

    def scenario_cached_lookup(self):
        c, secs = self.args.connections, self.args.seconds
        sc = Scenario("cached_lookup", "Cached lookup: GET /v1/numbers/{n} vs redis-benchmark GET",
                      f"{len(self.cached_numbers)} distinct cached numbers, {c} connections, {secs} s per round; "
                      "the gateway authenticates (HS256), rate-limits and counts usage in Redis on every request")
        sc.targets.append({"what": "gateway rps / redis-benchmark GET rps", "limit": "≥ 0.5"})
        sc.targets.append({"what": "gateway p99 at half its peak rate", "limit": "≤ 5 ms"})
        paths = self.run_dir / "lookup-paths.txt"
        paths.write_text("".join(f"/v1/numbers/{urllib.parse.quote(n)}?checks=registered\n"
                                 for n in self.cached_numbers))
        script = self.run_dir / "lookup.lua"
        script.write_text(WRK_PATHS + WRK_DONE)
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
        sc.targets.append({"what": "gateway rps / nginx proxy_pass rps", "limit": "≥ 1.0"})
        sc.targets.append({"what": "gateway p99 − nginx p99", "limit": "≤ 1 ms"})
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
        systems = [("gateway", self.gw_port, False), ("nginx proxy_pass", nginx_port, True),
                   ("haproxy", haproxy_port, False), (HAPROXY_JWT, haproxy_jwt_port, False),
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
        sc.targets.append({"what": "accept time", "limit": "≤ 5 s"})
        sc.targets.append({"what": "gateway peak RSS", "limit": "≤ 300 MB"})
        sc.targets.append({"what": "complete time", "limit": "≤ 10 s"})
        gw = sc.system("gateway")
        script = ROOT / "scripts" / "bench-bulk.sh"
        for _ in range(self.args.bulk_rounds):
            env = {"BENCH_GATEWAY_BIN": str(self.bin / "gateway-api"), "BENCH_SIM_BIN": str(self.bin / "vendor-sim"),
                   "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}", "NUMBERS": str(n)}
            p = subprocess.run(["bash", str(script)], capture_output=True, text=True, env={**os.environ, **env},
                               timeout=1800)
            line = next((ln for ln in reversed(p.stdout.splitlines()) if ln.startswith("{")), None)
            if p.returncode != 0 or line is None:
                raise RuntimeError(f"bench-bulk.sh failed ({p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-4000:]}")
            d = json.loads(line)
            gw.runs.append(Run(extra={"accept_s": d["accept_seconds"], "peak_rss_mb": d["peak_rss_kb"] / 1024,
                                      "complete_s": d.get("complete_seconds")}))
        sc.commands.append(f"NUMBERS={n} scripts/bench-bulk.sh")
        self.scenarios.append(sc)

    # ---- the whole run ---------------------------------------------------------------------------

    def run(self):
        only = set(self.args.only.split(",")) if self.args.only else None
        want = lambda key: only is None or key in only  # noqa: E731
        self.start_redis()
        self.start_sim()
        self.mint_token()
        self.gw, _ = self.start_gateway()
        if want("idle"):
            log("idle")
            self.scenario_idle()
        if want("cached_lookup"):
            log("cached lookup: seeding the cache")
            self.seed_cache(self.args.cached_numbers)
            log("cached lookup: rounds")
            self.scenario_cached_lookup()
        if want("passthrough"):
            log("passthrough")
            self.scenario_passthrough()
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
        rss = get["gateway"].median("rss_mb")
        out.append(("gateway idle RSS", "≤ 30 MB", f"{fmt(rss)} MB", rss is not None and rss <= 30))
    elif sc.key == "cached_lookup":
        g, r, h = get["gateway"].median("rps"), get["redis-benchmark GET"].median("rps"), get["gateway at half peak"]
        out.append(("gateway rps / redis-benchmark GET rps", "≥ 0.5", ratio(g, r), bool(g and r and g / r >= 0.5)))
        p99 = h.median("p99_ms")
        out.append(("gateway p99 at half its peak rate", "≤ 5 ms",
                    f"{fmt(p99)} ms at {fmt(h.median('rps'))} rps", p99 is not None and p99 <= 5))
    elif sc.key == "passthrough":
        g, n = get["gateway"], get["nginx proxy_pass"]
        out.append(("gateway rps / nginx proxy_pass rps", "≥ 1.0", ratio(g.median("rps"), n.median("rps")),
                    bool(g.median("rps") and n.median("rps") and g.median("rps") >= n.median("rps"))))
        d = (g.median("p99_ms") or 0) - (n.median("p99_ms") or 0)
        out.append(("gateway p99 − nginx p99", "≤ 1 ms", f"{d:+.2f} ms", d <= 1))
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
        out.append(("accept time", "≤ 5 s", f"{fmt(a)} s", a is not None and a <= 5))
        out.append(("gateway peak RSS", "≤ 300 MB", f"{fmt(m)} MB", m is not None and m <= 300))
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

    md = ["# Benchmarks", "",
          "Generated by `make bench` (bench/run.py); do not edit by hand. Each scenario measures the gateway and",
          "its reference systems in the same run on the same machine, alternating rounds, so the ratios hold even",
          "where the absolute figures move with the machine. Raw figures: [results.json](benchmarks/results.json),",
          "[results.csv](benchmarks/results.csv).", "",
          "## Machine", "",
          f"- {info['date']}, commit {info['commit']}",
          f"- {info['cpu']}, {info['cores']} cores, {info['memory']}, Linux {info['kernel']}",
          "- everything on loopback on this one machine: load generator, gateway (release build), simulator, Redis",
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
        if sc.notes:
            md += [*(f"- {n}" for n in sc.notes), ""]
        if sc.commands:
            md += ["Commands:", "", "```", *sc.commands, "```", ""]
    analysis = DOCS / "benchmarks-analysis.md"
    if analysis.is_file():
        md += ["## Reading the figures", "", analysis.read_text().strip(), ""]
    (DOCS / "benchmarks.md").write_text("\n".join(md))
    log(f"wrote {DOCS / 'benchmarks.md'} and {OUT}/results.{{json,csv}}, chart.svg")


def chart(scenarios: list[Scenario]) -> str:
    """Horizontal bars: throughput and p99 per system of the load scenarios."""
    load = [sc for sc in scenarios if sc.key in ("cached_lookup", "passthrough")]
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
            color = colors[s.reference] if s.name.startswith("gateway") is False else "#d35400"
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


# ---------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3, help="rounds per scenario and system (alternating)")
    ap.add_argument("--seconds", type=int, default=10, help="length of one load round")
    ap.add_argument("--connections", type=int, default=32, help="concurrent connections of the load rounds")
    ap.add_argument("--gateway-workers", type=int, default=2, help="HTTP workers of gateway, nginx and haproxy")
    ap.add_argument("--cached-numbers", type=int, default=10_000, help="distinct numbers of the cached lookup")
    ap.add_argument("--bulk-numbers", type=int, default=1_000_000, help="numbers of the bulk job")
    ap.add_argument("--bulk-rounds", type=int, default=2, help="rounds of the bulk job")
    ap.add_argument("--only", default="", help="comma-separated scenarios: idle,cached_lookup,passthrough,jwt,"
                                               "result_parsing,bulk")
    ap.add_argument("--target-dir", default=os.environ.get("CARGO_TARGET_DIR", str(ROOT / "target")))
    ap.add_argument("--no-report", action="store_true", help="print the figures, leave docs/ alone")
    args = ap.parse_args()
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
