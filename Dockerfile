# The Claw node image: a build stage, then a small runtime that runs as a
# non-root user and writes only below /tmp (so a read-only root filesystem
# works: mount an emptyDir or tmpfs on /tmp).
#
#   docker build -t claw .                    (podman build --format docker works the same)
#   docker run -p 8080:8080 -p 50051:50051 -e NATS_URL=nats://nats:4222 claw
#
# NODE_IMAGE picks the Node 20+ base (the tests build it from a base made of
# the host's node, there being no registry to pull from there).
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# the lock file covers the SDK's workspace too: npm ci needs its package.json (the image builds the server alone)
COPY sdk/typescript/package.json ./sdk/typescript/
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts ./scripts
COPY src ./src
COPY ui ./ui
RUN npm run build:server && npm prune --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    CLAW_HTTP_HOST=0.0.0.0 \
    CLAW_HTTP_PORT=8080 \
    CLAW_GRPC_PORT=50051 \
    CLAW_DATA_DIR=/tmp/claw-data \
    CLAW_SANDBOX_DIR=/tmp/claw-sandbox
WORKDIR /app
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
COPY skills ./skills
COPY nats ./nats
# the gRPC service's definition: loaded by the server at start, and there for clients to generate stubs from
COPY proto ./proto
USER 1000:1000
EXPOSE 8080 50051
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.CLAW_HTTP_PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "dist/node.js"]
