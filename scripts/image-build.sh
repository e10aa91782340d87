#!/usr/bin/env bash
# The image's build steps, in one place: the Dockerfile runs them, and CI runs the same ones on a
# fresh copy of the repository (`check`), so the two cannot drift.
#
#   scripts/image-build.sh skeleton SRC DEST  # manifests, lock file and stub targets of SRC into DEST
#   scripts/image-build.sh deps               # in a skeleton: compile every third-party crate
#   scripts/image-build.sh app OUT            # in the full tree: build the binary into OUT/gateway-api
#   scripts/image-build.sh check              # CI: the dependency stage's first step (`cargo fetch
#                                             # --locked`, which loads every manifest) on the
#                                             # skeleton of a fresh copy (seconds; no Docker engine)
#
# The skeleton changes only when a manifest, the lock file or the set of target files changes, so
# the dependency layer of the image is reused across code changes. Every target a manifest declares
# gets a stub (`[[bench]]` files too: cargo refuses a manifest whose declared targets are missing).
# PROFILE (default `image`: release with LTO and stripped symbols, see Cargo.toml) and
# BUILD_REVISION (the source revision for --version; the build context has no .git) are
# read from the environment.
set -euo pipefail

PROFILE="${PROFILE:-image}"
CARGO="${CARGO:-cargo}"
PACKAGE=gateway-api

# The files cargo treats as target roots (not the modules under them): each becomes a stub.
# Besides the conventional places, any `path = "..."` a manifest declares (the end-to-end
# package's one test target, tests/e2e/main.rs).
target_roots() {
  (
    cd "$1"
    {
      for root in src/lib.rs src/main.rs src/bin/*.rs build.rs benches/*.rs tests/*.rs examples/*.rs; do
        [ -f "$root" ] && echo "$root"
      done
      sed -n 's/^path = "\(.*\.rs\)"$/\1/p' Cargo.toml
    } | sort -u
    true
  )
}

# The workspace members: every crate, and the end-to-end suites at the top-level tests/.
member_manifests() {
  local src="$1" manifest
  for manifest in "$src"/crates/*/Cargo.toml "$src"/tests/Cargo.toml; do
    [ -f "$manifest" ] && echo "$manifest"
  done
  true
}

skeleton() {
  local src dest
  src="$(cd "$1" && pwd)"; dest="$2"
  mkdir -p "$dest"
  cp "$src/Cargo.toml" "$src/Cargo.lock" "$dest/"
  local manifest crate rel root
  while IFS= read -r manifest; do
    crate="$(dirname "$manifest")"; rel="${crate#"$src"/}"
    mkdir -p "$dest/$rel"
    cp "$manifest" "$dest/$rel/Cargo.toml"
    while IFS= read -r root; do
      [ -n "$root" ] || continue
      mkdir -p "$dest/$rel/$(dirname "$root")"
      if [ "$root" = src/lib.rs ]; then
        : > "$dest/$rel/$root"
      else
        echo 'fn main() {}' > "$dest/$rel/$root"
      fi
    done < <(target_roots "$crate")
  done < <(member_manifests "$src")
}

# Loads every manifest (a declared target without its file fails here) and downloads what the
# lock file pins for this platform; compiles nothing.
fetch() {
  "$CARGO" fetch --locked --target "$("${RUSTC:-rustc}" -vV | sed -n 's/^host: //p')"
}

deps() {
  fetch
  "$CARGO" build --profile "$PROFILE" -p "$PACKAGE" --locked
}

app() {
  local out="$1"
  # The real sources are older than the stub build's fingerprints: make cargo rebuild our crates.
  find crates -type f -exec touch {} +
  "$CARGO" build --profile "$PROFILE" -p "$PACKAGE" --locked
  install -D -m 0555 "target/$PROFILE/$PACKAGE" "$out/$PACKAGE"
  "$out/$PACKAGE" --version
}

WORK=""
check() {
  local root
  root="$(cd "$(dirname "$0")/.." && pwd)"
  WORK="$(mktemp -d)"
  trap 'rm -rf "$WORK"' EXIT
  local work="$WORK"
  # A fresh copy: the tracked files only (no target/, no .git), like a clean checkout.
  (cd "$root" && git ls-files -z --cached --others --exclude-standard | xargs -0 tar -cf -) \
    | (mkdir -p "$work/repo" && cd "$work/repo" && tar -xf -)
  skeleton "$work/repo" "$work/skeleton"
  # The dependency stage's first step, on the skeleton; then the same on the full tree.
  echo "image-build: the dependency stage's manifests load and its lock file resolves"
  (cd "$work/skeleton" && fetch)
  echo "image-build: the full tree's manifests load with the same lock file"
  (cd "$work/repo" && fetch)
  # The check can fail: without the stubs of declared targets, cargo refuses the manifests.
  cp -r "$work/skeleton" "$work/bare"
  find "$work/bare/crates" -path '*/benches/*.rs' -delete
  if (cd "$work/bare" && fetch >/dev/null 2>&1); then
    echo "image-build: a skeleton without its bench stubs was accepted; the check proves nothing" >&2
    exit 1
  fi
  grep -q "^\[profile\.$PROFILE\]" "$work/repo/Cargo.toml" \
    || { echo "image-build: Cargo.toml has no [profile.$PROFILE]" >&2; exit 1; }
  echo "image-build: ok"
}

case "${1:-}" in
  skeleton) [ $# -eq 3 ] || { echo "usage: $0 skeleton SRC DEST" >&2; exit 2; }; skeleton "$2" "$3" ;;
  deps) deps ;;
  app) [ $# -eq 2 ] || { echo "usage: $0 app OUT" >&2; exit 2; }; app "$2" ;;
  check) check ;;
  *) echo "usage: $0 skeleton SRC DEST | deps | app OUT | check" >&2; exit 2 ;;
esac
