// @ts-check
/**
 * Runs test/*.test.js with node:test, one file at a time (each file starts its own server), and fails
 * when a test fails or when no test ran at all, so a broken glob can never pass silently.
 */

import { readdirSync } from "node:fs";
import path from "node:path";
import { run } from "node:test";
import { spec } from "node:test/reporters";
import { fileURLToPath } from "node:url";

const TEST_DIR = fileURLToPath(new URL("../test/", import.meta.url));
const files = readdirSync(TEST_DIR)
  .filter((name) => name.endsWith(".test.js"))
  .map((name) => path.join(TEST_DIR, name));

let passed = 0;
let failed = 0;
const stream = run({ files, concurrency: 1, timeout: 60_000 });
stream.on("test:pass", (data) => {
  if (data.details.type !== "suite") passed++;
});
stream.on("test:fail", () => {
  failed++;
});
stream.on("end", () => {
  if (failed > 0 || passed === 0) {
    const none = passed + failed === 0 ? " (no test ran)" : "";
    console.error(`node tests: ${passed} passed, ${failed} failed${none}`);
    process.exitCode = 1;
  }
});
stream.compose(new spec()).pipe(process.stdout);
