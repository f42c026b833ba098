# trustdesk portal: multi-stage build, small non-root runtime.
#   docker build -t trustdesk .
#   docker run -p 8080:8080 -v /etc/trustdesk:/config:ro -v trustdesk-data:/data trustdesk
# The config file is /config/trustdesk.toml; put secrets in files and point
# TRUSTDESK_LDAP__BIND_PASSWORD_FILE / TRUSTDESK_OIDC__CLIENT_SECRET_FILE at them.

FROM rust:1-bookworm AS build
WORKDIR /src
# cmake/clang are not needed: aws-lc-sys builds with the C compiler in the image.
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
COPY src ./src
COPY templates ./templates
COPY migrations ./migrations
COPY static ./static
RUN cargo build --release --locked --bin trustdesk

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin trustdesk \
 && mkdir -p /data /config /app \
 && chown trustdesk /data
WORKDIR /app
COPY --from=build /src/target/release/trustdesk /usr/local/bin/trustdesk
COPY static ./static
USER trustdesk
ENV TRUSTDESK_CONFIG=/config/trustdesk.toml \
    TRUSTDESK_DATA_DIR=/data \
    TRUSTDESK_LISTEN=0.0.0.0:8080
VOLUME ["/data", "/config"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["trustdesk"]
CMD ["serve"]
