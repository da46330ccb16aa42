# syntax=docker/dockerfile:1
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY workers ./workers
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
# Without a heap cap V8 sizes its old space from the host's RAM (4 GB here) and lets garbage
# grow to ~2.5× the live heap between collections: a worker at concurrency 128 peaked at
# 511 MB RSS uncapped, 351 MB with this cap (BENCHMARKS.md). The live heap there is ~100 MB.
ENV NODE_OPTIONS="--max-old-space-size=512"
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY sql ./sql
COPY data ./data
# The dashboard's static files are served from the source tree (no build step).
COPY src/api/dashboard ./src/api/dashboard
USER node
ENTRYPOINT ["node", "bin/stock-ledger.js"]
CMD ["worker"]
