#!/usr/bin/env python3
"""Times the claim script alone against a Redis of your own: it resets the server's command
statistics and leaves its keys (prefix `profile-claims:`), so use a private server and flush
it between runs.

Claims NUMBERS new numbers (one check, `registered`) as a job does: the fields of a batch
grouped by bucket, one script run per slot group and at most RUN fields, sent one after
another. Prints the script's Redis time (`INFO commandstats`) and the calls inside it. The
script's text is read from crates/store/src/redis.rs (SCRIPT=<file> times another version).

  redis-server --port 6411 --save '' --appendonly no --daemonize yes
  PORT=6411 NUMBERS=1000000 CHUNK=64000 RUN=1000 scripts/profile-claim-script.py
"""
import os, re, socket, time

PORT = int(os.environ.get("PORT", "6411"))
NUMBERS = int(os.environ.get("NUMBERS", "1000000"))
CHUNK = int(os.environ.get("CHUNK", "64000"))
RUN = int(os.environ.get("RUN", "1000"))
HOLDER = os.environ.get("HOLDER", "job_profile")
PREFIX = "profile-claims:"


class Redis:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.file = self.sock.makefile("rb", buffering=1 << 20)

    def call(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))
        return self.read()

    def read(self):
        line = self.file.readline()
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self.file.read(n + 2)[:-2]
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise RuntimeError(f"unexpected reply {line!r}")


def bucket(digits):
    """keys::claim_bucket: Fibonacci hashing into 1,024 buckets."""
    return ((digits * 0x9E3779B97F4A7C15) & ((1 << 64) - 1)) >> 54


def claim_script():
    if os.environ.get("SCRIPT"):
        return open(os.environ["SCRIPT"]).read()
    here = os.path.dirname(os.path.abspath(__file__))
    src = open(os.path.join(here, "..", "crates", "store", "src", "redis.rs")).read()
    return re.search(r'static CLAIM_SCRIPT: Lua = Lua::new\(\s*r"(.*?)",\s*\);', src, re.S).group(1)


def stats(r):
    out = {}
    for line in r.call("INFO", "commandstats").decode().splitlines():
        if line.startswith("cmdstat_"):
            name, fields = line[8:].split(":", 1)
            f = dict(kv.split("=") for kv in fields.split(","))
            out[name] = (int(f["calls"]), int(f["usec"]))
    return out


def main():
    r = Redis(PORT)
    sha = r.call("SCRIPT", "LOAD", claim_script())
    r.call("SET", f"{PREFIX}nc:holder:{HOLDER}", "")
    r.call("CONFIG", "RESETSTAT")
    started = time.time()
    for start in range(0, NUMBERS, CHUNK):
        groups = {}
        for i in range(start, min(NUMBERS, start + CHUNK)):
            digits = 919800000000 + i
            b = bucket(digits)
            groups.setdefault(b % 16, {}).setdefault(b, []).append(f"{digits}:registered")
        for group, buckets in sorted(groups.items()):
            runs, keys, args, fields = [], [], [], 0
            for b, names in buckets.items():
                at = 0
                while at < len(names):
                    if fields == RUN:
                        runs.append((keys, args))
                        keys, args, fields = [], [], 0
                    end = min(len(names), at + RUN - fields)
                    keys.append(f"{PREFIX}{{nc:claims:shared:{group}}}:{b}")
                    args += [end - at] + names[at:end]
                    fields += end - at
                    at = end
            if keys:
                runs.append((keys, args))
            for keys, args in runs:
                r.call("EVALSHA", sha, len(keys), *keys, HOLDER, 600000, 0, *args)
    wall = time.time() - started
    s = stats(r)
    calls, usec = s.get("evalsha", (0, 0))
    print(f"{NUMBERS} numbers, batches of {CHUNK}, runs of <= {RUN} fields: {calls} runs, "
          f"{usec / 1e6:.2f} s of Redis time ({usec / max(calls, 1) / 1000:.2f} ms a run), "
          f"{wall:.1f} s wall")
    for name in ("hmget", "hset", "hdel", "pexpire", "object|encoding"):
        if name in s:
            c, u = s[name]
            print(f"  {name}: {c} calls, {u / 1e6:.2f} s, {u / c:.2f} us a call")


if __name__ == "__main__":
    main()
