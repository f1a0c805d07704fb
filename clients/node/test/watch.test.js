// @ts-check
/** WatchIndexes through a model switch at the provider, and across a restart of the server. */

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { createClient, SemsearchError, status } from "../src/index.js";
import { FIXTURE_INDEXES, startStack } from "./harness.js";

const NAMES = FIXTURE_INDEXES.map((ix) => ix.name);

/** @type {import("./harness.js").Stack} */
let stack;

before(async () => {
  stack = await startStack({ model: "hash-v1" });
});

after(async () => {
  await stack?.stop();
});

test("a watch sees every index go PARKED -> REBUILDING -> READY in the new space after a model switch", async () => {
  const { client } = stack;
  const watch = client.watchIndexes();
  try {
    const first = (await watch.next()).value;
    assert.ok(first?.type === "snapshot", "a watch starts with a snapshot");
    assert.equal(first.sequence, 1);
    assert.deepEqual(
      first.indexes.map((ix) => [ix.name, ix.state, ix.space?.model]),
      NAMES.map((name) => [name, "READY", "hash-v1"]),
    );

    await stack.switchModel("hash-v2");
    // The first query embedded in the new space is refused, never scored, and wakes the watcher.
    // (A text not searched before on this server: a cached query vector would not reveal the switch.
    // Without retries: a transparent retry would ride over a rebuild this fast and hide the refusal.)
    const once = createClient(stack.address, { retry: false });
    const refused = await once
      .search({ query: "who rotates the validator keys", indexes: ["runbooks"] })
      .then(
        () => assert.fail("a query in another space than the index was answered"),
        (/** @type {unknown} */ error) => error,
      )
      .finally(() => once.close());
    assert.ok(refused instanceof SemsearchError);
    assert.equal(refused.code, status.UNAVAILABLE);
    assert.equal(refused.reason, "EMBEDDING_SPACE_CHANGED");
    assert.equal(refused.metadata.index, "runbooks");
    assert.ok(refused.retryable);
    assert.ok(refused.retryDelayMs !== null && refused.retryDelayMs > 0, `RetryInfo delay ${refused.retryDelayMs}`);

    /** @type {Map<string, string[]>} */
    const transitions = new Map(NAMES.map((name) => [name, []]));
    const latest = new Map(first.indexes.map((ix) => [ix.name, ix]));
    /** @type {string[]} */
    const order = [];
    let sequence = 1;
    for await (const message of watch) {
      assert.equal(message.type, "event");
      assert.equal(message.sequence, ++sequence, "sequence numbers have no gaps");
      const { event } = message;
      transitions.get(event.index)?.push(`${event.previousState}->${event.state}`);
      order.push(event.state);
      latest.set(event.index, event.current);
      if ([...latest.values()].every((ix) => ix.state === "READY" && ix.space?.model === "hash-v2")) {
        break;
      }
    }

    for (const name of NAMES) {
      assert.deepEqual(
        transitions.get(name),
        ["READY->PARKED", "PARKED->REBUILDING", "REBUILDING->READY"],
        `transitions of ${name}`,
      );
      const ix = latest.get(name);
      assert.equal(ix?.generation, 2, `${name} was swapped in once more`);
      assert.equal(ix?.space?.dimensions, 384);
    }
    assert.ok(order.lastIndexOf("PARKED") < order.indexOf("REBUILDING"), `every index parked first: ${order}`);

    const after = await client.search({ query: "who rotates the validator keys", indexes: ["runbooks"] });
    assert.equal(after.querySpace?.model, "hash-v2");
    assert.ok(after.hits.length > 0);
  } finally {
    await watch.return();
  }
});

test("a watch resubscribes after the server restarts and starts again from a snapshot", async () => {
  const { client } = stack;
  const watch = client.watchIndexes({ maxBackoffMs: 500 });
  try {
    const first = (await watch.next()).value;
    assert.ok(first?.type === "snapshot");
    assert.equal(first.subscription, 1);

    const restarting = stack.restartServer();
    let resubscribed;
    for await (const message of watch) {
      if (message.subscription > 1) {
        resubscribed = message;
        break;
      }
    }
    await restarting;

    assert.ok(resubscribed?.type === "snapshot", "a new subscription starts with a snapshot");
    assert.equal(resubscribed.subscription, 2);
    assert.equal(resubscribed.sequence, 1);
    assert.deepEqual(
      resubscribed.indexes.map((ix) => ix.name),
      NAMES,
    );
    const ready = await client.waitUntilReady({ signal: AbortSignal.timeout(20_000) });
    assert.deepEqual(
      ready.map((ix) => [ix.name, ix.state, ix.space?.model]),
      NAMES.map((name) => [name, "READY", "hash-v2"]),
    );
  } finally {
    await watch.return();
  }
});
