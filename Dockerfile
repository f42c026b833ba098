# trustdesk portal: multi-stage build, small non-root runtime.
#   docker build -t trustdesk .
#   docker run -p 8080:8080 -v /etc/trustdesk:/config:ro -v trustdesk-data:/data trustdesk
# The config file is /config/trustdesk.toml; put secrets in files and point
# TRUSTDESK_LDAP__BIND_PASSWORD_FILE / TRUSTDESK_OIDC__CLIENT_SECRET_FILE at them.
# The image also serves the companion client of its own version at /downloads/ (built in the
# `build` stage); that needs an https:// public_url. Without one, set
# TRUSTDESK_DOWNLOADS__ENABLED=false. Add the CA of the portal's HTTPS certificate with
# TRUSTDESK_DOWNLOADS__CA_FILE=/config/portal-ca.pem when workstations do not trust it already.

# One build stage for the portal and both clients, with Debian's own Rust from
# bookworm-security (rustc-web, cargo-web; rust-web-src is the std source that -Zbuild-std
# compiles for Windows, allowed on a stable compiler by RUSTC_BOOTSTRAP=1) and Debian's
# mingw-w64 as the linker: packages by name, never a pinned version, and no toolchain from
# anywhere but Debian's archive (bookworm's own rustc is older than this workspace needs).
# lab/build-windows-client.sh does the same outside Docker, and tests the exe under Wine.
FROM debian:bookworm AS build
RUN if ! grep -rqs bookworm-security /etc/apt/sources.list /etc/apt/sources.list.d/; then \
      echo 'deb http://deb.debian.org/debian-security bookworm-security main' \
        > /etc/apt/sources.list.d/bookworm-security.list; \
    fi \
 && apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates gcc g++ libc6-dev make \
      rustc-web cargo-web rust-web-src libstd-rust-web-dev \
      gcc-mingw-w64-x86-64 binutils-mingw-w64-x86-64 \
 && rm -rf /var/lib/apt/lists/* \
 && rustc --version && cargo --version \
 && dpkg --compare-versions "$(rustc --version | cut -d' ' -f2)" ge 1.88 \
 || { echo "rustc-web from bookworm-security is needed (1.88 or newer)" >&2; exit 1; }
WORKDIR /src
# cmake/clang are not needed: aws-lc-sys builds with the C compiler in the image.
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
COPY src ./src
COPY templates ./templates
COPY migrations ./migrations
COPY static ./static
ENV CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
RUN cargo build --release --locked --bin trustdesk \
 && cargo build -p trustdesk-client --release --locked --bin trustdesk-client \
 && RUSTC_BOOTSTRAP=1 cargo build -p trustdesk-client --release --locked \
      --target x86_64-pc-windows-gnu -Zbuild-std \
 && mkdir -p /out \
 && cp target/release/trustdesk-client /out/trustdesk-client-linux-x86_64 \
 && cp target/x86_64-pc-windows-gnu/release/trustdesk-client.exe /out/trustdesk-client.exe

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin trustdesk \
 && mkdir -p /data /config /app \
 && chown trustdesk /data
WORKDIR /app
COPY --from=build /src/target/release/trustdesk /usr/local/bin/trustdesk
COPY --from=build /out/ /usr/share/trustdesk/client/
COPY static ./static
USER trustdesk
# [downloads] defaults: the two binaries above. The portal checks at start that both are
# trustdesk-client of its own version, hashes them once and serves them from memory.
ENV TRUSTDESK_CONFIG=/config/trustdesk.toml \
    TRUSTDESK_DATA_DIR=/data \
    TRUSTDESK_LISTEN=0.0.0.0:8080 \
    TRUSTDESK_DOWNLOADS__WINDOWS_EXE=/usr/share/trustdesk/client/trustdesk-client.exe \
    TRUSTDESK_DOWNLOADS__LINUX_BINARY=/usr/share/trustdesk/client/trustdesk-client-linux-x86_64
VOLUME ["/data", "/config"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["trustdesk"]
CMD ["serve"]
