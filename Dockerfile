# syntax=docker/dockerfile:1
#
# An AgentCore Runtime image: Debian 12's stock nginx with this module's
# Debian package, POST /invocations and GET /ping on port 8080, logs on
# stdout/stderr, credentials from the runtime's role.  AgentCore runs
# linux/arm64; amd64 builds too (docs/deploy-agentcore.md):
#
#   docker buildx build --platform linux/arm64 -t agentcore-nginx .
#
# The first stage builds libnginx-mod-http-agentcore for the target
# architecture exactly as `make deb` does (debian/, dh-sequence-nginx),
# the second installs it next to the stock nginx package.

FROM debian:bookworm-slim AS deb
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        build-essential debhelper dpkg-dev fakeroot nginx-dev \
        libcurl4-openssl-dev libgmp-dev libjansson-dev libmpfr-dev \
        libssl-dev zlib1g-dev libgiac-dev
WORKDIR /src/agentcore
COPY . .
RUN dpkg-buildpackage -b -us -uc \
    && mkdir /debs && mv ../libnginx-mod-http-agentcore_*.deb /debs/

FROM debian:bookworm-slim
RUN --mount=type=bind,from=deb,source=/debs,target=/debs \
    apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        nginx ca-certificates /debs/libnginx-mod-http-agentcore_*.deb \
    && rm -rf /var/lib/apt/lists/*
COPY conf/agentcore-runtime.conf /etc/nginx/agentcore-runtime.conf.template
COPY conf/docker-entrypoint.sh /usr/local/bin/agentcore-entrypoint
ENV AWS_REGION=us-west-2 \
    DOCKER_CONTAINER=1
EXPOSE 8080
STOPSIGNAL SIGQUIT
ENTRYPOINT ["/usr/local/bin/agentcore-entrypoint"]
