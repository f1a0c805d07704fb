// @ts-check
/** Refused calls reach the caller as SemsearchError with the code and the decoded ErrorInfo. */

import assert from "node:assert/strict";
import { createServer } from "node:net";
import { after, before, test } from "node:test";

import { createClient, status } from "../src/index.js";
import { refusal, startStack } from "./harness.js";

/** @type {import("./harness.js").Stack} */
let stack;

before(async () => {
  stack = await startStack();
});

after(async () => {
  await stack?.stop();
});

test("an unknown index is NOT_FOUND with reason INDEX_NOT_FOUND and the name in the metadata", async () => {
  const { client } = stack;
  const calls = {
    getIndex: () => client.getIndex("no-such-index"),
    search: () => client.search({ query: "disk full", indexes: ["runbooks", "no-such-index"] }),
    reindex: () => client.reindex({ indexes: ["no-such-index"] }),
  };
  for (const [method, call] of Object.entries(calls)) {
    const error = await refusal(call());
    assert.equal(error.code, status.NOT_FOUND, method);
    assert.equal(error.codeName, "NOT_FOUND", method);
    assert.equal(error.reason, "INDEX_NOT_FOUND", method);
    assert.equal(error.domain, "semsearch.v1", method);
    assert.deepEqual(error.metadata, { index: "no-such-index" }, method);
    assert.equal(error.retryable, false, method);
    assert.equal(error.retryDelayMs, null, method);
    assert.match(error.message, /^NOT_FOUND \[INDEX_NOT_FOUND\]: /, method);
  }
});

test("watching an unknown index ends the watch with NOT_FOUND instead of resubscribing", async () => {
  const watch = stack.client.watchIndexes({ indexes: ["no-such-index"] });
  const error = await refusal(watch.next());
  assert.equal(error.code, status.NOT_FOUND);
  assert.equal(error.reason, "INDEX_NOT_FOUND");
});

test("bad input is INVALID_ARGUMENT with the reason, the limit and the field violation", async () => {
  const { client } = stack;

  const empty = await refusal(client.search({ query: "   " }));
  assert.equal(empty.code, status.INVALID_ARGUMENT);
  assert.equal(empty.reason, "INVALID_QUERY");
  assert.equal(empty.metadata.field, "query");
  assert.deepEqual(
    empty.fieldViolations.map((violation) => violation.field),
    ["query"],
  );
  assert.ok(empty.fieldViolations[0].description.length > 0);

  const topK = await refusal(client.search({ query: "disk full", topK: 101 }));
  assert.equal(topK.code, status.INVALID_ARGUMENT);
  assert.equal(topK.reason, "INVALID_TOP_K");
  assert.equal(topK.metadata.limit, "100");

  const minScore = await refusal(client.search({ query: "disk full", minScore: 1.5 }));
  assert.equal(minScore.reason, "INVALID_MIN_SCORE");

  const noName = await refusal(client.getIndex(""));
  assert.equal(noName.code, status.INVALID_ARGUMENT);
  assert.equal(noName.reason, "INVALID_INDEX_NAME");
});

test("a server that is not there is UNAVAILABLE without a reason: gRPC's own error, not the server's", async () => {
  // A port that was free a moment ago; nothing listens on it now.
  const probe = createServer();
  await new Promise((resolve) => probe.listen(0, "127.0.0.1", () => resolve(undefined)));
  const { port } = /** @type {import("node:net").AddressInfo} */ (probe.address());
  await new Promise((resolve) => probe.close(resolve));

  const client = createClient(`127.0.0.1:${port}`);
  try {
    const error = await refusal(client.listIndexes({ timeoutMs: 5_000 }));
    assert.equal(error.code, status.UNAVAILABLE);
    assert.equal(error.reason, null);
    assert.deepEqual(error.metadata, {});
    assert.equal(error.retryable, true);
  } finally {
    client.close();
  }
});

test("an aborted call rejects as CANCELLED", async () => {
  const controller = new AbortController();
  const call = stack.client.search({ query: "disk full" }, { signal: controller.signal });
  controller.abort();
  const error = await refusal(call);
  assert.equal(error.code, status.CANCELLED);
});
