// @ts-check
/** The one error type the client rejects with: gRPC status code plus the decoded rich error model. */

import * as grpc from "@grpc/grpc-js";

import { decodeStatus } from "./status-details.js";

/** @typedef {import("./status-details.js").StatusDetail} StatusDetail */

const DETAILS_TRAILER = "grpc-status-details-bin";

/**
 * A failed call. Branch on `code` and `reason`, never on the message text.
 *
 * `reason`, `domain` and `metadata` come from the google.rpc.ErrorInfo the server attaches to every
 * error of its own; they are null/empty for errors made by gRPC itself (server unreachable, deadline
 * exceeded, cancelled), which is how a refused call is told from an unreachable server.
 */
export class SemsearchError extends Error {
  /**
   * @param {object} fields
   * @param {number} fields.code gRPC status code (see `status` exported by this package)
   * @param {string} fields.details the server's human-readable message
   * @param {StatusDetail[]} [fields.statusDetails] every decoded google.rpc detail
   * @param {grpc.Metadata} [fields.trailers] the call's trailing metadata
   * @param {unknown} [fields.cause] the underlying gRPC error
   */
  constructor({ code, details, statusDetails = [], trailers = new grpc.Metadata(), cause }) {
    const info = find(statusDetails, "google.rpc.ErrorInfo");
    const codeName = grpc.status[code] ?? `CODE_${code}`;
    const reason = info ? /** @type {string} */ (info.reason) : null;
    super(`${codeName}${reason ? ` [${reason}]` : ""}: ${details}`, { cause });
    this.name = "SemsearchError";
    /** gRPC status code, e.g. `status.NOT_FOUND` (5). */
    this.code = code;
    /** Its name, e.g. "NOT_FOUND". */
    this.codeName = codeName;
    /** The server's message (for people; it may change between versions). */
    this.details = details;
    /** ErrorInfo.reason, e.g. "INDEX_NOT_FOUND"; null when gRPC itself failed the call. */
    this.reason = reason;
    /** ErrorInfo.domain ("semsearch.v1" for the server's own errors). */
    this.domain = info ? /** @type {string} */ (info.domain) : null;
    /** ErrorInfo.metadata: context such as `index`, `state`, `field` or `limit`. */
    this.metadata = info ? /** @type {Record<string, string>} */ (info.metadata) : {};
    /** RetryInfo.retry_delay in milliseconds: the earliest sensible retry; null when none was sent. */
    this.retryDelayMs = retryDelayMs(find(statusDetails, "google.rpc.RetryInfo"));
    /** BadRequest field violations (INVALID_ARGUMENT): which request field is wrong and why. */
    this.fieldViolations = fieldViolations(find(statusDetails, "google.rpc.BadRequest"));
    /** Every decoded google.rpc detail, including kinds this class has no shortcut for. */
    this.statusDetails = statusDetails;
    /** The trailing metadata of the failed call. */
    this.trailers = trailers;
  }

  /** Whether retrying (with backoff, from `retryDelayMs`) can help: only UNAVAILABLE. */
  get retryable() {
    return this.code === grpc.status.UNAVAILABLE;
  }
}

/**
 * Convert a grpc-js error into a SemsearchError, decoding `grpc-status-details-bin` when present.
 * @param {unknown} error
 * @returns {SemsearchError | unknown} anything that is not a gRPC status error is returned as is
 */
export function fromGrpcError(error) {
  if (!isServiceError(error)) {
    return error;
  }
  const trailers = error.metadata ?? new grpc.Metadata();
  const [bytes] = trailers.get(DETAILS_TRAILER);
  /** @type {StatusDetail[]} */
  let statusDetails = [];
  if (bytes instanceof Uint8Array) {
    try {
      statusDetails = decodeStatus(bytes).details;
    } catch {
      // Undecodable details must not hide the status itself: the code and message still stand.
    }
  }
  return new SemsearchError({ code: error.code, details: error.details, statusDetails, trailers, cause: error });
}

/**
 * @param {unknown} error
 * @returns {error is grpc.ServiceError}
 */
function isServiceError(error) {
  return error instanceof Error && typeof (/** @type {any} */ (error).code) === "number" && "details" in error;
}

/**
 * @param {StatusDetail[]} details
 * @param {string} type
 */
function find(details, type) {
  return details.find((detail) => detail.type === type);
}

/** @param {StatusDetail | undefined} retry */
function retryDelayMs(retry) {
  const delay = /** @type {{ seconds: number, nanos: number } | null | undefined} */ (retry?.retryDelay);
  return delay ? delay.seconds * 1000 + Math.round(delay.nanos / 1e6) : null;
}

/**
 * @param {StatusDetail | undefined} badRequest
 * @returns {{ field: string, description: string }[]}
 */
function fieldViolations(badRequest) {
  const violations = /** @type {{ field: string, description: string }[] | undefined} */ (
    badRequest?.fieldViolations
  );
  return (violations ?? []).map(({ field, description }) => ({ field, description }));
}
