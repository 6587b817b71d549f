// @ts-check
/**
 * What the browser tests run against, all on loopback ports chosen at run time:
 *
 * - the API (`python -m devtools.dev_server`, its embedded Upstash stand-in, a temporary data
 *   folder), which can be stopped and started again on the same port with the same data (it
 *   saves its data on SIGTERM);
 * - the example app (`next start`, from the build `next build` made), told the API's address
 *   by `CHAT_STORE_API_URL` at run time;
 * - Debian's Chromium (`/usr/bin/chromium`, or `CHROMIUM_PATH`) driven by `playwright-core`:
 *   no browser is ever downloaded.
 *
 * Everything waits for a condition with a deadline ({@link waitFor}); nothing sleeps for a
 * fixed time to let something happen.
 */
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { after, before } from "node:test";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

/** examples/nextjs */
export const APP_DIR = resolve(fileURLToPath(import.meta.url), "../../..");
/** The repository's top folder. */
export const REPO = resolve(APP_DIR, "../..");
/** Where screenshots and metrics go (gitignored). */
export const RESULTS_DIR = join(APP_DIR, "test-results");
/** The key under which the app keeps its anonymous token (lib/chat.ts `TOKEN_KEY`). */
export const TOKEN_KEY = "chat-store-example:token";

const ANONYMOUS_TOKEN_SECRET = "browser-tests-anonymous-secret-0123456789abcdef";
// `next dev` compiles the page on its first visit: on two busy cores, tens of seconds.
const START_DEADLINE_MS = 60_000;
const STOP_DEADLINE_MS = 10_000;

/** @returns {Promise<number>} a port nobody listens on now */
export function freePort() {
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

/**
 * Polls `check` until it returns something other than `undefined`/`false`, and returns that;
 * throws `message` (with the last error seen) after `timeoutMs`.
 * @template T
 * @param {() => Promise<T | undefined | false> | T | undefined | false} check
 * @param {{ timeoutMs?: number, intervalMs?: number, message: string }} options
 * @returns {Promise<T>}
 */
export async function waitFor(check, { timeoutMs = 15_000, intervalMs = 50, message }) {
  const deadline = Date.now() + timeoutMs;
  /** @type {unknown} */
  let lastError;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return /** @type {T} */ (value);
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const cause = lastError instanceof Error ? `: ${lastError.message}` : "";
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${message}${cause}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs)); // poll interval, not a wait for readiness
  }
}

/**
 * @param {import("node:child_process").ChildProcess} child
 * @returns {Promise<void>}
 */
function exited(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => child.once("exit", () => done()));
}

/**
 * Stops `child` with `signal`, SIGKILL after a deadline.
 * @param {import("node:child_process").ChildProcess} child
 * @param {NodeJS.Signals} [signal]
 */
async function terminate(child, signal = /** @type {NodeJS.Signals} */ ("SIGTERM")) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  const timer = setTimeout(() => child.kill("SIGKILL"), STOP_DEADLINE_MS);
  await exited(child);
  clearTimeout(timer);
}

/**
 * Starts a child process, keeps the tail of its output for error messages, and kills it if
 * the test process dies first.
 * @param {string} command
 * @param {string[]} args
 * @param {{ cwd: string, env: NodeJS.ProcessEnv }} options
 */
