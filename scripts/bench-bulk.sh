#!/usr/bin/env bash
# Bulk number-check benchmark: one `POST /v1/number-checks` with NUMBERS distinct valid Indian
# mobile numbers against a gateway on the Redis store and an instant vendor simulator.
#
# Measures how long the client waits for the 202 (accept_seconds), the gateway's peak RSS
# (VmHWM, peak_rss_kb) and how long the job then takes to finish (complete_seconds, from the
# 202 to a terminal status). Prints one JSON object on stdout; progress goes to stderr.
#
# Starts its own simulator and gateway on free loopback ports with a fresh random key prefix,
# and on exit stops them and deletes that prefix's keys from Redis.
#
# Environment (all optional):
#   BENCH_GATEWAY_BIN gateway binary   (default: $CARGO_TARGET_DIR or target, /release/gateway-api)
#   BENCH_SIM_BIN     simulator binary (default: next to BENCH_GATEWAY_BIN, vendor-sim)
#   REDIS_URL         Redis to use     (default: redis://127.0.0.1:6379)
#   NUMBERS           batch size       (default: 1000000)
#   COMPLETE_TIMEOUT  seconds to wait for the job to finish (default: 600)
#   KEEP_LOGS         set to keep the temporary directory with logs, config and body
#
# completion_cpu_seconds gives the CPU time (user + system) each process used between the 202
# and the terminal status; Redis's is read from INFO and covers every client of that server.
set -euo pipefail
cd "$(dirname "$0")/.."

target_dir=${CARGO_TARGET_DIR:-target}
BENCH_GATEWAY_BIN=${BENCH_GATEWAY_BIN:-$target_dir/release/gateway-api}
BENCH_SIM_BIN=${BENCH_SIM_BIN:-$(dirname "$BENCH_GATEWAY_BIN")/vendor-sim}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
NUMBERS=${NUMBERS:-1000000}
COMPLETE_TIMEOUT=${COMPLETE_TIMEOUT:-600}

log() { echo "bench-bulk: $*" >&2; }
die() { log "$*"; exit 1; }

for bin in "$BENCH_GATEWAY_BIN" "$BENCH_SIM_BIN"; do
  [[ -x $bin ]] || die "$bin is not an executable (build with: cargo build --release --locked -p gateway-api -p vendor-sim)"
done
for tool in curl jq awk; do
  command -v "$tool" >/dev/null || die "needs $tool"
done
(( NUMBERS >= 1 && NUMBERS <= 100000000 )) || die "NUMBERS must be between 1 and 100000000"

if command -v redis-cli >/dev/null && ! redis-cli -u "$REDIS_URL" ping >/dev/null 2>&1; then
  die "no Redis answers at $REDIS_URL"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-bulk.XXXXXX")
prefix="bench-bulk:$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n'):"
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if command -v redis-cli >/dev/null; then
    redis-cli -u "$REDIS_URL" --scan --pattern "${prefix}*" 2>/dev/null \
      | xargs -r -n 1000 redis-cli -u "$REDIS_URL" unlink >/dev/null 2>&1 || true
  fi
  if [[ -n ${KEEP_LOGS:-} ]]; then log "logs kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  if command -v python3 >/dev/null; then
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
    return
  fi
  local port
  for _ in $(seq 1 100); do
    port=$(( 20000 + RANDOM % 40000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return; fi
  done
  die "no free port found"
}
wait_port() {
  local port=$1 pid=$2
  for _ in $(seq 1 200); do
    kill -0 "$pid" 2>/dev/null || return 1
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  return 1
}

sim_port=$(free_port)
gw_port=$(free_port)
sim="http://127.0.0.1:$sim_port"
gw="http://127.0.0.1:$gw_port"

cat >"$work/sim.toml" <<EOF
result_ttl_ms = 600000
[speed]
screening_base_ms = 0
screening_numbers_per_second = 0.0
ekycpro_pending_ms = 0
ekycpro_numbers_per_second = 0.0
ekycpro_export_ms = 0
EOF

# The body is generated before the gateway starts and is not part of the measured time.
# Room for the numbers plus slack for the rest of the document.
body_bytes_needed=$(( NUMBERS * 20 + 4096 ))
max_body=$(( body_bytes_needed > 33554432 ? body_bytes_needed : 33554432 ))
cat >"$work/gateway.toml" <<EOF
[server]
listen = "127.0.0.1:$gw_port"

[store]
redis_url = "$REDIS_URL"
key_prefix = "$prefix"

[auth]
allow_dev_secret = true

[log]
format = "json"
level = "warn"

[limits]
max_body_bytes = $max_body

[limits.rate_limits."numbers:read"]
requests = 100000
per = "1m"

[number_checks]
worker_interval = "50ms"
poll_initial = "100ms"
poll_max = "1s"

[vendors.wscrm]
bus_api_base_url = "$sim/wscrm-bus-api"
dispatch_api_base_url = "$sim/group-dispatch-api"
result_hosts = ["$sim"]
auth_headers = { "X-Api-Key" = "dev-wscrm-key" }

[vendors.ekycpro]
base_url = "$sim"
user_id = "dev-user"
api_key = "dev-ekycpro-key"
result_hosts = ["$sim"]
EOF

log "generating $NUMBERS numbers"
awk -v n="$NUMBERS" 'BEGIN {
  printf "{\"numbers\":["
  for (i = 0; i < n; i++) printf "%s\"+9198%08d\"", (i ? "," : ""), i
  printf "],\"checks\":[\"registered\"]}"
}' >"$work/body.json"

