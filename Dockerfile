# syntax=docker/dockerfile:1.7
#
# The gateway image: one static-ish binary on distroless, running as uid 65532.
#
#   make docker                       # needs a Docker engine (or: docker build -t wa-gateway/gateway-api .)
#   docker run --rm -p 8080:8080 -e GATEWAY_AUTH__ALLOW_DEV_SECRET=true wa-gateway/gateway-api
#
# Nothing is written at run time (no cache dir, no temp files), so the container runs with
# a read-only root filesystem. No secret is baked in: configuration comes from GATEWAY_*
# variables and an optional TOML file (GATEWAY_CONFIG), secrets from Kubernetes Secrets.

ARG RUST_VERSION=1.95

############################ builder ############################
# bookworm, like the runtime below: the binary links against the same glibc it runs with.
FROM rust:${RUST_VERSION}-slim-bookworm AS builder
# aws-lc-sys (rustls' crypto provider) may need cmake and make to build its C code.
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake make \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
ENV CARGO_TERM_COLOR=never \
    CARGO_INCREMENTAL=0

# 1. Dependency layer: only the manifests and the lock file, with empty crate sources.
#    This layer (every third-party crate compiled in release mode) is reused until
#    Cargo.toml / Cargo.lock change, so a code change rebuilds only the workspace crates.
COPY Cargo.toml Cargo.lock ./
COPY crates/domain/Cargo.toml      crates/domain/Cargo.toml
COPY crates/egress/Cargo.toml      crates/egress/Cargo.toml
COPY crates/providers/Cargo.toml   crates/providers/Cargo.toml
COPY crates/gateway-api/Cargo.toml crates/gateway-api/Cargo.toml
COPY crates/vendor-sim/Cargo.toml  crates/vendor-sim/Cargo.toml
RUN set -eux; \
    for crate in domain egress providers gateway-api vendor-sim; do \
      mkdir -p "crates/$crate/src"; : > "crates/$crate/src/lib.rs"; \
    done; \
    echo 'fn main() {}' > crates/gateway-api/src/main.rs; \
    cargo build --release -p gateway-api --locked; \
    rm -rf crates/*/src

# 2. The real sources. `touch` makes their mtimes newer than the stub build, so cargo
#    rebuilds the workspace crates instead of reusing the empty stubs.
COPY crates crates
RUN set -eux; \
    find crates -name '*.rs' -exec touch {} +; \
    cargo build --release -p gateway-api --locked; \
    install -D -m 0555 target/release/gateway-api /out/gateway-api; \
    /out/gateway-api --version

############################ runtime ############################
# distroless/cc: glibc + libgcc + CA certificates, no shell, no package manager.
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
LABEL org.opencontainers.image.title="wa-gateway" \
      org.opencontainers.image.description="WhatsApp vendor gateway (gateway-api)" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /out/gateway-api /gateway-api
ENV GATEWAY_SERVER__LISTEN=0.0.0.0:8080 \
    GATEWAY_LOG__FORMAT=json
# 65532 = "nonroot" in distroless; numeric so runAsNonRoot can verify it.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/gateway-api"]
CMD ["serve"]
