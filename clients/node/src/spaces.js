// @ts-check
/** Embedding spaces by name: model, dimensions and the digests of the two fingerprint vectors. */

import { createHash } from "node:crypto";

/** @typedef {import("./types.js").EmbeddingSpace} EmbeddingSpace */

/**
 * The digest the server sends as `fingerprintDigest`, of any fingerprint vector (those
 * `getEmbeddingSpace()` returns): the first 12 hex digits of SHA-256 over one byte per float32
 * component, 1 positive, 2 negative, 0 zero (see EmbeddingSpace in proto/semsearch/v1/types.proto).
 * Empty for an empty vector.
 * @param {ArrayLike<number>} fingerprint
 * @returns {string}
 */
export function fingerprintDigest(fingerprint) {
  const values = Float32Array.from(fingerprint);
  if (values.length === 0) {
    return "";
  }
  const signs = Uint8Array.from(values, (x) => (x > 0 ? 1 : x < 0 ? 2 : 0));
  return createHash("sha256").update(signs).digest("hex").slice(0, 12);
}

/**
 * Whether two spaces are the same: equal model, dimensions and fingerprint digests (whether or not
 * either carries the vectors). Either may be null (no space): then only null equals null.
 * @param {EmbeddingSpace | null} a
 * @param {EmbeddingSpace | null} b
 * @returns {boolean}
 */
export function sameSpace(a, b) {
  if (a === null || b === null) {
    return a === b;
  }
  return (
    a.model === b.model &&
    a.dimensions === b.dimensions &&
    a.fingerprintDigest === b.fingerprintDigest &&
    a.queryFingerprintDigest === b.queryFingerprintDigest
  );
}