"$BENCH_SIM_BIN" --listen "127.0.0.1:$sim_port" --config "$work/sim.toml" >"$work/sim.log" 2>&1 &
sim_pid=$!
pids+=("$sim_pid")
"$BENCH_GATEWAY_BIN" --config "$work/gateway.toml" serve >"$work/gateway.log" 2>&1 &
gw_pid=$!
pids+=("$gw_pid")
wait_port "$sim_port" "$sim_pid" || die "the simulator did not start: $(tail -5 "$work/sim.log")"
wait_port "$gw_port" "$gw_pid" || die "the gateway did not start: $(tail -5 "$work/gateway.log")"
# The port opens before the HTTP workers are built: the idle figure is read once the gateway is ready.
for _ in $(seq 1 200); do
  curl -sf -o /dev/null "$gw/readyz" && break
  sleep 0.05
done

token=$("$BENCH_GATEWAY_BIN" --config "$work/gateway.toml" token --tenant bench \
  --scope "numbers:check numbers:read" --ttl 1h)
rss_before=$(awk '/^VmHWM:/ {print $2}' "/proc/$gw_pid/status")

# CPU seconds (user + system) a process has used so far.
cpu_seconds() {
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.3f", ($12 + $13) / hz }' "/proc/$1/stat"
}
redis_cpu_seconds() {
  if command -v redis-cli >/dev/null; then
    redis-cli -u "$REDIS_URL" info cpu 2>/dev/null | tr -d '\r' \
      | awk -F: '/^used_cpu_(sys|user):/ { s += $2 } END { printf "%.3f", s }'
  else
    echo null
  fi
}

log "posting $(stat -c %s "$work/body.json") bytes"
started=$(date +%s.%N)
read -r code accept_seconds < <(curl -sS -o "$work/accepted.json" -w '%{http_code} %{time_total}\n' \
  -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  --data-binary "@$work/body.json" "$gw/v1/number-checks")
accepted_at=$(date +%s.%N)
cpu_at_accept="$(cpu_seconds "$gw_pid") $(cpu_seconds "$sim_pid") $(redis_cpu_seconds)"
peak_rss_kb=$(awk '/^VmHWM:/ {print $2}' "/proc/$gw_pid/status")
[[ $code == 202 || $code == 200 ]] || die "POST answered $code: $(head -c 600 "$work/accepted.json")"
id=$(jq -r .id "$work/accepted.json")
log "accepted $id in ${accept_seconds}s (HTTP $code), peak RSS ${peak_rss_kb} kB"

status=$(jq -r .status "$work/accepted.json")
deadline=$(( $(date +%s) + COMPLETE_TIMEOUT ))
while [[ $status != completed && $status != completed_with_errors && $status != failed ]]; do
  (( $(date +%s) < deadline )) || die "job $id not finished after ${COMPLETE_TIMEOUT}s (status $status)"
  sleep 0.1
  curl -sS -o "$work/job.json" -H "Authorization: Bearer $token" "$gw/v1/number-checks/$id" \
    || die "GET of the job failed"
  status=$(jq -r '.status // "unknown"' "$work/job.json")
done
finished_at=$(date +%s.%N)
cpu_at_finish="$(cpu_seconds "$gw_pid") $(cpu_seconds "$sim_pid") $(redis_cpu_seconds)"
[[ -f $work/job.json ]] || cp "$work/accepted.json" "$work/job.json"
peak_rss_after_kb=$(awk '/^VmHWM:/ {print $2}' "/proc/$gw_pid/status")

jq -cn \
  --argjson numbers "$NUMBERS" \
  --argjson http_status "$code" \
  --argjson accept_seconds "$accept_seconds" \
  --argjson peak_rss_kb "$peak_rss_kb" \
  --argjson idle_rss_kb "$rss_before" \
  --argjson complete_seconds "$(awk -v a="$finished_at" -v b="$accepted_at" 'BEGIN {printf "%.3f", a - b}')" \
  --argjson total_seconds "$(awk -v a="$finished_at" -v b="$started" 'BEGIN {printf "%.3f", a - b}')" \
  --argjson peak_rss_after_completion_kb "$peak_rss_after_kb" \
  --arg status "$status" \
  --argjson completion_cpu "$(awk -v a="$cpu_at_accept" -v b="$cpu_at_finish" 'BEGIN {
      split(a, x, " "); split(b, y, " ")
      printf "{\"gateway\": %.2f, \"simulator\": %.2f, \"redis\": %s}", y[1] - x[1], y[2] - x[2],
        (x[3] == "null" ? "null" : sprintf("%.2f", y[3] - x[3]))
    }')" \
  --slurpfile job "$work/job.json" \
  '{numbers: $numbers, http_status: $http_status, accept_seconds: $accept_seconds,
    peak_rss_kb: $peak_rss_kb, complete_seconds: $complete_seconds,
    total_seconds: $total_seconds, status: $status,
    answered: ($job[0].progress.answered + $job[0].progress.from_cache),
    sub_orders: ($job[0].sub_orders | length), idle_rss_kb: $idle_rss_kb,
    peak_rss_after_completion_kb: $peak_rss_after_completion_kb,
    completion_cpu_seconds: $completion_cpu}'
