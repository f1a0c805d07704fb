// @ts-check
/** createClient: SearchService and AdminService on one channel, with promises and plain objects. */

import * as grpc from "@grpc/grpc-js";

import { channelOptions } from "./channel.js";
import { searchRequest, toEmbeddingSpaces, toIndex, toSearchResult } from "./convert.js";
import { fromGrpcError } from "./errors.js";
import { loadServices } from "./protos.js";
import { channelTarget } from "./targets.js";
import { watchIndexes } from "./watch.js";

/** @typedef {import("./types.js").ClientOptions} ClientOptions */
/** @typedef {import("./types.js").CallOptions} CallOptions */
/** @typedef {import("./types.js").SearchParams} SearchParams */
/** @typedef {import("./types.js").SearchResult} SearchResult */
/** @typedef {import("./types.js").Index} Index */
/** @typedef {import("./types.js").EmbeddingSpaces} EmbeddingSpaces */
/** @typedef {import("./types.js").WatchOptions} WatchOptions */
/** @typedef {import("./types.js").WatchMessage} WatchMessage */
/** @typedef {Record<string, any>} Wire */

const SEARCH_TIMEOUT_MS = 30_000; // a query embedding may be retried once at a 10 s provider timeout
const ADMIN_TIMEOUT_MS = 10_000;

/**
 * @typedef {object} SemsearchClient
 * @property {(params: SearchParams, options?: CallOptions) => Promise<SearchResult>} search
 * @property {(options?: CallOptions) => Promise<Index[]>} listIndexes
 * @property {(name: string, options?: CallOptions) => Promise<Index>} getIndex
 * @property {(options?: CallOptions) => Promise<EmbeddingSpaces>} getEmbeddingSpace
 * @property {(request?: { indexes?: string[], reason?: string }, options?: CallOptions) => Promise<Index[]>} reindex
 *   schedules a rebuild; returns the scheduled indexes as they were when it was accepted
 * @property {(options?: WatchOptions) => AsyncGenerator<WatchMessage, void, undefined>} watchIndexes
 * @property {(options?: { indexes?: string[], signal?: AbortSignal }) => Promise<Index[]>} waitUntilReady
 *   resolves once every watched index is READY (via the watch stream, no polling)
 * @property {grpc.Channel} channel the underlying channel (for connectivity state, say)
 * @property {() => void} close ends every watch and closes the channel
 */

/**
 * A client for the semsearch server at `target` ("host:port"). Every call rejects with a SemsearchError.
 *
 * Several replicas: a `target` of comma-separated IP addresses ("10.0.0.1:50051,10.0.0.2:50051") or an
 * array of them; calls then go round-robin to the replicas whose health service reports SERVING
 * (`balance: false` turns that off; `balance: true` turns it on for one target, such as
 * "dns:///name:port" resolving to every replica). Throws a TypeError for addresses that cannot be
 * combined (names, a mix of IPv4 and IPv6, a missing port).
 * @param {string | string[]} target
 * @param {ClientOptions} [options]
 * @returns {SemsearchClient}
 */
export function createClient(target, options = {}) {
  const resolved = channelTarget(target);
  const balanced = options.balance ?? resolved.several;
  const { SearchService, AdminService } = loadServices(options.protoDir);
  const credentials =
    options.credentials ??
    (options.rootCertificates
      ? grpc.credentials.createSsl(options.rootCertificates)
      : grpc.credentials.createInsecure());
  const token = tokenMetadata(options.token);
  const settings = channelOptions(options, { balanced, authority: resolved.authority });
  const searchStub = new SearchService(resolved.target, credentials, settings);
  const channel = /** @type {grpc.Channel} */ (searchStub.getChannel());
  const adminStub = new AdminService(resolved.target, credentials, { channelOverride: channel });
  const closed = new AbortController();

  /**
   * @param {grpc.Client} stub
   * @param {string} method
   * @param {Wire} request
   * @param {number} timeoutMs
   * @param {CallOptions} options
   * @returns {Promise<Wire>}
   */
  function unary(stub, method, request, timeoutMs, { timeoutMs: deadlineMs = timeoutMs, signal } = {}) {
    return new Promise((resolve, reject) => {
      const deadline = new Date(Date.now() + deadlineMs);
      /** @type {grpc.ClientUnaryCall | undefined} */
      let call = undefined;
      const cancel = () => call?.cancel();
      call = /** @type {any} */ (stub)[method](
        request,
        token.clone(),
        { deadline },
        (/** @type {grpc.ServiceError | null} */ error, /** @type {Wire} */ response) => {
          signal?.removeEventListener("abort", cancel);
          if (error) {
            reject(fromGrpcError(error));
          } else {
            resolve(response);
          }
        },
      );
      if (signal?.aborted) {
        cancel(); // rejects as CANCELLED, like a call aborted in flight
      } else {
        signal?.addEventListener("abort", cancel, { once: true });
      }
    });
  }

  /** @param {WatchOptions} [watchOptions] */
  function watch(watchOptions = {}) {
    const open = (/** @type {{ indexes: string[], resumeToken: string }} */ request) =>
      /** @type {grpc.ClientReadableStream<Wire>} */ (
        /** @type {any} */ (adminStub).WatchIndexes(request, token.clone())
      );
    return watchIndexes(open, watchOptions, closed.signal);
  }

  return {
    channel,

    async search(params, callOptions) {
      const response = await unary(searchStub, "Search", searchRequest(params), SEARCH_TIMEOUT_MS, callOptions);
      return toSearchResult(response);
    },

    async listIndexes(callOptions) {
      const response = await unary(adminStub, "ListIndexes", {}, ADMIN_TIMEOUT_MS, callOptions);
      return response.indexes.map(toIndex);
    },

    async getIndex(name, callOptions) {
      const response = await unary(adminStub, "GetIndex", { name }, ADMIN_TIMEOUT_MS, callOptions);
      return toIndex(response.index);
    },

    async getEmbeddingSpace(callOptions) {
      const response = await unary(adminStub, "GetEmbeddingSpace", {}, ADMIN_TIMEOUT_MS, callOptions);
      return toEmbeddingSpaces(response);
    },

    async reindex({ indexes = [], reason = "" } = {}, callOptions) {
      const response = await unary(adminStub, "Reindex", { indexes, reason }, ADMIN_TIMEOUT_MS, callOptions);
      return response.indexes.map(toIndex);
    },

    watchIndexes: watch,

    async waitUntilReady({ indexes, signal } = {}) {
      /** @type {Map<string, Index>} */
      let known = new Map();
      for await (const message of watch({ indexes, signal })) {
        if (message.type === "snapshot") {
          known = new Map(message.indexes.map((ix) => [ix.name, ix]));
        } else {
          known.set(message.event.index, message.event.current);
        }
        const all = [...known.values()];
        if (all.length > 0 && all.every((ix) => ix.state === "READY")) {
          return all;
        }
      }
      throw new Error("the client was closed before every index was READY");
    },

    close() {
      closed.abort();
      channel.close();
    },
  };
}

/**
 * The metadata every call carries: `authorization: Bearer <token>` when the client has a token.
 * @param {string | undefined} token
 */
function tokenMetadata(token) {
  const metadata = new grpc.Metadata();
  if (token !== undefined) {
    const trimmed = token.trim();
    // Checked here: gRPC would refuse such a header on every call, far from the cause.
    if (!/^[\x21-\x7e]+$/.test(trimmed)) {
      throw new TypeError("token must be a non-empty string of visible ASCII characters");
    }
    metadata.set("authorization", `Bearer ${trimmed}`);
  }
  return metadata;
}
