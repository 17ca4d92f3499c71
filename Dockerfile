# syntax=docker/dockerfile:1
# The chat server in a small image. Build context: the workspace root.
#   docker build -t chat-server .
# Only the server is compiled (the desktop app and its graphics stack are not).

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
# The registry and target caches speed up rebuilds; the binary is copied out of the cache
# in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p chat-server \
    && cp target/release/chat-server /usr/local/bin/chat-server

FROM debian:bookworm-slim
# curl only serves the health check (docker-compose.yml).
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin chat \
    && mkdir -p /data \
    && chown chat:chat /data
COPY --from=build /usr/local/bin/chat-server /usr/local/bin/chat-server
USER chat
WORKDIR /data
# Every setting is a CHAT_* variable (chat-server --help); these are the image's defaults.
ENV CHAT_LISTEN=0.0.0.0:8443 \
    CHAT_DATA_DIR=/data \
    CHAT_LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 8443
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/chat-server"]
