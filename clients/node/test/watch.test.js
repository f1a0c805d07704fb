// @ts-check
/** WatchIndexes through a model switch at the provider, and across a restart of the server. */

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { createClient, SemsearchError, status } from "../src/index.js";
import { FIXTURE_INDEXES, startStack } from "./harness.js";
import { startRelay } from "./relay.js";

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

    assert.ok(resubscribed?.type === "snapshot", "the restarted server keeps another log: a fresh snapshot");
    assert.equal(resubscribed.resumed, false);
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

/** @typedef {import("../src/index.js").WatchMessage} WatchMessage */

/**
 * Read a watch in the background; `until` waits on what it delivered, never on a timer.
 * @param {(signal: AbortSignal) => AsyncGenerator<WatchMessage, void, undefined>} open
 */
function collect(open) {
  // Aborted to stop: return() would wait for the next message of a generator being iterated.
  const stopped = new AbortController();
  const watch = open(stopped.signal);
  /** @type {WatchMessage[]} */
  const messages = [];
  /** @type {Set<() => void>} */
  const waiting = new Set();
  const reading = (async () => {
    for await (const message of watch) {
      messages.push(message);
      for (const wake of waiting) wake();
    }
  })();
  return {
    messages,
    /** @param {(messages: WatchMessage[]) => boolean} condition */
    async until(condition, timeoutMs = 30_000) {
      const deadline = AbortSignal.timeout(timeoutMs);
      while (!condition(messages)) {
        await new Promise((resolve, reject) => {
          const wake = () => {
            waiting.delete(wake);
            resolve(undefined);
          };
          waiting.add(wake);
          deadline.addEventListener("abort", () => reject(new Error("timed out waiting on the watch")), {
            once: true,
          });
        });
      }
    },
    async stop() {
      stopped.abort();
      await reading.catch(() => {});
    },
  };
}

/**
 * @param {WatchMessage[]} messages
 * @param {string} index
 * @param {string} reason
 */
function rebuilt(messages, index, reason) {
  return messages.some(
    (m) => m.type === "event" && m.event.index === index && m.event.state === "READY" && m.event.reason.endsWith(reason),
  );
}

/** @param {WatchMessage[]} messages */
function changes(messages) {
  return messages.flatMap((m) =>
    m.type === "event" ? [[m.logSequence, m.event.index, m.event.previousState, m.event.state, m.event.reason]] : [],
  );
}

test("a cut stream resumes after the last message it delivered, with no gap and no duplicate", async () => {
  const { client } = stack;
  const relay = await startRelay(stack.address);
  const cutClient = createClient(relay.address);
  const reference = collect((signal) => client.watchIndexes({ signal }));
  const watcher = collect((signal) => cutClient.watchIndexes({ maxBackoffMs: 200, signal }));
  try {
    await reference.until((m) => m.length > 0);
    await watcher.until((m) => m.length > 0);
    await client.reindex({ indexes: ["runbooks"], reason: "before the cut" });
    await watcher.until((m) => rebuilt(m, "runbooks", "before the cut"));

    relay.refusing = true;
    relay.cut();
    // Changes the watcher cannot see while it is away.
    await client.reindex({ indexes: ["eips", "specs"], reason: "while away" });
    await reference.until((m) => rebuilt(m, "eips", "while away") && rebuilt(m, "specs", "while away"));
    relay.refusing = false;
    await watcher.until((m) => rebuilt(m, "specs", "while away"));
    await client.reindex({ indexes: ["examples"], reason: "after the cut" });
    await watcher.until((m) => rebuilt(m, "examples", "after the cut"));
    await reference.until((m) => rebuilt(m, "examples", "after the cut"));
  } finally {
    await watcher.stop();
    await reference.stop();
    cutClient.close();
    await relay.close();
  }

  const before = watcher.messages.filter((m) => m.subscription === 1);
  const after = watcher.messages.filter((m) => m.subscription === 2);
  assert.ok(after.length > 0 && watcher.messages.every((m) => m.subscription <= 2));
  const [first] = after;
  assert.ok(first.type === "event" && first.resumed, "the stream continued: no snapshot");
  assert.equal(first.logSequence, before[before.length - 1].logSequence + 1);
  assert.ok(first.event.reason.endsWith("while away"), "what happened while away comes first");
  const seen = changes(watcher.messages);
  const positions = seen.map(([position]) => position);
  assert.deepEqual(
    positions,
    positions.map((_, i) => Number(positions[0]) + i),
    "no gap, no duplicate",
  );
  assert.deepEqual(
    seen,
    changes(reference.messages).filter(([position]) => Number(position) >= Number(positions[0])),
    "exactly what an uninterrupted stream saw",
  );
});

test("a kept resumeToken continues an earlier watch after its last message", async () => {
  const { client } = stack;
  const earlier = client.watchIndexes();
  const snapshot = (await earlier.next()).value;
  await earlier.return();
  assert.ok(snapshot?.type === "snapshot" && snapshot.resumeToken !== "" && snapshot.logSequence > 0);
  await client.reindex({ indexes: ["eips"], reason: "while nobody watched" });

  const later = client.watchIndexes({ resumeToken: snapshot.resumeToken });
  try {
    const first = (await later.next()).value;
    assert.ok(first?.type === "event" && first.resumed);
    assert.equal(first.subscription, 1);
    assert.equal(first.logSequence, snapshot.logSequence + 1);
    assert.ok(first.event.reason.endsWith("while nobody watched"), first.event.reason);
  } finally {
    await later.return();
  }
});
