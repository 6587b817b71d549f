// Generates the API's types from ../../openapi.json with openapi-typescript: the one place
// its options are written, used by `npm run generate` and by the staleness check.
//
// --default-non-nullable false: a request field with a default (`editable`, `tokens`, ...)
// stays optional in the types, as the API treats it, instead of becoming required.
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..");
export const checkedIn = join(root, "src", "generated", "api.ts");

/** Writes the types generated from the current openapi.json to `output`. */
export function generate(output) {
  execFileSync(
    process.execPath,
    [
      join(root, "node_modules", "openapi-typescript", "bin", "cli.js"),
      join(root, "..", "..", "openapi.json"),
      "--output",
      output,
      "--default-non-nullable",
      "false",
    ],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  generate(checkedIn);
  console.log("wrote src/generated/api.ts");
}
