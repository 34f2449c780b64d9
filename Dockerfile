# mcp-host: one image for the API and the worker (the command picks which).
# Stage 1 builds the stdio bridge, stage 2 installs production dependencies, stage 3 gathers the
# sources, stage 4 bundles the API and the worker into dist/ beside them; the last is the runtime,
# which runs the bundles (the worker still bundles workflows/ from the sources).
ARG NODE_IMAGE=node:24-bookworm-slim
# The Go toolchain that builds the stdio bridge (tools/stdio-bridge). Built here rather than copied
# from the build context: a fresh checkout builds without `npm run setup` (and its Go) having run, and
# the binaries always match the sources of the image.
ARG GO_IMAGE=golang:1.26

# The bridge every stdio server runs behind, static, for both architectures servers run on (the
# worker gives a server the one of its Docker daemon's architecture), as `npm run setup` builds it.
FROM ${GO_IMAGE} AS stdio-bridge
WORKDIR /src
COPY tools/stdio-bridge/go.mod tools/stdio-bridge/go.sum ./
RUN go mod download
COPY tools/stdio-bridge/*.go ./
RUN for arch in amd64 arm64; do \
      CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -trimpath -ldflags="-s -w" -o /out/stdio-bridge-$arch . || exit 1; \
    done

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# The Node binary that npm ci adds for the project's scripts (node-linux-*) is the base's own node here.
RUN npm ci --omit=dev --no-audit --no-fund && rm -rf node_modules/node-linux-* node_modules/.bin/node

# The sources, gathered in an empty stage so the runtime gets them as one layer (each layer is a full
# copy of the filesystem on storage drivers without overlays, such as vfs).
FROM scratch AS sources
COPY package.json tsconfig.json /app/
COPY lib /app/lib
COPY api /app/api
COPY gateway /app/gateway
COPY worker /app/worker
COPY workflows /app/workflows
COPY activities /app/activities
COPY migrations /app/migrations
COPY cli /app/cli
# What the bundling stage below needs beside the sources: its script, and esbuild alone of the
# dependencies (every package stays an import of node_modules, so nothing else is read).
COPY scripts/build-dist.ts /app/scripts/
COPY --from=deps /app/node_modules/esbuild /app/node_modules/esbuild
COPY --from=deps /app/node_modules/@esbuild /app/node_modules/@esbuild
# Where the worker looks for the bridge by default (STDIO_BRIDGE_DIR unset): the checkout's .tools/bin.
COPY --from=stdio-bridge /out/ /app/.tools/bin/

# The bundles, built beside the sources in two layers (node strips the build script's types itself);
# the runtime takes this stage's /app, without the script and esbuild, in place of the sources
# stage's, so it gains no layer.
FROM ${NODE_IMAGE} AS dist
WORKDIR /app
COPY --from=sources /app ./
RUN node scripts/build-dist.ts && rm -rf node_modules scripts

FROM ${NODE_IMAGE}
# git clones sources for builds; the worker reaches Docker through DOCKER_HOST. A base that brings git
# and the CA bundle already (the hub-less test base, scripts/stack/node-base-image.ts) skips apt.
RUN if command -v git >/dev/null && [ -f /etc/ssl/certs/ca-certificates.crt ]; then exit 0; fi; \
    apt-get update && apt-get install -y --no-install-recommends git ca-certificates && rm -rf /var/lib/apt/lists/*
# Settings before the big layers: the classic builder commits a container per instruction, which on
# vfs copies the whole filesystem, so each costs seconds here instead of a minute after node_modules.
WORKDIR /app
ENV NODE_ENV=production
USER node
EXPOSE 3000
CMD ["node", "--enable-source-maps", "dist/api.mjs"]
COPY --from=deps /app/node_modules ./node_modules
COPY --from=dist /app ./
