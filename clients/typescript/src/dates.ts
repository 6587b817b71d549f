/**
 * Dates: the API sends ISO 8601 strings; the frontend's model has `Date`s.
 *
 * One list of field names decides which strings become dates, at the type level ({@link Dated})
 * and at run time ({@link reviveDates}), so the two cannot disagree. Free-form JSON the user
 * owns (`mcpServers`, a tool's `input`/`output`, a message's `parts` and `metadata`) is never
 * walked: a `timestamp` key inside a tool's output is the tool's business, not ours, and a
 * UIMessage's `metadata.createdAt` reads back as the string it was written as.
 */

/** Fields that hold a point in time, wherever they appear in an API body. */
export const DATE_FIELDS = ["timestamp", "createdAt", "updatedAt", "expiresAt", "at"] as const;

/** Fields whose values are the user's own JSON, passed through untouched. */
export const OPAQUE_FIELDS = ["mcpServers", "input", "output", "parts", "metadata"] as const;

type DateField = (typeof DATE_FIELDS)[number];
type OpaqueField = (typeof OPAQUE_FIELDS)[number];

// Distributes over unions, so `string | undefined` becomes `Date | undefined`.
type StringToDate<V> = V extends string ? Date : V;
type StringToDateInput<V> = V extends string ? Date | string : V;

/** `T` as the client hands it out: every date field a `Date`. */
export type Dated<T> = T extends readonly (infer U)[]
  ? Dated<U>[]
  : T extends object
    ? {
        [K in keyof T]: K extends DateField
          ? StringToDate<T[K]>
          : K extends OpaqueField
            ? T[K]
            : Dated<T[K]>;
      }
    : T;

/**
 * `T` as the client takes it in: a date field may be a `Date` or already an ISO string (what
 * localStorage holds), since `JSON.stringify` writes a `Date` as its ISO string anyway.
 */
export type DatedInput<T> = T extends readonly (infer U)[]
  ? DatedInput<U>[]
  : T extends object
    ? {
        [K in keyof T]: K extends DateField
          ? StringToDateInput<T[K]>
          : K extends OpaqueField
            ? T[K]
            : DatedInput<T[K]>;
      }
    : T;

const dateFields: ReadonlySet<string> = new Set(DATE_FIELDS);
const opaqueFields: ReadonlySet<string> = new Set(OPAQUE_FIELDS);

/**
 * Turns the date fields of a parsed JSON body into `Date`s, in place, and returns it.
 *
 * A string that does not parse as a date is left as it is rather than becoming an
 * `Invalid Date`: the API stores a timestamp as it was sent, so an old client may have sent
 * anything, and dropping it would lose data.
 */
export function reviveDates<T>(body: T): Dated<T> {
  walk(body);
  return body as Dated<T>;
}

function walk(value: unknown): void {
  if (Array.isArray(value)) {
    for (const item of value) walk(item);
    return;
  }
  if (value === null || typeof value !== "object") return;
  const record = value as Record<string, unknown>;
  for (const [key, field] of Object.entries(record)) {
    if (opaqueFields.has(key)) continue;
    if (dateFields.has(key) && typeof field === "string") {
      const parsed = new Date(field);
      if (!Number.isNaN(parsed.getTime())) record[key] = parsed;
    } else {
      walk(field);
    }
  }
}
