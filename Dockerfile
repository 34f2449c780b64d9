# mcp-host: one image for the API and the worker (the command picks which).
# Stage 1 installs production dependencies; stage 2 is the runtime, TypeScript run through tsx.
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE}
# git clones sources for builds; the worker reaches Docker through DOCKER_HOST.
RUN apt-get update && apt-get install -y --no-install-recommends git ca-certificates && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production
COPY --from=deps /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY lib ./lib
COPY api ./api
COPY worker ./worker
COPY workflows ./workflows
COPY activities ./activities
COPY migrations ./migrations
COPY cli ./cli
USER node
EXPOSE 3000
CMD ["node", "--import", "tsx", "api/server.ts"]
