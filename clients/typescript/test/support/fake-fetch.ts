/**
 * A scripted `fetch` for unit tests: answers the queued responses in order and records every
 * request, so a test asserts on headers and bodies without a network.
 */
import type { FetchLike } from "../../src/transport.js";

/** A request as the fake saw it. */
export interface SeenRequest {
  url: string;
  method: string;
  headers: Headers;
  body: unknown;
}

/** What the fake answers: a response, a thrown error, or a call that never answers. */
export type Scripted =
  | { status: number; body?: unknown; headers?: Record<string, string> }
  | { throws: Error }
  | { hang: true };

/** A fake `fetch` and what it saw. */
export interface FakeFetch {
  fetch: FetchLike;
  requests: SeenRequest[];
}

/** Answers `script` in order; asking for more than scripted fails the test loudly. */
export function fakeFetch(...script: Scripted[]): FakeFetch {
  const requests: SeenRequest[] = [];
  const queue = [...script];
  const fetch: FetchLike = async (url, init) => {
    const headers = new Headers(init.headers);
    requests.push({
      url,
      method: init.method ?? "GET",
      headers,
      body: typeof init.body === "string" ? JSON.parse(init.body) : undefined,
    });
    const next = queue.shift();
    if (next === undefined) throw new Error(`unexpected request ${init.method} ${url}`);
    if ("throws" in next) throw next.throws;
    if ("hang" in next) {
      return new Promise<Response>((_, reject) => {
        init.signal?.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
      });
    }
    const isProblem = next.status >= 400;
    const text = next.body === undefined ? null : JSON.stringify(next.body);
    return new Response(next.status === 204 || next.status === 304 ? null : text, {
      status: next.status,
      headers: {
        "Content-Type": isProblem ? "application/problem+json" : "application/json",
        ...next.headers,
      },
    });
  };
  return { fetch, requests };
}

/** A problem+json body as the API writes it. */
export function problem(status: number, code: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { type: `/problems/${code}`, title: code, status, detail: `${code} detail`, code, ...extra };
}

/** A sleep that records the waits and returns at once. */
export function fakeSleep(): { sleep: (ms: number) => Promise<void>; waits: number[] } {
  const waits: number[] = [];
  return {
    waits,
    sleep: async (ms: number) => {
      waits.push(ms);
    },
  };
}
