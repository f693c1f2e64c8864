# securechat's container image: the server (and its CLI) on a small Debian runtime, as a
# non-root user, configured only by SECURECHAT_* variables (`securechat --help` lists them).
#
#   docker build -t securechat .                       # builds the release binary inside
#   docker run -p 127.0.0.1:8080:8080 -v securechat-data:/data securechat
#
# The base images are build arguments, so a mirror or an image made locally can stand in:
#   --build-arg RUST_IMAGE=...  the Rust toolchain image the binary is compiled in
#   --build-arg RUNTIME_IMAGE=... the Debian bookworm image it runs on (glibc must match)
# deploy/compose.yaml runs two nodes of it behind nginx (see README.md, "Docker").
# CI, which cannot download a Rust toolchain inside a build, builds the `runtime-base` target
# and adds a binary built on the host (deploy/docker/securechat-prebuilt/Dockerfile).

ARG RUST_IMAGE=docker.io/library/rust:1-bookworm
ARG RUNTIME_IMAGE=docker.io/library/debian:bookworm-slim

# --- The runtime: everything but the binary --------------------------------------------------
FROM ${RUNTIME_IMAGE} AS runtime-base
# ca-certificates: TLS to S3, SMTP and PostgreSQL by name; postgresql-client: pg_dump and
# pg_restore, which `securechat backup` runs for a PostgreSQL database (the same major version
# as the Compose deployment's PostgreSQL, 15).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates postgresql-client-15 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb \
 && useradd --system --uid 10001 --user-group --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin securechat \
 && mkdir -p /data/files /backups \
 && chown -R securechat:securechat /data /backups \
 && chmod 0700 /data /backups
# The data folder (SQLite database, token secret if none is configured, files) and the
# scheduled backups. A new named volume takes this ownership from the image.
VOLUME ["/data"]
ENV SECURECHAT_DATA_DIR=/data \
    SECURECHAT_LISTEN=0.0.0.0:8080 \
    SECURECHAT_LOG_FORMAT=json
EXPOSE 8080
USER securechat:securechat
WORKDIR /data
# `securechat healthcheck` asks this process's own /healthz (the address from
# SECURECHAT_LISTEN, https when SECURECHAT_TLS_CERT is set), so the image needs no curl. It
# reads only those two variables: set the listen address and the certificate by environment,
# not in a config file, or the container never becomes healthy.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["securechat", "healthcheck"]
ENTRYPOINT ["securechat"]

# --- The binary, compiled from this folder ---------------------------------------------------
FROM ${RUST_IMAGE} AS builder
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p securechat \
 && install -s -m 0755 target/release/securechat /securechat

# --- The image (the default target) ----------------------------------------------------------
FROM runtime-base AS runtime
COPY --from=builder /securechat /usr/local/bin/securechat
