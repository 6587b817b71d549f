/**
 * Moving the frontend's localStorage history to the API, once, resumably.
 *
 * The old store kept `Conversation[]` as JSON under one key. {@link migrateFromLocalStorage}
 * sends it to `POST /api/import` in batches that fit the API's limits, records each batch
 * done (so a reload mid-way resumes where it stopped, not from the start), and finally marks
 * the migration done so later page loads cost no request at all.
 *
 * One bad entry never blocks the rest: an entry that is no conversation (the `null` that
 * `delete arr[i]` leaves, a number, an object without an id) is left out, and every entry not
 * moved, left out here or rejected by the server, is listed once in the report's `notMoved`
 * by its position in the old array (and its id and title when it has them), with a code the
 * app can word for the user. {@link migrationNotice} gives that list until the app calls
 * {@link dismissMigrationNotice}, so a notice is shown until the user closes it, then never again.
 */
import type { ChatStoreClient } from "./client.js";
import type { components } from "./generated/api.js";
import { STORAGE_PREFIX } from "./local.js";
import { readJson, writeJson } from "./storage.js";
import type { StorageLike } from "./storage.js";
import type { ImportConversation, ImportRequest } from "./types.js";

/** A conversation the import did not store, and why. */
export type RejectedConversation = components["schemas"]["RejectedConversation"];

/**
 * Why an entry of the old history was not moved: `not_a_conversation` (not an object: the
 * `null` of a deleted array slot, a number, a string), `no_id` (an object without a string
 * `id`), `payload_too_large` (too large for any import request), or the server's rejection
 * code (`validation_failed`, `invalid_id`, `duplicate_id`, `conversation_deleted`, ...).
 */
export type NotMovedCode = "not_a_conversation" | "no_id" | "payload_too_large" | (string & {});

/** An entry of the old history that was not moved; see {@link MigrationReport.notMoved}. */
export interface NotMovedEntry {
  /**
   * Where it stood in the old store's array, from 0 (-1 only for a rejection naming an id the
   * batch did not hold, which the API does not answer).
   */
  position: number;
  /** Its id, when it had a string one. */
  id?: string;
  /** Its title, when it had a string one: what the user knows it by. */
  title?: string;
  /** Why, as a stable code to word for the user (see {@link NotMovedCode}). */
  code: NotMovedCode;
  /** The developer's explanation, for the console: not for the page. */
  detail: string;
}

/** What the migration did, summed over its batches. */
export interface MigrationReport {
  imported: number;
  /** Stored ones replaced by a newer `updatedAt`. */
  updated: number;
  /** Conversations the server already had as new (a count; see `notMoved` for what failed). */
  skipped: number;
  evicted: string[];
  /** The server's rejections, and the conversations too large to send at all. */
  rejected: RejectedConversation[];
  /**
   * Every entry of the old history not moved, in the old array's order: those that are no
   * conversation (never sent) and those the server or the size limit refused.
   */
  notMoved: NotMovedEntry[];
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
  /** True once the app dismissed the notice of what was not moved. */
  dismissed?: boolean;
}

/** What to tell the user once about a finished migration: the entries it could not move. */
export interface MigrationNotice {
  notMoved: NotMovedEntry[];
}

/**
 * The entries a finished migration could not move, until {@link dismissMigrationNotice}:
 * null when there are none, the migration is not done, or the notice was dismissed. Read from
 * `storage`, so it costs no request and holds across reloads.
 */
export function migrationNotice(storage: StorageLike): MigrationNotice | null {
  const state = readState(storage);
  if (!state.report.done || state.dismissed === true || state.report.notMoved.length === 0) return null;
  return { notMoved: state.report.notMoved };
}

/** The user has seen the notice: {@link migrationNotice} answers null from now on. */
export function dismissMigrationNotice(storage: StorageLike): void {
  const state = readState(storage);
  state.dismissed = true;
  writeJson(storage, MIGRATION_KEY, state);
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
  const { entries: conversations, notConversations } = sortEntries(Array.isArray(legacy) ? (legacy as unknown[]) : []);
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
    report.notMoved.push(...data.rejected.map((r) => notMovedOf(r, batch.entries)));
    state.sent.push(batch.key);
    writeJson(storage, MIGRATION_KEY, state);
    options.onProgress?.({ sent: state.sent.length, batches: plan.batches.length, report });
  }
  report.rejected.push(...plan.tooLarge.map((entry) => entry.rejected));
  report.notMoved.push(
    ...notConversations,
    ...plan.tooLarge.map(({ rejected, entry }) => ({ ...named(entry), code: rejected.code, detail: rejected.detail })),
  );
  report.notMoved.sort((a, b) => a.position - b.position);
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
    const state = value as MigrationState;
    // A report kept by a release before `notMoved` has none to show.
    state.report.notMoved ??= [];
    return state;
  }
  return {
    sent: [],
    report: { imported: 0, updated: 0, skipped: 0, evicted: [], rejected: [], notMoved: [], batches: 0, done: false },
  };
}

