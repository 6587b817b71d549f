/**
 * Next.js configuration of the example.
 *
 * `@chat-store/client` is installed from `../../clients/typescript` as a symlink, outside this
 * folder: the bundler's root and the output tracing root are the repository's top folder, so
 * the package resolves through the link at build time and is traced into the output.
 */
import { fileURLToPath } from "node:url";
import type { NextConfig } from "next";

const repositoryRoot = fileURLToPath(new URL("../..", import.meta.url));

const config: NextConfig = {
  reactStrictMode: true,
  // No `X-Powered-By`: nothing the page needs.
  poweredByHeader: false,
  // `next dev` serves its scripts and hot reload to these hosts only: open the app at
  // http://localhost:3000 or http://127.0.0.1:3000 (what `make dev` prints), either works.
  allowedDevOrigins: ["localhost", "127.0.0.1"],
  turbopack: { root: repositoryRoot },
  outputFileTracingRoot: repositoryRoot,
};

export default config;
