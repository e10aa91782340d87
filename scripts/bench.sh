#!/usr/bin/env bash
# `make bench`: installs the load tools and reference systems if missing (Debian packages), builds
# the binaries once with the profile the container image ships (`image`: fat LTO, one codegen
# unit), then runs bench/run.py, which writes docs/benchmarks.md and
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

# The burst scenario holds 2,000 connections open in wrk and as many in the gateway; both inherit
# this limit (bench/run.py checks it again and says what to raise).
open_files=8192
if [[ $(ulimit -n) != unlimited ]] && (( $(ulimit -n) < open_files )); then
  hard=$(ulimit -Hn)
  if [[ $hard == unlimited ]] || (( hard >= open_files )); then ulimit -n "$open_files"; else ulimit -n "$hard"; fi
fi

# The profile bench/run.py measures (`--profile`, image by default) is the one built here.
profile=image
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case ${args[i]} in
    --profile) profile=${args[i + 1]:-image} ;;
    --profile=*) profile=${args[i]#--profile=} ;;
  esac
done
cargo build --profile "$profile" --locked -p gateway-api -p vendor-sim
exec python3 bench/run.py "$@"
