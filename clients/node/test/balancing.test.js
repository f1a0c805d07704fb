// @ts-check
/**
 * Several targets: calls go round-robin over the replicas that report SERVING, and a replica that
 * reports NOT_SERVING (loading, draining) gets none until it serves again. Plain single-process
 * servers: how calls are spread does not depend on where the indexes are stored.
 */

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { createClient, SemsearchError, status } from "../src/index.js";
import { startReplicaSet } from "./replicas.js";

const QUERY = { query: "database disk full", mode: /** @type {const} */ ("LEXICAL") };

/** @type {import("./replicas.js").ReplicaSet} */
let replicas;

before(async () => {
  replicas = await startReplicaSet(3);
});

after(async () => {
  await replicas?.stop();
});

/**
 * Search until `done(counts)` holds: waits on what the servers saw, never on a timer.
 * @param {import("../src/index.js").SemsearchClient} client
 * @param {(counts: number[]) => boolean} done
 */
async function searchUntil(client, done) {
  const deadline = Date.now() + 30_000;
  while (!done(await replicas.counts())) {
    assert.ok(Date.now() < deadline, "the searches never spread as expected");
    await client.search(QUERY);
  }
}

/**
 * How `searches` more searches were shared among the replicas.
 * @param {import("../src/index.js").SemsearchClient} client
 * @param {number} searches
 */
async function spread(client, searches) {
  const before = await replicas.counts();
  for (let i = 0; i < searches; i++) {
    await client.search(QUERY);
  }
  return (await replicas.counts()).map((count, i) => count - before[i]);
}

/**
 * Search until `inARow` searches in a row went elsewhere than `replica`: the client has seen its
 * health change (calls already on their way when it changed may still land there).
 * @param {import("../src/index.js").SemsearchClient} client
 * @param {number} replica
 */
async function settledAwayFrom(client, replica, inARow = 6) {
  let streak = 0;
  const deadline = Date.now() + 30_000;
  while (streak < inARow) {
    assert.ok(Date.now() < deadline, `replica ${replica} kept getting searches`);
    const before = (await replicas.counts())[replica];
    await client.search(QUERY);
    streak = (await replicas.counts())[replica] === before ? streak + 1 : 0;
  }
}

test("searches go round-robin over every replica", async () => {
  const client = createClient(replicas.addresses.join(","));
  try {
    await searchUntil(client, (counts) => counts.every((count) => count > 0));
    assert.deepEqual(await spread(client, 30), [10, 10, 10]);
  } finally {
    client.close();
  }
});

test("a replica reporting NOT_SERVING gets no searches until it serves again", async () => {
  const client = createClient(replicas.addresses); // an array works as well as a comma-separated list
  try {
    await searchUntil(client, (counts) => counts.every((count) => count > 0));
    await replicas.setHealth(0, "NOT_SERVING");
    await settledAwayFrom(client, 0);
    assert.deepEqual(await spread(client, 20), [0, 10, 10]);

    await replicas.setHealth(0, "SERVING");
    const [before] = await replicas.counts();
    await searchUntil(client, ([first]) => first > before); // back in the rotation
    assert.deepEqual(await spread(client, 30), [10, 10, 10]);
  } finally {
    await replicas.setHealth(0, "SERVING");
    client.close();
  }
});

test("a new client waits for each replica's health before sending it anything", async () => {
  await replicas.setHealth(1, "NOT_SERVING");
  try {
    for (let i = 0; i < 3; i++) {
      const client = createClient(replicas.addresses.join(","));
      try {
        const [, before] = await replicas.counts();
        assert.deepEqual((await spread(client, 6))[1], 0, `client ${i} sent a search to replica 1`);
        assert.equal((await replicas.counts())[1], before);
      } finally {
        client.close();
      }
    }
  } finally {
    await replicas.setHealth(1, "SERVING");
  }
});

test("without balancing every search goes to one replica", async () => {
  const client = createClient(replicas.addresses.join(","), { balance: false });
  try {
    const shares = await spread(client, 12);
    assert.deepEqual([...shares].sort((a, b) => a - b), [0, 0, 12]);
  } finally {
    client.close();
  }
});

test("when no replica serves, a search fails at once as UNAVAILABLE", async () => {
  const client = createClient(replicas.addresses.join(","), { retry: false });
  try {
    await searchUntil(client, (counts) => counts.every((count) => count > 0));
    for (const replica of [0, 1, 2]) {
      await replicas.setHealth(replica, "NOT_SERVING");
    }
    const deadline = Date.now() + 30_000;
    /** @type {unknown} */
    let failure = null;
    while (failure === null) {
      assert.ok(Date.now() < deadline, "searches kept being answered");
      await client.search(QUERY).catch((/** @type {unknown} */ error) => {
        failure = error;
      });
    }
    assert.ok(failure instanceof SemsearchError);
    assert.equal(failure.code, status.UNAVAILABLE);
    assert.match(failure.details, /unhealthy/);
  } finally {
    for (const replica of [0, 1, 2]) {
      await replicas.setHealth(replica, "SERVING");
    }
    client.close();
  }
});

test("targets that cannot be combined are refused when the client is made", () => {
  assert.throws(() => createClient("replica-a:50051,replica-b:50051"), /must be IP addresses.*dns:\/\/\//);
  assert.throws(() => createClient(["10.0.0.1:1", "[::1]:2"]), /all IPv4 or all IPv6/);
  assert.throws(() => createClient("10.0.0.1:1,"), /empty address/);
});
