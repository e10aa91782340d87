#!/usr/bin/env bash
# `make bench`: installs the load tools and reference systems if missing (Debian packages), builds
# the release binaries once, then runs bench/run.py, which writes docs/benchmarks.md and
# docs/benchmarks/. Arguments go to bench/run.py (`--help` lists them).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || need+=(nginx-light)
command -v haproxy >/dev/null || need+=(haproxy)
command -v redis-benchmark >/dev/null || need+=(redis-tools)
command -v redis-server >/dev/null || need+=(redis-server)
command -v python3 >/dev/null || need+=(python3)
if ((${#need[@]})); then
  echo "installing ${need[*]}" >&2
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
# The packaged services are not wanted running: the suite starts its own on free ports.
for svc in nginx haproxy; do
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
    echo "note: a system $svc is running; the suite uses its own instance on a free port" >&2
  fi
done

cargo build --release --locked -p gateway-api -p vendor-sim
exec python3 bench/run.py "$@"
