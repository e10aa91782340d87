#!/usr/bin/env bash
# `make test`: the whole suite against Redis at REDIS_URL. When nothing answers there, a private
# redis-server is started on a free loopback port for the run and stopped afterwards, so the
# suite works on a fresh machine that has the binary; without the binary, one line says how to
# get it. Without arguments: the workspace, then the number-check and events suites again on a
# Redis Cluster. Arguments go to `cargo test` instead (e.g. `-p domain`).
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO="${CARGO:-cargo}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"

redis_answers() { # host port
  { exec 3<>"/dev/tcp/$1/$2"; } 2>/dev/null || return 1
  printf 'PING\r\n' >&3
  local line=""
  read -r -t 2 line <&3 || true
  exec 3>&- 3<&-
  [[ "$line" == +PONG* || "$line" == -NOAUTH* ]]
}

hostport="${REDIS_URL#redis://}"; hostport="${hostport##*@}"; hostport="${hostport%%/*}"
host="${hostport%%:*}"; port="${hostport##*:}"
[ "$port" = "$hostport" ] && port=6379

private_pid=""
cleanup() { [ -n "$private_pid" ] && kill "$private_pid" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

if ! redis_answers "$host" "$port"; then
  if ! command -v redis-server >/dev/null 2>&1; then
    echo "make test: nothing answers on $REDIS_URL and redis-server is not installed; install it (Debian/Ubuntu: apt-get install -y redis-server, macOS: brew install redis) or set REDIS_URL" >&2
    exit 1
  fi
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null \
    || echo $((20000 + RANDOM % 20000)))"
  dir="$(mktemp -d)"
  redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no --dir "$dir" \
    --logfile "$dir/redis.log" &
  private_pid=$!
  for _ in $(seq 1 50); do redis_answers 127.0.0.1 "$port" && break; sleep 0.1; done
  redis_answers 127.0.0.1 "$port" || { echo "make test: the private redis-server did not start (log: $dir/redis.log)" >&2; exit 1; }
  REDIS_URL="redis://127.0.0.1:$port"
  echo "make test: nothing answered on the configured Redis; using a private redis-server at $REDIS_URL"
fi

export REDIS_URL
if [ "$#" -gt 0 ]; then
  "$CARGO" test --locked --no-fail-fast "$@"
  exit
fi
status=0
"$CARGO" test --locked --no-fail-fast --workspace || status=$?
# The number-check and events suites once more, every app on a private 3+3 Redis Cluster
# (tests/e2e/support/engines.rs): keys, scripts and batches must keep to one slot each. The
# suites that are about clusters and failovers already ran above.
# The e2e binary the workspace run built is run again as it is: `cargo test -p e2e` would
# resolve features anew and rebuild a good part of the tree.
echo "make test: the number-check and events suites on a Redis Cluster"
e2e_bin="$("$CARGO" test --locked --workspace --no-run --message-format=json 2>/dev/null \
  | grep -o '"executable":"[^"]*/e2e-[0-9a-f]*"' | head -n1 | cut -d'"' -f4)"
if [ -z "$e2e_bin" ] || [ ! -x "$e2e_bin" ]; then
  echo "make test: the e2e test binary was not found" >&2
  exit 1
fi
(cd tests && E2E_STORE=cluster "$e2e_bin" number_check events --skip on_cluster --skip failover) \
  || status=$?
exit "$status"
