// @ts-check
/** Wire messages (as proto-loader decodes them) to the plain objects the client returns, and back. */

/** @typedef {import("./types.js").Index} Index */
/** @typedef {import("./types.js").IndexState} IndexState */
/** @typedef {import("./types.js").EmbeddingSpace} EmbeddingSpace */
/** @typedef {import("./types.js").SearchParams} SearchParams */
/** @typedef {import("./types.js").SearchResult} SearchResult */
/** @typedef {import("./types.js").SearchMode} SearchMode */
/** @typedef {import("./types.js").UnavailableIndex} UnavailableIndex */
/** @typedef {import("./types.js").EmbeddingSpaces} EmbeddingSpaces */
/** @typedef {import("./types.js").WatchMessage} WatchMessage */

import { fingerprintDigest } from "./spaces.js";

// The wire shapes are loose on purpose: proto-loader builds them from the .proto files at run time.
/** @typedef {Record<string, any>} Wire */

/**
 * "INDEX_STATE_READY" -> "READY".
 * @param {string} state
 * @returns {IndexState}
 */
export function indexState(state) {
  return /** @type {IndexState} */ (state.replace(/^INDEX_STATE_/, ""));
}

/**
 * @param {Wire | null} timestamp google.protobuf.Timestamp with numeric seconds
 * @returns {Date | null}
 */
export function toDate(timestamp) {
  return timestamp ? new Date(timestamp.seconds * 1000 + Math.floor(timestamp.nanos / 1e6)) : null;
}

/**
 * A space, named by its digests; the vectors are filled only by getEmbeddingSpace. A server older
 * than the digests sent the vectors everywhere: they are digested here the same way.
 * @param {Wire | null} space
 * @returns {EmbeddingSpace | null}
 */
export function toSpace(space) {
  if (!space) {
    return null;
  }
  return {
    model: space.model,
    dimensions: space.dimensions,
    fingerprintDigest: space.fingerprintDigest || fingerprintDigest(space.fingerprint),
    queryFingerprintDigest: space.queryFingerprintDigest || fingerprintDigest(space.queryFingerprint),
    fingerprint: space.fingerprint,
    queryFingerprint: space.queryFingerprint,
  };
}

/**
 * @param {Wire} ix
 * @returns {Index}
 */
export function toIndex(ix) {
  const progress = ix.progress;
  return {
    name: ix.name,
    kind: ix.kind,
    state: indexState(ix.state),
    space: toSpace(ix.space),
    documentCount: ix.documentCount,
    chunkCount: ix.chunkCount,
    generation: ix.generation,
    stateSince: toDate(ix.stateSince),
    lastError: ix.lastError,
    progress: progress
      ? {
          chunksDone: progress.chunksDone,
          chunksTotal: progress.chunksTotal,
          chunksCached: progress.chunksCached,
          chunksPerSecond: progress.chunksPerSecond,
          secondsLeft: progress.secondsLeft ?? null,
        }
      : null,
  };
}

/**
 * The SearchRequest for `params`; min_score is proto3 `optional`, so it is sent only when given.
 * @param {SearchParams} params
 * @returns {Wire}
 */
export function searchRequest(params) {
  /** @type {Wire} */
  const request = {
    query: params.query,
    indexes: params.indexes ?? [],
    topK: params.topK ?? 0,
    filter: params.filter ?? {},
    allChunks: params.allChunks ?? false,
    mode: `SEARCH_MODE_${params.mode ?? "UNSPECIFIED"}`,
    allowDegraded: params.allowDegraded ?? false,
  };
  if (params.minScore !== undefined && params.minScore !== null) {
    request.minScore = params.minScore;
  }
  return request;
}

/**
 * @param {Wire} missing an UnavailableIndex or a DegradedIndex (the same fields)
 * @returns {UnavailableIndex}
 */
function toUnavailable(missing) {
  return { index: missing.index, state: indexState(missing.state), reason: missing.reason, message: missing.message };
}

/**
 * @param {Wire} response
 * @returns {SearchResult}
 */
export function toSearchResult(response) {
  return {
    hits: response.hits.map((/** @type {Wire} */ hit) => ({
      index: hit.index,
      documentId: hit.documentId,
      chunkId: hit.chunkId,
      title: hit.title,
      section: hit.section,
      snippet: hit.snippet,
      score: hit.score,
      source: hit.source,
      metadata: hit.metadata,
      denseScore: hit.denseScore ?? null,
      denseRank: hit.denseRank,
      lexicalScore: hit.lexicalScore ?? null,
      lexicalRank: hit.lexicalRank,
      pinned: hit.pinned,
    })),
    querySpace: toSpace(response.querySpace),
    unavailableIndexes: response.unavailableIndexes.map(toUnavailable),
    mode: /** @type {SearchMode} */ (response.mode.replace(/^SEARCH_MODE_/, "")),
    degraded: response.degraded,
    degradedIndexes: response.degradedIndexes.map(toUnavailable),
  };
}

/**
 * @param {Wire} response
 * @returns {EmbeddingSpaces}
 */
export function toEmbeddingSpaces(response) {
  return {
    providerSpace: toSpace(response.providerSpace),
    builtSpace: toSpace(response.builtSpace),
    probedAt: toDate(response.probedAt),
  };
}

/**
 * @param {Wire} message a WatchIndexesResponse
 * @param {number} subscription
 * @param {boolean} [resumed] the first message of a stream that continued after a position
 * @returns {WatchMessage}
 */
export function toWatchMessage(message, subscription, resumed = false) {
  const position = {
    sequence: message.sequence,
    subscription,
    logSequence: message.logSequence,
    resumeToken: message.resumeToken,
  };
  if (message.payload === "snapshot") {
    return { type: "snapshot", ...position, resumed: false, indexes: message.snapshot.indexes.map(toIndex) };
  }
  const event = message.event;
  return {
    type: "event",
    ...position,
    resumed,
    event: {
      index: event.index,
      previousState: indexState(event.previousState),
      state: indexState(event.state),
      reason: event.reason,
      time: toDate(event.time),
      current: toIndex(event.current),
    },
  };
}
