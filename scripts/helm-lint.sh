#!/usr/bin/env bash
# Lint, render and check the Helm chart (helm/wa-gateway) without a helm binary or a cluster.
#
#   make helm-lint        # or: scripts/helm-lint.sh
#
# Helm's engine comes from PyPI as shared libraries (helm-python-sdk: lint with values,
# schema validation, offline rendering; helm-sdkpy: a second `helm lint`), and
# kubernetes-validate checks the rendered manifests against Kubernetes' schemas offline.
# They live in a private virtualenv, .venv-helm/ (gitignored), created on first use
# (about 30 s); later runs take a few seconds. Set HELM_LINT_VENV to use another one.
# Any failed check exits non-zero. What is checked: scripts/helm_lint.py.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${HELM_LINT_VENV:-.venv-helm}"
PYTHON="${PYTHON:-python3}"
# Pinned: the checks rely on these engines' APIs.
PACKAGES=(helm-python-sdk==0.2.2 helm-sdkpy==0.1.32 cffi kubernetes-validate==1.37.0 PyYAML)
PIP_FLAGS=(--quiet --disable-pip-version-check --ignore-requires-python)  # helm-sdkpy declares >=3.12; it runs on 3.11

have_engines() {
  "$1" - <<'PY' 2>/dev/null
import sys, tomllib, yaml, helm_python, helm_sdkpy, kubernetes_validate
PY
}

if [ -x "$VENV/bin/python" ] && have_engines "$VENV/bin/python"; then
  :
else
  echo "helm-lint: preparing $VENV (helm-python-sdk, helm-sdkpy, kubernetes-validate from PyPI)"
  if [ ! -x "$VENV/bin/python" ]; then
    rm -rf "$VENV"
    if ! "$PYTHON" -m venv "$VENV" >/dev/null 2>&1; then
      # Debian without python3-venv: install it when we may, otherwise say how.
      if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        pyver="$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "python${pyver}-venv" >/dev/null \
          || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        rm -rf "$VENV"
        "$PYTHON" -m venv "$VENV"
      else
        echo "helm-lint: '$PYTHON -m venv' failed; install python3-venv (Debian: apt-get install python3-venv)" >&2
        exit 1
      fi
    fi
  fi
  "$VENV/bin/python" -m pip install "${PIP_FLAGS[@]}" "${PACKAGES[@]}"
  have_engines "$VENV/bin/python" || { echo "helm-lint: the engines do not import after installing" >&2; exit 1; }
fi

exec "$VENV/bin/python" scripts/helm_lint.py "$@"
