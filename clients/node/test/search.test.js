// @ts-check
/** Search and the read-only admin calls against a real server over the fixture corpora (hash-v1). */

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { fingerprintDigest, sameSpace } from "../src/index.js";
import { FIXTURE_INDEXES, startStack } from "./harness.js";

/** @type {import("./harness.js").Stack} */
let stack;

before(async () => {
  stack = await startStack();
});

after(async () => {
  await stack?.stop();
});

test("search returns hits best first, with titles, scores and the space the query was embedded in", async () => {
  const result = await stack.client.search({ query: "database disk full", topK: 3 });

  assert.equal(result.hits.length, 3);
  const [best] = result.hits;
  assert.equal(best.index, "runbooks");
  assert.equal(best.documentId, "database-disk-full");
  assert.equal(best.title, "Database Disk Full");
  assert.equal(best.source, "database_disk_full.md");
  assert.match(best.chunkId, /^database-disk-full#\d+$/);
  assert.equal(best.metadata.severity, "critical");
  const scores = result.hits.map((hit) => hit.score);
  assert.deepEqual(scores, [...scores].sort((a, b) => b - a));
  for (const hit of result.hits) {
    assert.ok(hit.score > 0 && hit.score <= 1, `score ${hit.score} of ${hit.chunkId}`);
    assert.ok(hit.title.length > 0 && hit.snippet.length > 0, hit.chunkId);
  }
  assert.equal(result.querySpace?.model, "hash-v1");
  assert.equal(result.querySpace?.dimensions, 384);
  assert.match(result.querySpace?.fingerprintDigest ?? "", /^[0-9a-f]{12}$/);
  assert.deepEqual(result.querySpace?.fingerprint, []); // named by digests: the vectors stay out
  assert.deepEqual(result.unavailableIndexes, []);
  // Hybrid by default: every hit carries its cosine and says which rankings found it.
  assert.equal(result.mode, "HYBRID");
  assert.equal(result.degraded, false);
  for (const hit of result.hits) {
    assert.equal(typeof hit.denseScore, "number", hit.chunkId);
    assert.ok(hit.denseRank > 0 || hit.lexicalRank > 0, hit.chunkId);
  }
});

test("a lexical search embeds nothing and ranks by BM25", async () => {
  const result = await stack.client.search({ query: "SPONSOR opcode", mode: "LEXICAL" });
  assert.equal(result.mode, "LEXICAL");
  assert.equal(result.querySpace, null);
  assert.equal(result.hits[0].documentId, "eip-9902");
  for (const hit of result.hits) {
    assert.equal(hit.denseScore, null);
    assert.equal(hit.score, hit.lexicalScore);
  }
});

test("search sends indexes, minScore, filter and allChunks to the server", async () => {
  const { client } = stack;
  const query = "disk usage percent on the database hosts";

  // By meaning only, so that score is the cosine similarity minScore compares with.
  const examples = await client.search({ query, indexes: ["examples"], mode: "DENSE" });
  assert.equal(examples.mode, "DENSE");
  assert.ok(examples.hits.length >= 3);
  assert.ok(examples.hits.every((hit) => hit.index === "examples"));

  // A threshold between the second and third score keeps exactly two hits.
  const [, second, third] = examples.hits.map((hit) => hit.score);
  const above = await client.search({
    query,
    indexes: ["examples"],
    minScore: (second + third) / 2,
    mode: "DENSE",
  });
  assert.deepEqual(
    above.hits.map((hit) => hit.chunkId),
    examples.hits.slice(0, 2).map((hit) => hit.chunkId),
  );

  const filtered = await client.search({ query, filter: { cluster: "prometheus-db" } });
  assert.ok(filtered.hits.length > 0);
  assert.ok(filtered.hits.every((hit) => hit.metadata.cluster === "prometheus-db"));

  const runbooks = { query: "database disk full", indexes: ["runbooks"], topK: 20 };
  const perDocument = await client.search(runbooks);
  const everyChunk = await client.search({ ...runbooks, allChunks: true });
  const documents = new Set(perDocument.hits.map((hit) => hit.documentId));
  assert.equal(documents.size, perDocument.hits.length, "one hit per document by default");
  assert.ok(everyChunk.hits.length > perDocument.hits.length, "allChunks returns several chunks of a document");
});

test("listIndexes returns every configured index, in order, READY in the provider's space", async () => {
  const indexes = await stack.client.listIndexes();

  assert.deepEqual(
    indexes.map((ix) => [ix.name, ix.kind]),
    FIXTURE_INDEXES.map((ix) => [ix.name, ix.kind]),
  );
  for (const ix of indexes) {
    assert.equal(ix.state, "READY", ix.name);
    assert.equal(ix.space?.model, "hash-v1", ix.name);
    assert.ok(ix.documentCount > 0 && ix.chunkCount >= ix.documentCount, ix.name);
    assert.equal(ix.generation, 1, ix.name);
    assert.ok(ix.stateSince instanceof Date && !Number.isNaN(ix.stateSince.getTime()), ix.name);
    assert.equal(ix.lastError, "", ix.name);
    assert.equal(ix.progress, null, ix.name);
  }
});

test("getIndex and getEmbeddingSpace describe the index and the space it was built in", async () => {
  const eips = await stack.client.getIndex("eips");
  assert.equal(eips.name, "eips");
  assert.equal(eips.kind, "eip");
  assert.equal(eips.documentCount, 4);

  const spaces = await stack.client.getEmbeddingSpace();
  assert.equal(spaces.providerSpace?.model, "hash-v1");
  assert.ok(sameSpace(eips.space, spaces.providerSpace));
  // Only getEmbeddingSpace carries the vectors; the digests name them, the same way on both sides.
  assert.deepEqual(eips.space?.fingerprint, []);
  assert.equal(spaces.providerSpace?.fingerprint.length, 384);
  assert.equal(spaces.providerSpace?.queryFingerprint.length, 384);
  assert.equal(fingerprintDigest(spaces.providerSpace?.fingerprint ?? []), eips.space?.fingerprintDigest);
  assert.equal(fingerprintDigest(spaces.providerSpace?.queryFingerprint ?? []), eips.space?.queryFingerprintDigest);
  // built_space is recorded after one more probe once the last index is READY, so it may still be unset.
  if (spaces.builtSpace !== null) {
    assert.deepEqual(spaces.builtSpace, spaces.providerSpace);
  }
  assert.ok(spaces.probedAt instanceof Date);
});

test("the fingerprint digest is the contract's: signs of the float32 components, SHA-256, 12 hex digits", () => {
  // The same pinned value as the server's tests: the bytes 01 02 00 01.
  assert.equal(fingerprintDigest([0.5, -0.25, 0.0, 1e-3]), "157655bf7c7e");
  assert.equal(fingerprintDigest([1e-50, -0.0]), fingerprintDigest([0, 0])); // float32: both zero
  assert.equal(fingerprintDigest([]), "");
  const space = { model: "m", dimensions: 2, fingerprintDigest: "a", queryFingerprintDigest: "b" };
  const withVectors = { ...space, fingerprint: [0.6, -0.8], queryFingerprint: [0.8, 0.6] };
  assert.ok(sameSpace({ ...space, fingerprint: [], queryFingerprint: [] }, withVectors));
  assert.ok(!sameSpace({ ...withVectors, queryFingerprintDigest: "c" }, withVectors));
  assert.ok(!sameSpace(null, withVectors) && sameSpace(null, null));
});
