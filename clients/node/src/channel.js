// @ts-check
/**
 * Channel options: keepalive within what the server accepts, retries of unary calls, reconnect
 * backoff, and round-robin with health checking over several replicas.
 */

import { HEALTH_ROUND_ROBIN, registerHealthRoundRobin } from "./balancing.js";

/** @typedef {import("./types.js").ClientOptions} ClientOptions */
/** @typedef {import("@grpc/grpc-js").ChannelOptions} ChannelOptions */

// A gRPC server counts pings less than 5 minutes apart (its default minimum) as abuse and closes the
// connection ("too_many_pings") after a few, so stay clear of that without a server-side change.
const DEFAULT_KEEPALIVE_MS = 360_000;
const KEEPALIVE_TIMEOUT_MS = 20_000;

// Idempotent unary methods: safe to repeat (a repeated Reindex schedules the same rebuild again).
// WatchIndexes is left out; the watch iterator reconnects by itself and starts from a fresh snapshot.
const UNARY_METHODS = [
  { service: "semsearch.v1.SearchService", method: "Search" },
  { service: "semsearch.v1.AdminService", method: "ListIndexes" },
  { service: "semsearch.v1.AdminService", method: "GetIndex" },
  { service: "semsearch.v1.AdminService", method: "GetEmbeddingSpace" },
  { service: "semsearch.v1.AdminService", method: "Reindex" },
];

/**
 * The service config for `retry`, with round-robin over the healthy replicas when `balanced`.
 * Retries are short and few: they ride over a dropped connection or a server restart (on another
 * replica, when balanced); a longer UNAVAILABLE (an index rebuilding) reaches the caller with its
 * RetryInfo.
 * @param {ClientOptions["retry"]} retry
 * @param {boolean} [balanced]
 */
export function serviceConfig(retry, balanced = false) {
  // Calls go to the replicas whose health service says SERVING for "" (see balancing.js).
  const loadBalancingConfig = balanced ? [{ [HEALTH_ROUND_ROBIN]: { serviceName: "" } }] : [];
  if (retry === false) {
    return { loadBalancingConfig, methodConfig: [] };
  }
  const { maxAttempts = 3, initialBackoffMs = 200, maxBackoffMs = 2_000 } = retry ?? {};
  return {
    loadBalancingConfig,
    methodConfig: [
      {
        name: UNARY_METHODS,
        retryPolicy: {
          maxAttempts,
          initialBackoff: seconds(initialBackoffMs),
          maxBackoff: seconds(maxBackoffMs),
          backoffMultiplier: 2,
          retryableStatusCodes: ["UNAVAILABLE"],
        },
      },
    ],
    // A server failing most calls gets no retries at all rather than a multiple of its load.
    retryThrottling: { maxTokens: 10, tokenRatio: 0.1 },
  };
}

/**
 * @param {ClientOptions} options
 * @param {{ balanced?: boolean, authority?: string | null }} [target] several replicas: balance over
 *   them, presenting `authority` (the first address, which TLS checks the certificate against)
 * @returns {ChannelOptions}
 */
export function channelOptions(options, { balanced = false, authority = null } = {}) {
  if (balanced) {
    registerHealthRoundRobin();
  }
  return {
    "grpc.keepalive_time_ms": options.keepaliveMs ?? DEFAULT_KEEPALIVE_MS,
    "grpc.keepalive_timeout_ms": KEEPALIVE_TIMEOUT_MS,
    "grpc.enable_retries": options.retry === false ? 0 : 1,
    "grpc.service_config": JSON.stringify(serviceConfig(options.retry, balanced)),
    // A restarted server (or replica) is reconnected within seconds, not after up to two minutes.
    "grpc.initial_reconnect_backoff_ms": 200,
    "grpc.max_reconnect_backoff_ms": 5_000,
    "grpc.primary_user_agent": "semsearch-node/0.1",
    ...(authority ? { "grpc.default_authority": authority } : {}),
    ...options.channelOptions,
  };
}

/**
 * A protobuf Duration in JSON form, as the service config wants it ("0.200s").
 * @param {number} ms
 */
function seconds(ms) {
  return `${(ms / 1000).toFixed(3)}s`;
}