/** A conversation of the old history, with where it stood in the old array. */
interface Entry {
  position: number;
  conversation: ImportConversation;
}

/**
 * The old array's entries that can be conversations (objects with a string id: the server
 * judges the rest of each), and those that cannot, which are not sent.
 */
function sortEntries(legacy: unknown[]): { entries: Entry[]; notConversations: NotMovedEntry[] } {
  const entries: Entry[] = [];
  const notConversations: NotMovedEntry[] = [];
  // `for` over the indexes, not `forEach`: an array with holes still has a position for each.
  for (let position = 0; position < legacy.length; position++) {
    const value = legacy[position];
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      notConversations.push({
        position,
        code: "not_a_conversation",
        detail: `entry ${position} of the old history is ${value === null ? "null" : Array.isArray(value) ? "an array" : `a ${typeof value}`}, not a conversation`,
      });
    } else if (typeof (value as { id?: unknown }).id !== "string") {
      notConversations.push({
        ...named({ position, conversation: value as ImportConversation }),
        code: "no_id",
        detail: `entry ${position} of the old history has no string id`,
      });
    } else {
      entries.push({ position, conversation: value as ImportConversation });
    }
  }
  return { entries, notConversations };
}

/** The position, id and title an entry is known by. */
function named({ position, conversation }: Entry): Pick<NotMovedEntry, "position" | "id" | "title"> {
  const { id, title } = conversation as { id?: unknown; title?: unknown };
  return {
    position,
    ...(typeof id === "string" && id !== "" ? { id } : {}),
    ...(typeof title === "string" && title !== "" ? { title } : {}),
  };
}

/**
 * A rejection of the server as the entry it names: the server names a conversation by its id,
 * or, without a usable one, by its place in the batch (`conversations[3]`).
 */
function notMovedOf(rejected: RejectedConversation, entries: Entry[]): NotMovedEntry {
  const place = /^conversations\[(\d+)\]$/.exec(rejected.id);
  const entry =
    (place === null ? undefined : entries[Number(place[1])]) ??
    entries.find((e) => (e.conversation as { id?: unknown }).id === rejected.id);
  const where = entry === undefined ? { position: -1, id: rejected.id } : named(entry);
  return { ...where, code: rejected.code, detail: rejected.detail };
}

interface Batch {
  body: ImportRequest;
  key: string;
  /** The entries sent in it, in the body's order. */
  entries: Entry[];
}

interface Plan {
  batches: Batch[];
  tooLarge: { entry: Entry; rejected: RejectedConversation }[];
}

/**
 * Packs conversations, in the old store's order, into bodies of at most `maxBytes` UTF-8
 * bytes and `maxConversations` each. The open conversation's id rides in the last batch, so
 * it is set once its conversation is there; its bytes are counted in every batch, so
 * whichever turns out last still fits.
 */
function planBatches(
  conversations: Entry[],
  currentConversationId: string | undefined,
  limits: { maxBytes: number; maxConversations: number },
): Plan {
  const encoder = new TextEncoder();
  const size = (text: string): number => encoder.encode(text).length;
  // `{"conversations":[],"currentConversationId":"..."}`; each conversation adds its JSON and
  // a comma.
  const frame = size(JSON.stringify({ conversations: [], currentConversationId: currentConversationId ?? null }));
  const groups: Entry[][] = [];
  const tooLarge: Plan["tooLarge"] = [];
  let group: Entry[] = [];
  let bytes = frame;
  for (const entry of conversations) {
    const own = size(JSON.stringify(entry.conversation)) + 1;
    if (frame + own > limits.maxBytes) {
      const rejected = {
        id: entry.conversation.id,
        code: "payload_too_large" as const,
        detail: `${frame + own} bytes alone, over the ${limits.maxBytes} bytes one import request may carry`,
      };
      tooLarge.push({ entry, rejected });
      continue;
    }
    if (group.length > 0 && (bytes + own > limits.maxBytes || group.length >= limits.maxConversations)) {
      groups.push(group);
      group = [];
      bytes = frame;
    }
    group.push(entry);
    bytes += own;
  }
  if (group.length > 0) groups.push(group);
  const batches = groups.map((entries, i): Batch => {
    const conversations = entries.map((e) => e.conversation);
    const body: ImportRequest =
      i === groups.length - 1 && currentConversationId !== undefined
        ? { conversations, currentConversationId }
        : { conversations };
    return { body, key: `migration-${contentHash(JSON.stringify(body))}`, entries };
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
