/**
 * Moving the frontend's localStorage history to the API, once, resumably.
 *
 * The old store kept `Conversation[]` as JSON under one key. {@link migrateFromLocalStorage}
 * sends it to `POST /api/import` in batches that fit the API's limits, records each batch
 * done (so a reload mid-way resumes where it stopped, not from the start), and finally marks
 * the migration done so later page loads cost no request at all.
 */
import type { ChatStoreClient } from "./client.js";
import type { components } from "./generated/api.js";
import { STORAGE_PREFIX } from "./local.js";
import { readJson, writeJson } from "./storage.js";
import type { StorageLike } from "./storage.js";
import type { ImportConversation, ImportRequest } from "./types.js";

/** A conversation the import did not store, and why. */
export type RejectedConversation = components["schemas"]["RejectedConversation"];

/** What the migration did, summed over its batches. */
export interface MigrationReport {
  imported: number;
  updated: number;
  skipped: number;
  evicted: string[];
  /** The server's rejections, and the conversations too large to send at all. */
  rejected: RejectedConversation[];
  /** How many import requests the whole history takes. */
  batches: number;
  /** True once every batch was sent; a later call then sends nothing. */
  done: boolean;
}

/** Told after each batch is sent. */
export interface MigrationProgress {
  /** Batches sent so far (this call's and earlier calls'). */
  sent: number;
  /** All batches. */
  batches: number;
  report: MigrationReport;
}

/** Options of {@link migrateFromLocalStorage}. */
export interface MigrationOptions {
  client: ChatStoreClient;
  /** Where the old store kept its history (and where progress is recorded). */
  storage: StorageLike;
  /** The old store's key of its `Conversation[]`. Default `conversations`. */
  legacyKey?: string;
  /** The old store's key of the open conversation's id. Default `currentConversationId`. */
  currentKey?: string;
  /**
   * Bytes kept free under `maxBodyBytes` in each batch. The size is measured exactly as
   * sent; the margin covers only a proxy that adds to it. Default 1,024.
   */
  headroomBytes?: number;
  onProgress?: (progress: MigrationProgress) => void;
}

/** Where the migration records its progress. */
export const MIGRATION_KEY = `${STORAGE_PREFIX}migration`;

interface MigrationState {
  /** Keys of the batches sent; a batch is known by its content's key. */
  sent: string[];
  /** Sums of the server's answers so far. */
  report: MigrationReport;
}

/**
 * Imports the old store's history; see the module's comment. Returns the report; on a failed
 * batch it rejects with the error, and calling again resumes (batches already sent are not
 * sent again; the failed one is sent with the same Idempotency-Key, so the API applies it
 * once even if the failure hid a success). Once done, returns the stored report without a
 * request.
 *
 * It does not delete the old key: keep it until the app has read the history back from the
 * API, then remove it yourself.
 */
export async function migrateFromLocalStorage(options: MigrationOptions): Promise<MigrationReport> {
  const { client, storage } = options;
  const state = readState(storage);
  if (state.report.done) return state.report;

  const legacy = readJson(storage, options.legacyKey ?? "conversations");
  const conversations = Array.isArray(legacy) ? (legacy as ImportConversation[]) : [];
  const currentId = readCurrentId(storage, options.currentKey ?? "currentConversationId");

  let plan: Plan = { batches: [], tooLarge: [] };
  if (conversations.length > 0) {
    const { data: limits } = await client.getLimits();
    plan = planBatches(conversations, currentId, {
      maxBytes: limits.maxBodyBytes - (options.headroomBytes ?? 1_024),
      maxConversations: limits.maxConversationsPerUser,
    });
  }
  const report = state.report;
  report.batches = plan.batches.length;
  for (const batch of plan.batches) {
    if (state.sent.includes(batch.key)) continue;
    const { data } = await client.importConversations(batch.body, { idempotencyKey: batch.key });
    report.imported += data.imported;
    report.updated += data.updated;
    report.skipped += data.skipped;
    report.evicted.push(...data.evicted);
    report.rejected.push(...data.rejected);
    state.sent.push(batch.key);
    writeJson(storage, MIGRATION_KEY, state);
    options.onProgress?.({ sent: state.sent.length, batches: plan.batches.length, report });
  }
  report.rejected.push(...plan.tooLarge);
  report.done = true;
  writeJson(storage, MIGRATION_KEY, state);
  return report;
}

