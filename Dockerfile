# syntax=docker/dockerfile:1
#
# dockgate container image.
#
#   docker build -t dockgate .
#   docker run -d --name dockgate --read-only \
#     --cap-drop ALL --security-opt no-new-privileges \
#     --group-add "$(stat -c %g /var/run/docker.sock)" \
#     -v /var/run/docker.sock:/var/run/docker.sock:ro \
#     -v dockgate-socket:/run/dockgate \
#     dockgate
#   docker run --rm -v dockgate-socket:/run/dockgate \
#     -e DOCKER_HOST=unix:///run/dockgate/docker.sock docker:cli docker ps
#
# See docker-compose.yml for the same as a sidecar. Notes:
#  - dockgate runs as the image's non-root `node` user (uid 1000, gid 1000). To reach the Docker
#    socket it needs that socket's group: add it at run time (`--group-add` / compose `group_add`)
#    with the gid printed by `stat -c %g /var/run/docker.sock` on the host. Never run it as root.
#  - Mounting the Docker socket `:ro` does not make the API read-only (a socket's mode only says
#    who may connect); the profile in the config is what restricts it.
#  - The root filesystem can be read-only: dockgate writes nothing but its listen socket, in
#    /run/dockgate (a volume, shared with the clients, or a tmpfs).
#  - Configs live in /app/config; mount your own file over one, or elsewhere with `--config`.
#  - Behind a registry mirror or a TLS-intercepting proxy, pass what npm needs (defaults: none;
#    used by the build stages' npm ci only, never in the final image, see scripts/with-npm-env.sh):
#      docker build --build-arg NPM_REGISTRY=https://npm.example/ \
#        --build-arg EXTRA_CA_CERTS="$(cat /etc/ssl/certs/ca-certificates.crt)" -t dockgate .
#  - Without access to a container registry (CI), scripts/build-image.sh makes a stand-in for the
#    base image from Debian and the `node` npm package, then builds this file.

ARG NODE_IMAGE=node:24-bookworm-slim

# ---- build: TypeScript -> dist/ -------------------------------------------------------------
FROM ${NODE_IMAGE} AS build
ARG NPM_REGISTRY=
ARG EXTRA_CA_CERTS=
WORKDIR /src
COPY package.json package-lock.json scripts/with-npm-env.sh ./
# --ignore-scripts: the `node` devDependency (Node 24 for developers whose own node is older)
# would download a second Node 24 in its preinstall script. The base image already is Node 24;
# without that script node_modules/.bin/node is never created, so `npm run build` runs tsc on the
# image's node. No other dependency needs an install script.
RUN sh with-npm-env.sh npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build

# ---- production dependencies only ---------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
ARG NPM_REGISTRY=
ARG EXTRA_CA_CERTS=
WORKDIR /app
COPY package.json package-lock.json scripts/with-npm-env.sh ./
RUN sh with-npm-env.sh npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# ---- runtime --------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    DOCKGATE_HEALTH_SOCKET=/run/dockgate/docker.sock
# npm, npx and corepack are not needed to run dockgate: fewer tools for an intruder.
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
        /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
    && mkdir -p /run/dockgate \
    && chown node:node /run/dockgate \
    && chmod 0750 /run/dockgate
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
COPY config ./config
# A named volume mounted here starts with this directory's owner (node), so the unprivileged
# process can create its socket in it even with a read-only root filesystem.
VOLUME ["/run/dockgate"]
USER node:node

# GET /_ping through dockgate's own listen socket: healthy only when dockgate answers and the
# daemon behind it does too (the profile must allow `ping`, as every shipped profile does).
# Inline node, so it does not depend on a CLI subcommand; set DOCKGATE_HEALTH_SOCKET when the
# config listens elsewhere. Every 5 s, so that a service waiting for `service_healthy` starts
# within seconds (--start-interval would allow a slower steady pace, but needs Docker 25).
HEALTHCHECK --interval=5s --timeout=5s --start-period=30s --retries=3 \
    CMD ["node", "-e", "const s=require('net').connect(process.env.DOCKGATE_HEALTH_SOCKET||'/run/dockgate/docker.sock');let b='';s.setTimeout(3000,()=>process.exit(1));s.on('error',()=>process.exit(1));s.on('connect',()=>s.write('GET /_ping HTTP/1.1\\r\\nHost: dockgate\\r\\nConnection: close\\r\\n\\r\\n'));s.on('data',d=>{b+=d;if(/^HTTP\\/1\\.[01] 200 /.test(b))process.exit(0)});s.on('close',()=>process.exit(1))"]

ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["serve", "--config", "/app/config/read-only.yaml"]
