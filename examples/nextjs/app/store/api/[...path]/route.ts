/**
 * The API under this app's own origin: `/store/api/...` here is `/api/...` of the API
 * (`CHAT_STORE_API_URL`, read per request). The page's client calls it here by default, so no
 * request is cross-origin and none pays a CORS preflight (Chromium sends one before each
 * conditional poll of a new URL, an `If-None-Match` not being a "simple" header).
 *
 * A thin pass-through: method, path, query, body and the headers the API reads go on as they
 * came; the answer comes back with its status and headers (ETags, `Retry-After`, problem+json
 * bodies, 304s). When the API does not answer, this answers 502 `bad_gateway`, which the client
 * reads as offline, the same as no answer at all.
 *
 * Every visitor reaches the API from this server's address; with `CHAT_STORE_PROXY_SECRET` (the
 * API's `TRUSTED_PROXY_SECRET`) it also says whose request it passes on, so the API's per-IP
 * sign-up limit counts visitors, not this server.
 */
import { apiUrl } from "@/lib/api-url";

/** Headers of one hop, not of the request: never passed on (RFC 9110 §7.6.1), nor the length (re-framed). */
const HOP_BY_HOP = [
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
  "host",
  "content-length",
];
/**
 * The browser's, for this origin: the API is not told this app's origin (it is not a CORS
 * request any more), nor its cookies, and fetch negotiates its own encoding.
 */
const BROWSER_ONLY = ["origin", "referer", "cookie", "accept-encoding"];
/** Only this route may speak for the visitor: the browser's own copies never go on. */
const PROXY_ONLY = ["x-proxy-secret", "x-client-ip"];
/** fetch has decoded the body already: its encoding and length no longer describe it. */
const DECODED = ["content-encoding", "content-length", "transfer-encoding", "connection", "keep-alive"];

type Context = { params: Promise<{ path: string[] }> };

async function forward(request: Request, { params }: Context): Promise<Response> {
  const { path } = await params;
  const target = new URL(`${apiUrl().replace(/\/+$/, "")}/api/${path.map(encodeURIComponent).join("/")}`);
  target.search = new URL(request.url).search;
  const headers = new Headers(request.headers);
  for (const name of [...HOP_BY_HOP, ...BROWSER_ONLY, ...PROXY_ONLY]) headers.delete(name);
  vouchForVisitor(request, headers);
  const hasBody = request.method !== "GET" && request.method !== "HEAD";
  let answer: Response;
  try {
    answer = await fetch(target, {
      method: request.method,
      headers,
      body: hasBody ? await request.arrayBuffer() : undefined,
      redirect: "manual",
      cache: "no-store",
      signal: request.signal,
    });
  } catch (error) {
    console.warn(`store proxy: ${request.method} ${target.pathname}: no answer from the API`, error);
    return Response.json(
      { type: "about:blank", title: "Bad Gateway", status: 502, code: "bad_gateway", detail: "the API did not answer" },
      { status: 502, headers: { "content-type": "application/problem+json", "cache-control": "no-store" } },
    );
  }
  const out = new Headers(answer.headers);
  for (const name of DECODED) out.delete(name);
  const empty = answer.status === 204 || answer.status === 304 || request.method === "HEAD";
  return new Response(empty ? null : answer.body, { status: answer.status, statusText: answer.statusText, headers: out });
}

/**
 * With `CHAT_STORE_PROXY_SECRET`, the secret and the visitor's address as the host vouches for
 * it: `x-real-ip`, else the last `x-forwarded-for` entry (the one the nearest proxy appended).
 * Run it where the platform or a load balancer sets them (Vercel does): under a bare
 * `next start` they are whatever the browser sent.
 */
function vouchForVisitor(request: Request, headers: Headers): void {
  const secret = process.env.CHAT_STORE_PROXY_SECRET;
  if (!secret) return;
  headers.set("x-proxy-secret", secret);
  const address =
    request.headers.get("x-real-ip")?.trim() || request.headers.get("x-forwarded-for")?.split(",").at(-1)?.trim();
  if (address) headers.set("x-client-ip", address);
}

export const GET = forward;
export const HEAD = forward;
export const POST = forward;
export const PUT = forward;
export const PATCH = forward;
export const DELETE = forward;
