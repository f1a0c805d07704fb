// @ts-check
/** TLS and the bearer token: a server that needs both for every call, and clients with and without them. */

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { createClient, status } from "../src/index.js";
import { refusal, startStack } from "./harness.js";

const TOKEN = "node-client-token-0123456789";

/** @type {import("./harness.js").Stack} */
let stack;

before(async () => {
  stack = await startStack({ tls: true, token: TOKEN, tokenForReads: true });
});

after(async () => {
  await stack?.stop();
});

/** @param {Parameters<typeof createClient>[1]} options */
function clientWith(options) {
  return createClient(stack.address, { retry: false, ...options });
}

test("with the token and the certificate, searches, reindexes and watches go through", async () => {
  const { client } = stack; // the harness's client has both
  const result = await client.search({ query: "validator", topK: 2 });
  assert.ok(result.hits.length > 0);
  const accepted = await client.reindex({ indexes: ["eips"], reason: "node security test" });
  assert.deepEqual(
    accepted.map((ix) => ix.name),
    ["eips"],
  );
  const watch = client.watchIndexes({ signal: AbortSignal.timeout(10_000) });
  const first = await watch.next();
  await watch.return(undefined);
  assert.equal(first.value?.type, "snapshot");
});

test("without the token every call and the watch are UNAUTHENTICATED with reason TOKEN_REQUIRED", async () => {
  const client = clientWith({ rootCertificates: stack.certificate ?? undefined });
  try {
    // One call at a time: a refusal that arrives before it is awaited would be an unhandled rejection.
    const calls = [() => client.search({ query: "validator" }), () => client.listIndexes(), () => client.reindex()];
    for (const call of calls) {
      const error = await refusal(call());
      assert.equal(error.code, status.UNAUTHENTICATED);
      assert.equal(error.reason, "TOKEN_REQUIRED");
      assert.equal(error.retryable, false);
    }
    const error = await refusal(client.watchIndexes().next()); // refused for good: not resubscribed
    assert.equal(error.reason, "TOKEN_REQUIRED");
  } finally {
    client.close();
  }
});

test("a wrong token is PERMISSION_DENIED with reason TOKEN_INVALID", async () => {
  const client = clientWith({ token: "z".repeat(28), rootCertificates: stack.certificate ?? undefined });
  try {
    const error = await refusal(client.reindex());
    assert.equal(error.code, status.PERMISSION_DENIED);
    assert.equal(error.reason, "TOKEN_INVALID");
    assert.ok(!error.message.includes("z".repeat(28)));
  } finally {
    client.close();
  }
});

test("a plaintext client cannot reach the TLS server", async () => {
  const client = clientWith({ token: TOKEN });
  try {
    const error = await refusal(client.listIndexes({ timeoutMs: 5_000 }));
    assert.ok([status.UNAVAILABLE, status.DEADLINE_EXCEEDED].includes(error.code), error.message);
    assert.equal(error.reason, null); // gRPC failed the call: the server never answered it
  } finally {
    client.close();
  }
});

test("a token that cannot travel in a header is refused when the client is made", () => {
  assert.throws(() => createClient(stack.address, { token: "two words" }), TypeError);
});

test("a client of several TLS replicas checks each one's certificate and health, and balances over them", async () => {
  // The same server twice: two connections, each with its own handshake and its own health watch.
  const client = createClient([stack.address, stack.address], {
    token: TOKEN,
    rootCertificates: stack.certificate ?? undefined,
  });
  try {
    for (let i = 0; i < 4; i++) {
      assert.ok((await client.search({ query: "validator", topK: 2, mode: "LEXICAL" })).hits.length > 0);
    }
  } finally {
    client.close();
  }
});