function launch(command, args, { cwd, env }) {
  const child = spawn(command, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  /** @param {Buffer} chunk */
  const keep = (chunk) => {
    output = (output + chunk.toString()).slice(-6000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  child.once("exit", () => process.removeListener("exit", killOnExit));
  return { child, output: () => output };
}

/**
 * Polls `url` until it answers `status`, failing early if `child` exits.
 * @param {string} url
 * @param {import("node:child_process").ChildProcess} child
 * @param {() => string} output
 */
async function answers(url, child, output) {
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}:\n${output()}`);
      const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
      return response.status === 200;
    },
    { timeoutMs: START_DEADLINE_MS, message: `${url} to answer 200` },
  ).catch((error) => {
    throw new Error(`${error instanceof Error ? error.message : error}\n${output()}`);
  });
}

/**
 * The API on a fixed port with its data in `dataDir`; `stop()` then `start()` again brings it
 * back with the same data and tokens.
 */
export class Api {
  /** @type {import("node:child_process").ChildProcess | undefined} */
  #child;

  /**
   * @param {{ port: number, dataDir: string, corsOrigin: string, env?: Record<string, string> }} options
   * `env`: settings of this API (e.g. `RATE_LIMIT_USER_REQUESTS`, `STREAMING_STALE_SECONDS`).
   */
  constructor({ port, dataDir, corsOrigin, env = {} }) {
    this.port = port;
    this.dataDir = dataDir;
    this.corsOrigin = corsOrigin;
    this.env = env;
    this.baseUrl = `http://127.0.0.1:${port}`;
  }

  /** Starts it on a free port with a new temporary data folder. */
  static async create(/** @type {{ corsOrigin: string, env?: Record<string, string> }} */ { corsOrigin, env }) {
    const dataDir = mkdtempSync(join(tmpdir(), "chat-store-browser-"));
    const api = new Api({ port: await freePort(), dataDir, corsOrigin, env });
    await api.start();
    return api;
  }

  async start() {
    const python = process.env["PYTHON"] ?? join(REPO, ".venv", "bin", "python");
    /** @type {NodeJS.ProcessEnv} */
    const env = {
      ...process.env,
      PYTHONPATH: REPO,
      ANONYMOUS_TOKEN_SECRET,
      CORS_ALLOW_ORIGINS: this.corsOrigin,
      LOG_LEVEL: "WARNING",
    };
    // The embedded stand-in, whatever the developer's shell points at, unless this scenario
    // names another (see UpstashStandIn).
    for (const name of ["UPSTASH_REDIS_REST_URL", "UPSTASH_REDIS_REST_TOKEN", "REDIS_URL", "AUTH_JWKS_URL"]) {
      delete env[name];
    }
    Object.assign(env, this.env);
    const args = ["-m", "devtools.dev_server", "--host", "127.0.0.1", "--port", String(this.port)];
    const { child, output } = launch(python, [...args, "--data-dir", this.dataDir], { cwd: this.dataDir, env });
    this.#child = child;
    await answers(`${this.baseUrl}/api/health`, child, output);
  }

  /**
   * Stops it as a process manager does (SIGTERM): the API saves its data, the last second of
   * writes included, and exits; the port is free again after this.
   */
  async stop() {
    if (this.#child) await terminate(this.#child);
    this.#child = undefined;
  }

  async dispose() {
    await this.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  /**
   * A GET with `token`, as JSON: what the server holds, read from outside the browser.
   * @param {string} path
   * @param {string} token
   * @returns {Promise<any>}
   */
  async get(path, token) {
    const response = await fetch(`${this.baseUrl}${path}`, { headers: { authorization: `Bearer ${token}` } });
    if (response.status !== 200) throw new Error(`GET ${path}: ${response.status} ${await response.text()}`);
    return response.json();
  }

  /**
   * A PUT of `body` with `token`, as JSON: a conversation written from outside the browser.
   * @param {string} path
   * @param {unknown} body
   * @param {string} token
   * @returns {Promise<any>}
   */
  async put(path, body, token) {
    const response = await fetch(`${this.baseUrl}${path}`, {
      method: "PUT",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    if (response.status !== 200 && response.status !== 201) {
      throw new Error(`PUT ${path}: ${response.status} ${await response.text()}`);
    }
    return response.json();
  }

  /**
   * Renames conversation `id` as another device does: read at its current version, then a
   * `PATCH` with `If-Match` that version.
   * @param {string} id
   * @param {string} title
   * @param {string} token
   */
  async rename(id, title, token) {
    const url = `${this.baseUrl}/api/conversations/${encodeURIComponent(id)}`;
    const read = await fetch(`${url}?limit=1`, { headers: { authorization: `Bearer ${token}` } });
    const etag = read.headers.get("etag");
    if (read.status !== 200 || etag === null) throw new Error(`GET ${id}: ${read.status}`);
    const response = await fetch(url, {
      method: "PATCH",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "if-match": etag },
      body: JSON.stringify({ title }),
    });
    if (response.status !== 200) throw new Error(`PATCH ${id}: ${response.status} ${await response.text()}`);
  }

  /**
   * Deletes conversation `id` as another device does.
   * @param {string} id
   * @param {string} token
   */
  async delete(id, token) {
    const response = await fetch(`${this.baseUrl}/api/conversations/${encodeURIComponent(id)}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${token}` },
    });
    if (response.status !== 204 && response.status !== 200) throw new Error(`DELETE ${id}: ${response.status}`);
  }

  /**
   * Every conversation summary of the token's user.
   * @param {string} token
   * @returns {Promise<any[]>}
   */
  async conversations(token) {
    /** @type {any[]} */
    const all = [];
    let cursor = null;
    do {
      const query = cursor === null ? "?limit=100" : `?limit=100&cursor=${encodeURIComponent(cursor)}`;
      const page = await this.get(`/api/conversations${query}`, token);
      all.push(...page.conversations);
      cursor = page.nextCursor;
    } while (cursor !== null);
    return all;
  }

  /**
   * One conversation with its newest 100 messages, or null when absent.
   * @param {string} id
   * @param {string} token
   * @returns {Promise<any | null>}
   */
  async conversation(id, token) {
    const response = await fetch(`${this.baseUrl}/api/conversations/${encodeURIComponent(id)}?limit=100`, {
      headers: { authorization: `Bearer ${token}` },
    });
    if (response.status === 404) return null;
    if (response.status !== 200) throw new Error(`GET conversation ${id}: ${response.status}`);
    return response.json();
  }
}

/**
 * The Upstash stand-in (devtools/upstash_local.py, an in-memory fakeredis) as a process of its
 * own, for an API told to use it (`apiEnv: standIn.env`): stopping it is the store going down
 * under a running API, which then answers 503 `store_unavailable`. Its data does not survive
 * a stop.
 */
export class UpstashStandIn {
  /** @type {import("node:child_process").ChildProcess | undefined} */
  #child;
  #token = "browser-tests-upstash-token";

  /** @param {number} port */
  constructor(port) {
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    /** What the API needs to use it. */
    this.env = { UPSTASH_REDIS_REST_URL: this.url, UPSTASH_REDIS_REST_TOKEN: this.#token };
  }

  static async create() {
    const standIn = new UpstashStandIn(await freePort());
    await standIn.start();
    return standIn;
  }

  async start() {
    const python = process.env["PYTHON"] ?? join(REPO, ".venv", "bin", "python");
    const script =
      "import sys, uvicorn; from devtools import upstash_local; " +
      "uvicorn.run(upstash_local.create_app(token=sys.argv[1]), host='127.0.0.1', port=int(sys.argv[2]), log_level='warning')";
    const { child, output } = launch(python, ["-c", script, this.#token, String(this.port)], {
      cwd: REPO,
      env: { ...process.env, PYTHONPATH: REPO },
    });
    this.#child = child;
    // Any answer will do: it serves POSTs of commands, not pages.
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}:\n${output()}`);
        await fetch(this.url, { signal: AbortSignal.timeout(2000) });
        return true;
      },
      { timeoutMs: START_DEADLINE_MS, message: `the Upstash stand-in at ${this.url}` },
    );
  }

  async stop() {
    if (this.#child) await terminate(this.#child);
    this.#child = undefined;
  }
}

/** `next start` of the built app on a free port, pointed at `apiUrl`. */
export class NextApp {
  /** @type {import("node:child_process").ChildProcess | undefined} */
  #child;

  /** @param {number} port */
  constructor(port) {
    this.port = port;
    this.origin = `http://127.0.0.1:${port}`;
    /** Where the page calls the API: this app's own origin (app/store/api/[...path]/route.ts). */
    this.storeUrl = `${this.origin}/store`;
  }

  /** @param {number} port */
  static async reserve(port) {
    return new NextApp(port);
  }

  /**
   * @param {string} apiUrl
   * @param {Record<string, string>} [env] more of `next start`'s environment (`CHAT_EXAMPLE_FAULTS`,
   *   `CHAT_STORE_PUSH_URL`)
   */
  async start(apiUrl, env = {}) {
    if (!existsSync(join(APP_DIR, ".next", "BUILD_ID"))) {
      throw new Error("no build of the app: run `npm run build` in examples/nextjs (make test-browser does)");
    }
    await this.#launch("start", apiUrl, env);
  }

  /**
   * `next dev` instead (React strict mode: every effect mounts, unmounts and mounts again). It
   * builds into `.next/dev`, beside the production build, and compiles a page on its first visit.
   * @param {string} apiUrl
   */
  async startDev(apiUrl) {
    await this.#launch("dev", apiUrl, {});
  }

  /**
   * @param {"start" | "dev"} command
   * @param {string} apiUrl
   * @param {Record<string, string>} env
   */
  async #launch(command, apiUrl, env) {
    const next = join(APP_DIR, "node_modules", "next", "dist", "bin", "next");
    const { child, output } = launch(process.execPath, [next, command, "-H", "127.0.0.1", "-p", String(this.port)], {
      cwd: APP_DIR,
      env: { ...process.env, CHAT_STORE_API_URL: apiUrl, NEXT_TELEMETRY_DISABLED: "1", ...env },
    });
    this.#child = child;
    await answers(`${this.origin}/`, child, output);
  }

  async stop() {
    if (this.#child) await terminate(this.#child);
    this.#child = undefined;
  }
}

/**
 * @typedef {object} StackOptions
 * @property {Record<string, string>} [apiEnv] the API's settings for this scenario (an Upstash URL too)
 * @property {Record<string, string>} [appEnv] `next start`'s environment for this scenario
 */

/**
 * The API and the app for one scenario: the API allows the app's origin (CORS), for a page
 * told to call it cross-origin; by default the page calls it through the app's own origin.
 * @param {StackOptions} [options]
 * @returns {Promise<{ api: Api, app: NextApp, stop: () => Promise<void> }>}
 */
export async function startStack({ apiEnv, appEnv } = {}) {
  const app = new NextApp(await freePort());
  // The pass-through speaks for its visitors as a deployment would have it (a secret of its own
  // per stack), so every sign-up in these tests goes the trusted proxy's way.
  const proxySecret = `${randomUUID()}${randomUUID()}`;
  const api = await Api.create({ corsOrigin: app.origin, env: { TRUSTED_PROXY_SECRET: proxySecret, ...apiEnv } });
  try {
    await app.start(api.baseUrl, { CHAT_STORE_PROXY_SECRET: proxySecret, ...appEnv });
  } catch (error) {
    await api.dispose();
    throw error;
  }
  return {
    api,
    app,
    stop: async () => {
      await app.stop();
      await api.dispose();
    },
  };
}

/**
 * The stack and a browser for one test file: started before its tests, stopped after them.
 * Read `stack` and `browser` inside a test (they exist once `before` has run).
 * @param {StackOptions} [options]
 * @returns {{ readonly stack: Awaited<ReturnType<typeof startStack>>, readonly browser: import("playwright-core").Browser }}
 */
export function useStack(options = {}) {
  /** @type {Awaited<ReturnType<typeof startStack>> | undefined} */
  let stack;
  /** @type {import("playwright-core").Browser | undefined} */
  let browser;
  before(async () => {
    stack = await startStack(options);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await stack?.stop();
  });
  return {
    get stack() {
      if (stack === undefined) throw new Error("the stack starts in before()");
      return stack;
    },
    get browser() {
      if (browser === undefined) throw new Error("the browser starts in before()");
      return browser;
    },
  };
}

/** Debian's Chromium, headless; never a downloaded browser. */
export async function launchBrowser() {
  const executablePath = process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium";
  if (!existsSync(executablePath)) {
    throw new Error(`no Chromium at ${executablePath}: apt-get install chromium (make test-browser does), or set CHROMIUM_PATH`);
  }
  return chromium.launch({
    executablePath,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/**
 * Numbered screenshots of one scenario: test-results/screenshots/<scenario>/NN-<state>.png,
 * each path printed as it is written.
 */
export class Screenshots {
  #count = 0;

  /** @param {string} scenario */
  constructor(scenario) {
    this.dir = join(RESULTS_DIR, "screenshots", scenario);
    rmSync(this.dir, { recursive: true, force: true });
    mkdirSync(this.dir, { recursive: true });
  }

  /**
   * @param {import("playwright-core").Page} page
   * @param {string} state
   */
  async take(page, state) {
    this.#count += 1;
    const path = join(this.dir, `${String(this.#count).padStart(2, "0")}-${state}.png`);
    await page.screenshot({ path, fullPage: true });
    console.log(`screenshot: ${relative(process.cwd(), path)}`);
    return path;
  }
}

/**
 * Writes `value` as JSON to test-results/<name> and returns its path.
 * @param {string} name
 * @param {unknown} value
 */
export function writeResult(name, value) {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const path = join(RESULTS_DIR, name);
  writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);
  return path;
}

/**
 * The anonymous token the app keeps in localStorage (after its first request).
 * @param {import("playwright-core").Page} page
 * @returns {Promise<string>}
 */
export async function appToken(page) {
  return waitFor(
    async () => {
      const stored = await page.evaluate((key) => localStorage.getItem(key), TOKEN_KEY);
      return stored === null ? undefined : /** @type {{ token: string }} */ (JSON.parse(stored)).token;
    },
    { message: `the app's token in localStorage[${TOKEN_KEY}]` },
  );
}

/**
 * The app's URL with fast test intervals. Push is off unless `push` (`?push=off`): the other
 * scenarios show and meter the polling a device falls back to; push.test.mjs turns it on.
 * @param {string} origin
 * @param {{ syncMs?: number, followMs?: number, tokenMs?: number, push?: boolean }} [intervals]
 */
export function appUrl(origin, { syncMs = 500, followMs = 300, tokenMs = 40, push = false } = {}) {
  return `${origin}/?syncMs=${syncMs}&followMs=${followMs}&tokenMs=${tokenMs}${push ? "" : "&push=off"}`;
}

/**
 * @typedef {object} MeteredRequest
 * @property {number} at when it was sent (ms since the epoch)
 * @property {string} method
 * @property {string} path path and query
 * @property {number} status 0 when it failed
 * @property {number} requestBytes headers and body sent
 * @property {number} responseBytes headers and body received
 * @property {boolean} preflight a CORS preflight (seen through the DevTools protocol)
 */

/**
 * Every request a page makes to the API, with its bytes (Playwright's request events, and the
 * DevTools protocol for CORS preflights, which Playwright does not report). `apiBase` is where
 * the page calls the API (`stack.app.storeUrl`, or the API's origin when cross-origin); paths
 * are recorded as the API's (`/api/...`). `preflights` counts every OPTIONS the page sent,
 * to any URL.
 */
export class NetworkMeter {
  /** @type {MeteredRequest[]} */
  requests = [];
  /** @type {Promise<void>[]} */
  #pending = [];
  /** CORS preflights the page sent, to any URL. */
  preflights = 0;
  /** The path `apiBase` puts before the API's own (`/store`, or none). */
  prefix = "";

  /**
   * @param {import("playwright-core").Page} page
   * @param {string} apiBase
   */
  static async attach(page, apiBase) {
    const apiOrigin = apiBase;
    const prefix = new URL(apiBase).pathname.replace(/\/+$/, "");
    const meter = new NetworkMeter();
    meter.prefix = prefix;
    page.on("requestfinished", (request) => meter.#record(request, apiOrigin, false));
    page.on("requestfailed", (request) => meter.#record(request, apiOrigin, true));
    const cdp = await page.context().newCDPSession(page);
    /** @type {Map<string, MeteredRequest>} */
    const preflights = new Map();
    // Chromium reports a CORS preflight as an OPTIONS request of type "Other".
    cdp.on("Network.requestWillBeSent", (event) => {
      if (event.request.method === "OPTIONS") meter.preflights += 1;
      if (event.request.method !== "OPTIONS" || !event.request.url.startsWith(apiOrigin)) return;
      const url = new URL(event.request.url);
      const headers = Object.entries(event.request.headers);
      const entry = {
        at: Date.now(),
        method: "OPTIONS",
        path: url.pathname.slice(prefix.length) + url.search,
        status: 0,
        // The request line and headers as sent (approximately: HTTP/1.1 framing).
        requestBytes: `OPTIONS ${url.pathname}${url.search} HTTP/1.1\r\n`.length +
          headers.reduce((sum, [name, value]) => sum + name.length + String(value).length + 4, 0) + 2,
        responseBytes: 0,
        preflight: true,
      };
      preflights.set(event.requestId, entry);
      meter.requests.push(entry);
    });
    cdp.on("Network.responseReceived", (event) => {
      const entry = preflights.get(event.requestId);
      if (entry) {
        entry.status = event.response.status;
        entry.responseBytes = event.response.encodedDataLength;
      }
    });
    cdp.on("Network.loadingFinished", (event) => {
      const entry = preflights.get(event.requestId);
      if (entry) entry.responseBytes = Math.max(entry.responseBytes, event.encodedDataLength);
      preflights.delete(event.requestId);
    });
    await cdp.send("Network.enable");
    return meter;
  }

  /**
   * @param {import("playwright-core").Request} request
   * @param {string} apiOrigin
   * @param {boolean} failed
   */
  #record(request, apiOrigin, failed) {
    if (!request.url().startsWith(apiOrigin)) return;
    const started = request.timing().startTime;
    const at = started > 0 ? Math.round(started) : Date.now();
    const url = new URL(request.url());
    const done = (async () => {
      const sizes = failed ? undefined : await request.sizes().catch(() => undefined);
      // (A request still in flight when its page closes has no response: recorded as failed.)
      const response = failed ? null : await request.response().catch(() => null);
      this.requests.push({
        at,
        method: request.method(),
        path: url.pathname.slice(this.prefix.length) + url.search,
        status: response?.status() ?? 0,
        requestBytes: sizes ? sizes.requestHeadersSize + sizes.requestBodySize : 0,
        responseBytes: sizes ? sizes.responseHeadersSize + sizes.responseBodySize : 0,
        preflight: false,
      });
    })();
    this.#pending.push(done);
  }

  /** Waits for the sizes of the requests seen so far. */
  async settle() {
    await Promise.all(this.#pending);
  }

  /**
   * The requests sent from `from` (inclusive) to `to` (exclusive), oldest first.
   * @param {number} from
   * @param {number} [to]
   */
  between(from, to = Infinity) {
    return this.requests.filter((r) => r.at >= from && r.at < to).sort((a, b) => a.at - b.at);
  }
}

/**
 * Totals of some metered requests, grouped by what they are.
 * @param {MeteredRequest[]} requests
 */
export function summarize(requests) {
  /** @param {MeteredRequest} r */
  const kind = (r) => {
    if (r.preflight) return "preflight";
    const path = r.path.split("?")[0] ?? "";
    if (path === "/api/changes") return "GET /api/changes";
    if (/^\/api\/conversations\/[^/]+\/messages\/[^/]+$/.test(path)) return `${r.method} message`;
    if (/^\/api\/conversations\/[^/]+$/.test(path)) return `${r.method} conversation`;
    return `${r.method} ${path}`;
  };
  /** @type {Record<string, { requests: number, bytesSent: number, bytesReceived: number, statuses: number[] }>} */
  const byKind = {};
  for (const r of requests) {
    const entry = (byKind[kind(r)] ??= { requests: 0, bytesSent: 0, bytesReceived: 0, statuses: [] });
    entry.requests += 1;
    entry.bytesSent += r.requestBytes;
    entry.bytesReceived += r.responseBytes;
    entry.statuses.push(r.status);
  }
  return {
    requests: requests.length,
    bytesSent: requests.reduce((sum, r) => sum + r.requestBytes, 0),
    bytesReceived: requests.reduce((sum, r) => sum + r.responseBytes, 0),
    byKind,
  };
}

/**
 * Prints the page's errors (uncaught exceptions, console errors, answers of 400 and over)
 * prefixed with `label`, so a failing test says what the app saw.
 * @param {import("playwright-core").Page} page
 * @param {string} label
 */
export function reportErrors(page, label) {
  page.on("pageerror", (error) => console.log(`[${label}] page error: ${error.message}`));
  page.on("console", (message) => {
    // A refused request is reported below with its URL; the console only says "Failed to load".
    if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) {
      console.log(`[${label}] console: ${message.text()}`);
    }
  });
  page.on("response", (response) => {
    if (response.status() >= 400) {
      console.log(`[${label}] ${response.status()} ${response.request().method()} ${response.url()}`);
    }
  });
}
