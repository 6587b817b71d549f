// Fails when src/generated/api.ts is not what openapi-typescript makes of the current
// ../../openapi.json: the checked-in types must never drift from the API's contract.
// Fix with `npm run generate` and commit the result.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { checkedIn, generate } from "./generate.mjs";

const scratch = mkdtempSync(join(tmpdir(), "chat-store-types-"));
try {
  const fresh = join(scratch, "api.ts");
  generate(fresh);
  if (readFileSync(fresh, "utf8") !== readFileSync(checkedIn, "utf8")) {
    console.error(
      "src/generated/api.ts is stale: openapi.json changed. Run `npm run generate` " +
        "(in clients/typescript) and commit the result.",
    );
    process.exit(1);
  }
  console.log("src/generated/api.ts matches openapi.json");
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
