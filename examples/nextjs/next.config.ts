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
  turbopack: { root: repositoryRoot },
  outputFileTracingRoot: repositoryRoot,
};

export default config;
