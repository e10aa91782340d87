# syntax=docker/dockerfile:1.7
#
# The gateway image: one binary on distroless, running as uid 65532.
#
#   make docker                       # needs a Docker engine; passes VERSION, REVISION and SOURCE
#   docker run --rm -p 8080:8080 -e GATEWAY_AUTH__ALLOW_DEV_SECRET=true wa-gateway/gateway-api
#
# The build steps live in scripts/image-build.sh, which CI also runs (`image-build.sh check`) on a
# fresh copy of the repository, so this file and CI cannot drift.
#
# Nothing is written at run time (no cache dir, no temp files), so the container runs with
# a read-only root filesystem. No secret is baked in: configuration comes from GATEWAY_*
# variables and an optional TOML file (GATEWAY_CONFIG), secrets from Kubernetes Secrets.

ARG RUST_VERSION=1.95

############################ toolchain ############################
# bookworm, like the runtime below: the binary links against the same glibc it runs with.
FROM rust:${RUST_VERSION}-slim-bookworm AS toolchain
# aws-lc-sys (rustls' crypto provider) may need cmake and make to build its C code.
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake make \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
ENV CARGO_TERM_COLOR=never \
    CARGO_INCREMENTAL=0
COPY scripts/image-build.sh /usr/local/bin/image-build

############################ skeleton ############################
# Manifests, the lock file and a stub for every declared target: it changes only when they do,
# so the dependency layer below is reused across code changes.
FROM toolchain AS skeleton
COPY . /full
RUN image-build skeleton /full /skeleton

############################ builder ############################
FROM toolchain AS builder
# 1. Dependency layer: every third-party crate, compiled with the image profile.
COPY --from=skeleton /skeleton/ ./
RUN image-build deps
# 2. The real sources.
COPY . .
ARG REVISION=unknown
RUN BUILD_REVISION="${REVISION}" image-build app /out

############################ runtime ############################
# distroless/cc: glibc + libgcc + CA certificates, no shell, no package manager.
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
ARG VERSION=0.0.0
ARG REVISION=unknown
ARG SOURCE=""
LABEL org.opencontainers.image.title="wa-gateway" \
      org.opencontainers.image.description="WhatsApp vendor gateway (gateway-api)" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}"
COPY --from=builder /out/gateway-api /gateway-api
ENV GATEWAY_SERVER__LISTEN=0.0.0.0:8080 \
    GATEWAY_LOG__FORMAT=json
# 65532 = "nonroot" in distroless; numeric so runAsNonRoot can verify it.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/gateway-api"]
CMD ["serve"]
