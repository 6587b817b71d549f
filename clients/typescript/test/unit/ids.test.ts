import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { randomId } from "../../src/ids.js";

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe("randomId", () => {
  it("is a v4 UUID", () => {
    assert.match(randomId(), UUID_V4);
  });

  it("builds one from getRandomValues where randomUUID is missing (insecure browser origins)", () => {
    const original = Object.getOwnPropertyDescriptor(globalThis, "crypto");
    const getRandomValues = globalThis.crypto.getRandomValues.bind(globalThis.crypto);
    Object.defineProperty(globalThis, "crypto", { value: { getRandomValues }, configurable: true });
    try {
      const id = randomId();
      assert.match(id, UUID_V4);
      assert.notEqual(id, randomId());
    } finally {
      if (original) Object.defineProperty(globalThis, "crypto", original);
    }
  });
});
