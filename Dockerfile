# SPDX-License-Identifier: Apache-2.0
# Dockerfile - the xmpp-edge container image.
#
# Stage 1 (Debian) runs ./build.sh: the same pinned, SHA-256-checked
# dependency tarballs (deps/deps.lock) and the same static musl build as a
# developer's.  Stage 2 starts FROM scratch and holds only what
# appliance/container-rootfs.sh lays out: the static binary, a CA bundle,
# the default configuration, the directories the daemon writes and, under
# /usr/share/doc/xmpp-edge/, the license notices of everything it holds
# (build.sh collects them from the verified tarballs into out/licenses/).
#
#   docker build -t xmpp-edge .
#   docker run -d --name xmpp-edge -p 5269:5269 -p 5270:5270 \
#       -v /srv/xmpp-edge/etc:/etc/xmpp-edge:ro \
#       -v xmpp-edge-state:/var/lib/xmpp-edge xmpp-edge
#
# /srv/xmpp-edge/etc holds xmpp-edge.json and certs/ (keys owned by uid 5269,
# mode 0600); the image's default xmpp-edge.json expects
# certs/example.com.crt and certs/example.com.key.
#
# Paths and volumes are documented in README.md ("Deployment").  Without a Docker
# engine, tests/container/run.sh builds the final stage with buildah.
ARG DEBIAN_IMAGE=debian:bookworm-slim

FROM ${DEBIAN_IMAGE} AS build
WORKDIR /src
COPY . .
RUN ./build.sh release \
 && appliance/container-rootfs.sh out/xmpp-edge /rootfs

FROM scratch
COPY --from=build /rootfs/ /
# COPY gives files uid 0 unless told otherwise (engines differ on whether
# COPY --from keeps the build stage's owners): the two directories the
# daemon writes are copied again, explicitly owned by its user.  Copying
# the parents' contents makes the directories themselves change owner.
COPY --from=build --chown=5269:5269 /rootfs/var/lib/ /var/lib/
COPY --from=build --chown=5269:5269 /rootfs/run/ /run/
LABEL org.opencontainers.image.title="xmpp-edge" \
      org.opencontainers.image.description="Edge-side XMPP s2s federation proxy"
# Numeric, so no user database is needed to resolve it (it matches
# /etc/passwd's "xmpp-edge" and the appliance's account).
USER 5269:5269
# 5269 s2s with STARTTLS, 5270 s2s direct TLS (XEP-0368), 5271 internal
# listener for the XMPP servers behind the proxy.
EXPOSE 5269 5270 5271
VOLUME ["/etc/xmpp-edge", "/var/lib/xmpp-edge"]
# SIGTERM (docker stop): the daemon delivers or bounces what is in flight,
# closes its streams and exits within limits.shutdown_timeout_ms; keep
# docker stop's grace (-t) above it.  The daemon is PID 1 here, so an
# upgrade is a new container (README "Upgrades and restarts").
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/bin/xmpp-edge", "status", "--quiet", "-c", "/etc/xmpp-edge/xmpp-edge.json"]
ENTRYPOINT ["/usr/bin/xmpp-edge"]
CMD ["run", "-c", "/etc/xmpp-edge/xmpp-edge.json"]
