#!/usr/bin/env bash
# The contract run: the demo (gateway + simulator) on free loopback ports, then four tools that
# use the API the way its consumers do, each against the document the server serves:
#   lint          Redocly CLI (npm, pinned) lints the document: 0 errors
#   client        openapi-python-client generates a client with 0 warnings; tests/contract/drive_client.py uses it
#   browser       Playwright drives Debian's chromium through Swagger UI (tests/contract/browser.py)
#   schemathesis  schemathesis 4, every check, all four phases, fixed seed: 0 failures
# One line per step with its time; a failing step prints its tool's output and the run stops.
# Python tools live in a venv (.venv-contract, or CONTRACT_VENV) made once from
# tests/contract/requirements.txt. Artifacts (logs, reports, screenshot): $CARGO_TARGET_DIR/contract/.
# The debug binaries are reused (`make build`); nothing is built in release.
#
#   CONTRACT_STEPS="lint client"   run only some steps
#   CONTRACT_STORE=redis           use the Redis at REDIS_URL (own key prefix) instead of the embedded store
#   CONTRACT_MAX_EXAMPLES=N        schemathesis examples per operation and phase (default 50)
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO="${CARGO:-cargo}"
PYTHON="${PYTHON:-python3}"
target="${CARGO_TARGET_DIR:-target}"
bin="$target/debug"
out="$target/contract"
venv="${CONTRACT_VENV:-.venv-contract}"
case "$venv" in /*) ;; *) venv="$PWD/$venv" ;; esac  # the client generator's hooks run elsewhere
steps="${CONTRACT_STEPS:-lint schemathesis client browser}"
max_examples="${CONTRACT_MAX_EXAMPLES:-50}"
redocly_version="2.77.0"
chromium="${CHROMIUM:-/usr/bin/chromium}"
# The demo's inbound webhook secret (config/demo.toml), so the vendor webhooks are fuzzed too.
webhook_secret="$(sed -n 's/^webhook_secret = "\(.*\)"/\1/p' config/demo.toml)"
scopes="numbers:read numbers:check accounts:read accounts:write sessions:write actions:write business:read events:read events:write admin"

mkdir -p "$out"
run_started=$(date +%s)
# The demo's processes outlive the step that starts them; their ids are kept in a file.
pid_file="$out/demo.pids"
: >"$pid_file"
cleanup() {
  local pid
  while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$pid_file"
}
trap cleanup EXIT INT TERM

# step NAME COMMAND...: runs COMMAND in a subshell that stops at its first failing command (an
# `if` around it would switch that off), output in $out/NAME.log; one line with the time.
step() {
  local name="$1"; shift
  local log="$out/$name.log" started=$SECONDS rc
  set +e
  (set -e; "$@") >"$log" 2>&1
  rc=$?
  set -e
  if [ "$rc" = 0 ]; then
    echo "contract: $name ok ($((SECONDS - started)) s)"
  else
    echo "contract: $name FAILED ($((SECONDS - started)) s, exit $rc); its output ($log):" >&2
    cat "$log" >&2
    exit 1
  fi
}

wants() { [[ " $steps " == *" $1 "* ]]; }

free_port() {
  "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

prepare_venv() {
  local stamp="$venv/.requirements"
  if [ -x "$venv/bin/python" ] && cmp -s tests/contract/requirements.txt "$stamp"; then
    return 0
  fi
  rm -rf "$venv"
  "$PYTHON" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
    -r tests/contract/requirements.txt
  "$venv/bin/python" -m pip check
  cp tests/contract/requirements.txt "$stamp"
}

# The same command as `make build`: a narrower one (`-p gateway-api --bins`) resolves features
# without the test packages' dependencies and rebuilds the binaries that `make test` just built.
build_binaries() {
  "$CARGO" build --workspace --all-targets --locked
}

start_demo() {
  sim_port=$(free_port)
  gateway_port=$(free_port)
  while [ "$gateway_port" = "$sim_port" ]; do gateway_port=$(free_port); done
  base="http://127.0.0.1:$gateway_port"
  # The demo's configuration with the ports moved; rate limits raised so the fuzzer reaches the
  # handlers instead of spending its examples on 429s (429 stays documented and tested in the crate).
  sed -e "s#127\.0\.0\.1:9090#127.0.0.1:$sim_port#g" -e "s#127\.0\.0\.1:8080#127.0.0.1:$gateway_port#g" \
    config/demo.toml >"$out/gateway.toml"
  local store_env=()
  if [ "${CONTRACT_STORE:-embedded}" = redis ]; then
    store_env=("GATEWAY_STORE__REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}"
      "GATEWAY_STORE__KEY_PREFIX=contract-$$-$RANDOM:")
  fi
  gateway_env=(env "${store_env[@]}"
    GATEWAY_LOG__FORMAT=json
    GATEWAY_LIMITS__RATE_LIMITS__DEFAULT__REQUESTS=1000000
    "GATEWAY_LIMITS__RATE_LIMITS__NUMBERS:CHECK__REQUESTS=1000000")

  "$bin/vendor-sim" --listen "127.0.0.1:$sim_port" --config config/demo-sim.toml \
    --webhook-target "$base" >"$out/vendor-sim.log" 2>&1 &
  echo $! >>"$pid_file"
  "${gateway_env[@]}" "$bin/gateway-api" --config "$out/gateway.toml" serve >"$out/gateway.log" 2>&1 &
  echo $! >>"$pid_file"
  for _ in $(seq 1 300); do
    if curl -fsS "$base/readyz" >/dev/null 2>&1; then break; fi
    sleep 0.1
  done
  curl -fsS "$base/readyz" >/dev/null
  token=$("${gateway_env[@]}" "$bin/gateway-api" --config "$out/gateway.toml" token --tenant demo \
    --scope "$scopes" --sub contract-run --ttl 2h)
  # Indented, so that the tools' line:column positions are readable.
  curl -fsS "$base/openapi.json" | "$PYTHON" -m json.tool >"$out/openapi.json"
  printf 'base=%q\ntoken=%q\n' "$base" "$token" >"$out/demo.env"
  echo "gateway $base (log: $out/gateway.log), simulator 127.0.0.1:$sim_port (log: $out/vendor-sim.log)"
}

lint_document() {
  command -v npx >/dev/null || { echo "the lint step needs Node.js with npx (Debian: apt-get install nodejs npm)"; exit 1; }
  npx --yes "@redocly/cli@$redocly_version" lint --config tests/contract/redocly.yaml \
    --format stylish "$out/openapi.json"
}

run_schemathesis() {
  # Every check is on through the config file ([checks] enabled), not `--checks all`, which would
  # also switch on the one check an operation there opts out of, with its reason.
  # The event stream never ends by design (SSE): a fuzzer request would wait for the timeout.
  "$venv/bin/schemathesis" --config-file tests/contract/schemathesis.toml \
    run "$out/openapi.json" --url "$base" \
    --phases examples,coverage,fuzzing,stateful \
    --seed 20261129 --max-examples "$max_examples" --workers 2 \
    --header "Authorization: Bearer $token" \
    --header "X-Webhook-Secret: $webhook_secret" \
    --exclude-path /v1/events/stream \
    --request-timeout 30 \
    --report junit --report-dir "$out/schemathesis"
}

generate_client() {
  rm -rf "$out/generated"
  mkdir -p "$out/generated"
  PATH="$venv/bin:$PATH" "$venv/bin/openapi-python-client" generate --path "$out/openapi.json" \
    --config tests/contract/client-config.yml --meta none \
    --output-path "$out/generated/gateway_client" --fail-on-warning
  PYTHONPATH="$out/generated" "$venv/bin/python" tests/contract/drive_client.py "$base" "$token"
}

drive_browser() {
  [ -x "$chromium" ] || { echo "no chromium at $chromium (Debian: apt-get install chromium; .ci/run installs it)"; exit 1; }
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 "$venv/bin/python" tests/contract/browser.py \
    "$base" "$token" "$chromium" "$out/swagger-ui.png"
}

step venv prepare_venv
step build build_binaries
step demo start_demo
# shellcheck source=/dev/null
. "$out/demo.env"
# The fuzzer goes last: it leaves the simulator's port quota used up and many objects behind.
wants lint && step lint lint_document
wants client && step client generate_client
wants browser && step browser drive_browser
wants schemathesis && step schemathesis run_schemathesis
echo "contract: all steps passed in $(( $(date +%s) - run_started )) s (artifacts in $out)"
