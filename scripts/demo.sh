#!/usr/bin/env bash
# The demo: the vendor simulator on 127.0.0.1:9090 and the gateway on 127.0.0.1:8080 in front of
# it (embedded store unless GATEWAY_STORE__REDIS_URL is set), with a printed development token.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --quiet --locked -p gateway-api -p vendor-sim
bin="${CARGO_TARGET_DIR:-target}/debug"
config=config/demo.toml
scopes="numbers:read numbers:check accounts:read accounts:write sessions:write actions:write business:read events:read events:write admin"

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

"$bin/vendor-sim" --listen 127.0.0.1:9090 --config config/demo-sim.toml &
pids+=($!)
"$bin/gateway-api" --config "$config" serve &
pids+=($!)

for _ in $(seq 1 100); do
  if (exec 3<>/dev/tcp/127.0.0.1/8080) 2>/dev/null; then break; fi
  sleep 0.1
done
token=$("$bin/gateway-api" --config "$config" token --tenant demo --scope "$scopes" --sub demo-user --ttl 12h)

cat <<BANNER

  WhatsApp vendor gateway demo
  ----------------------------
  Swagger UI : http://127.0.0.1:8080/docs/   (press Authorize, paste the token below)
  Simulator  : http://127.0.0.1:9090          (ledger: /_sim/ledger, faults: /_sim/faults)
  Receiver   : subscriptions and job callbacks may go to http://127.0.0.1:18088/ (start your
               receiver on that port; other local URLs are refused) and, for the API
               document's examples, https://hooks.example.com/
  Token (tenant "demo", every scope, 12 h):

$token

  Try: curl -H "Authorization: Bearer \$TOKEN" http://127.0.0.1:8080/v1/whoami
  Stop with Ctrl-C.

BANNER
wait -n "${pids[@]}"
