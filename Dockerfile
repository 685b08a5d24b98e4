# Clearhouse api / worker image. glibc base (Debian bookworm): Temporal's native core-bridge
# does not run on musl (alpine).
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build && cp -r db/migrations dist/db/ && cp platform/search-attributes.json dist/platform/ \
 && cp -r console dist/console \
 && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/package.json ./
# The UI's gateway (compose service ui-gateway): plain JavaScript, run as it is.
COPY --from=build /app/scripts/lib/ui-gateway.mjs ./scripts/lib/ui-gateway.mjs
USER node
EXPOSE 3000 9464
CMD ["node", "dist/api/main.js"]
