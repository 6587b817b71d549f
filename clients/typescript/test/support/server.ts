/**
 * Starts the real API (`python -m devtools.dev_server`, with its embedded Upstash stand-in)
 * on a free loopback port for the integration tests, and stops it again.
 *
 * The server gets a fresh temporary data folder and a fixed anonymous-token secret, runs in
 * that folder (so no developer's `.env` leaks in), and is polled on `/api/health` until it
 * answers, within a deadline: no fixed sleeps.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before } from "node:test";
import { fileURLToPath } from "node:url";

import { ChatStoreClient } from "../../src/index.js";

/** The repository's top folder (this file is build/test/support/server.js when run). */
const REPO = resolve(fileURLToPath(import.meta.url), "../../../../../..");
const START_DEADLINE_MS = 20_000;
const STOP_DEADLINE_MS = 5_000;

/** A running API. */
export interface ApiServer {
  baseUrl: string;
  stop: () => Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.unref();
    probe.on("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      const port = typeof address === "object" && address ? address.port : 0;
      probe.close(() => resolvePort(port));
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => child.once("exit", () => done()));
}

function within(ms: number, promise: Promise<void>): Promise<boolean> {
  return new Promise((done) => {
    const timer = setTimeout(() => done(false), ms);
    void promise.then(() => {
      clearTimeout(timer);
      done(true);
    });
  });
}

/** Starts the API; resolves once `/api/health` answers 200. */
export async function startApi(): Promise<ApiServer> {
  const python = process.env["PYTHON"] ?? join(REPO, ".venv", "bin", "python");
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), "chat-store-ts-it-"));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PYTHONPATH: REPO,
    ANONYMOUS_TOKEN_SECRET: "integration-tests-anonymous-secret-0123456789abcdef",
    CORS_ALLOW_ORIGINS: "http://localhost:3000",
    LOG_LEVEL: "WARNING",
  };
  // The embedded stand-in, whatever the developer's shell points at.
  for (const name of ["UPSTASH_REDIS_REST_URL", "UPSTASH_REDIS_REST_TOKEN", "REDIS_URL", "AUTH_JWKS_URL"]) {
    delete env[name];
  }
  const child = spawn(
    python,
    ["-m", "devtools.dev_server", "--host", "127.0.0.1", "--port", String(port), "--data-dir", dataDir],
    { cwd: dataDir, env, stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  // A test run that dies still takes the server with it.
  const killOnExit = (): void => {
    child.kill("SIGKILL");
  };
  process.once("exit", killOnExit);

  const stop = async (): Promise<void> => {
    process.removeListener("exit", killOnExit);
    child.kill("SIGTERM");
    if (!(await within(STOP_DEADLINE_MS, exited(child)))) {
      child.kill("SIGKILL");
      await within(STOP_DEADLINE_MS, exited(child));
    }
    rmSync(dataDir, { recursive: true, force: true });
  };

  const baseUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + START_DEADLINE_MS;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`the API exited at start (${child.exitCode}):\n${stderr}`);
    }
    try {
      const response = await fetch(`${baseUrl}/api/health`, { signal: AbortSignal.timeout(1000) });
      if (response.status === 200) return { baseUrl, stop };
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the API did not answer /api/health within ${START_DEADLINE_MS} ms:\n${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50)); // poll interval, not a wait for readiness
  }
}

/**
 * The API and an anonymous user of it for one test file: started before its tests, stopped
 * after them. Read `api` and `token` inside a test (they exist once `before` has run).
 */
export function useApiUser(): { readonly api: ApiServer; readonly token: string } {
  let api: ApiServer | undefined;
  let token: string | undefined;
  before(async () => {
    api = await startApi();
    token = (await new ChatStoreClient({ baseUrl: api.baseUrl }).issueAnonymousToken()).data.token;
  });
  after(async () => {
    await api?.stop();
  });
  return {
    get api() {
      if (api === undefined) throw new Error("the API starts in before()");
      return api;
    },
    get token() {
      if (token === undefined) throw new Error("the user signs up in before()");
      return token;
    },
  };
}
