// Fails when src/generated/api.ts is not what openapi-typescript makes of the current
// ../../openapi.json: the checked-in types must never drift from the API's contract.
// Fix with `npm run generate` and commit the result. Also holds package.json's version to
// the API's (openapi.json info.version).
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { checkedIn, generate, root } from "./generate.mjs";

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
  // The versioning rule (docs/client.md, "Versioning"): the package's version is the API's.
  const apiVersion = JSON.parse(readFileSync(join(root, "..", "..", "openapi.json"), "utf8")).info.version;
  const packageVersion = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version;
  if (apiVersion !== packageVersion) {
    console.error(
      `package.json version ${packageVersion} is not the API's (openapi.json info.version ` +
        `${apiVersion}): set it to ${apiVersion}.`,
    );
    process.exit(1);
  }
  console.log(`src/generated/api.ts matches openapi.json; version ${packageVersion}`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
