// @ts-check
/** semsearch for Node.js: `createClient(target)`, the error type, gRPC status codes, and spaces compared. */

export { status } from "@grpc/grpc-js";

export { createClient } from "./client.js";
export { SemsearchError } from "./errors.js";
export { DEFAULT_PROTO_DIR } from "./protos.js";
export { fingerprintDigest, sameSpace } from "./spaces.js";

/** @typedef {import("./client.js").SemsearchClient} SemsearchClient */
/** @typedef {import("./types.js").ClientOptions} ClientOptions */
/** @typedef {import("./types.js").CallOptions} CallOptions */
/** @typedef {import("./types.js").SearchParams} SearchParams */
/** @typedef {import("./types.js").SearchResult} SearchResult */
/** @typedef {import("./types.js").SearchHit} SearchHit */
/** @typedef {import("./types.js").Index} Index */
/** @typedef {import("./types.js").IndexState} IndexState */
/** @typedef {import("./types.js").IndexEvent} IndexEvent */
/** @typedef {import("./types.js").EmbeddingSpace} EmbeddingSpace */
/** @typedef {import("./types.js").EmbeddingSpaces} EmbeddingSpaces */
/** @typedef {import("./types.js").WatchOptions} WatchOptions */
/** @typedef {import("./types.js").WatchMessage} WatchMessage */