/** The old store's open conversation: kept as JSON (`"c1"`) or as the bare id (`c1`). */
function readCurrentId(storage: StorageLike, key: string): string | undefined {
  const raw = storage.getItem(key);
  if (raw === null || raw === "" || raw === "null") return undefined;
  const parsed = readJson(storage, key);
  return typeof parsed === "string" ? parsed : raw;
}

function readState(storage: StorageLike): MigrationState {
  const value = readJson(storage, MIGRATION_KEY) as Partial<MigrationState> | undefined;
  if (value !== undefined && Array.isArray(value.sent) && value.report !== undefined) {
    return value as MigrationState;
  }
  return {
    sent: [],
    report: { imported: 0, updated: 0, skipped: 0, evicted: [], rejected: [], batches: 0, done: false },
  };
}

interface Batch {
  body: ImportRequest;
  key: string;
}

interface Plan {
  batches: Batch[];
  tooLarge: RejectedConversation[];
}

/**
 * Packs conversations, in the old store's order, into bodies of at most `maxBytes` UTF-8
 * bytes and `maxConversations` each. The open conversation's id rides in the last batch, so
 * it is set once its conversation is there; its bytes are counted in every batch, so
 * whichever turns out last still fits.
 */
function planBatches(
  conversations: ImportConversation[],
  currentConversationId: string | undefined,
  limits: { maxBytes: number; maxConversations: number },
): Plan {
  const encoder = new TextEncoder();
  const size = (text: string): number => encoder.encode(text).length;
  // `{"conversations":[],"currentConversationId":"..."}`; each conversation adds its JSON and
  // a comma.
  const frame = size(JSON.stringify({ conversations: [], currentConversationId: currentConversationId ?? null }));
  const groups: ImportConversation[][] = [];
  const tooLarge: RejectedConversation[] = [];
  let group: ImportConversation[] = [];
  let bytes = frame;
  for (const conversation of conversations) {
    const own = size(JSON.stringify(conversation)) + 1;
    if (frame + own > limits.maxBytes) {
      tooLarge.push({
        id: typeof conversation?.id === "string" ? conversation.id : "",
        code: "payload_too_large",
        detail: `${frame + own} bytes alone, over the ${limits.maxBytes} bytes one import request may carry`,
      });
      continue;
    }
    if (group.length > 0 && (bytes + own > limits.maxBytes || group.length >= limits.maxConversations)) {
      groups.push(group);
      group = [];
      bytes = frame;
    }
    group.push(conversation);
    bytes += own;
  }
  if (group.length > 0) groups.push(group);
  const batches = groups.map((conversations, i): Batch => {
    const body: ImportRequest =
      i === groups.length - 1 && currentConversationId !== undefined
        ? { conversations, currentConversationId }
        : { conversations };
    return { body, key: `migration-${contentHash(JSON.stringify(body))}` };
  });
  return { batches, tooLarge };
}

/**
 * A 128-bit hash of `text` as hex (four 32-bit multiply-xor lanes): a key that is the same
 * for the same batch on every page load, without `crypto.subtle`, which browsers keep from
 * pages not served over HTTPS. Not for security: it only has to tell batches apart.
 */
function contentHash(text: string): string {
  const lanes = [0x811c9dc5, 0x9e3779b9, 0x85ebca6b, 0xc2b2ae35];
  const primes = [0x01000193, 0x5bd1e995, 0x27d4eb2f, 0x165667b1];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    for (let l = 0; l < 4; l++) lanes[l] = Math.imul(lanes[l]! ^ c, primes[l]!);
  }
  return lanes
    .map((h, l) => {
      // A final mix, so the last characters spread over every bit; the length tells apart
      // texts that mix alike.
      let x = h ^ text.length ^ lanes[(l + 1) % 4]!;
      x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
      x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
      return ((x ^ (x >>> 16)) >>> 0).toString(16).padStart(8, "0");
    })
    .join("");
}
