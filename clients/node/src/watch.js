// @ts-check
/** WatchIndexes as an async iterator that resubscribes after a disconnect. */

import { setTimeout as sleep } from "node:timers/promises";

import * as grpc from "@grpc/grpc-js";

import { toWatchMessage } from "./convert.js";
import { fromGrpcError, SemsearchError } from "./errors.js";

/** @typedef {import("./types.js").WatchOptions} WatchOptions */
/** @typedef {import("./types.js").WatchMessage} WatchMessage */
/** @typedef {import("@grpc/grpc-js").ClientReadableStream<Record<string, any>>} WatchCall */
/** @typedef {(request: { indexes: string[], resumeToken: string }) => WatchCall} OpenStream */

const FIRST_BACKOFF_MS = 100;
const DEFAULT_MAX_BACKOFF_MS = 5_000;

/**
 * Follow index state. A stream starts with a snapshot. A stream that ends (the server closed it) or
 * fails with UNAVAILABLE (connection dropped, server shutting down) or is cancelled by the server
 * (gRPC cancels the calls that reach a server while it stops) is reopened with jittered
 * exponential backoff, never sooner than the server's RetryInfo asks, after the last message it
 * delivered: where the server still holds the events after it (the same server, or any replica of a
 * deployment sharing one database) the new stream continues with them, first message `resumed`, no
 * gap and no duplicate; otherwise (a restarted single server) it starts with a fresh snapshot. Any
 * other error (e.g. NOT_FOUND for an unknown index) ends the watch by throwing a SemsearchError.
 *
 * @param {OpenStream} open starts one WatchIndexes call
 * @param {WatchOptions} options
 * @param {AbortSignal} closed aborted when the client is closed: the watch then just ends
 * @returns {AsyncGenerator<WatchMessage, void, undefined>}
 */
export async function* watchIndexes(open, options, closed) {
  const stop = options.signal ? AbortSignal.any([options.signal, closed]) : closed;
  const resubscribe = options.resubscribe ?? true;
  const maxBackoffMs = options.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS;
  let failures = 0;
  let subscription = 0; // streams that delivered something; failed attempts to reconnect do not count
  let resumeToken = options.resumeToken ?? ""; // the last message's: the next stream continues after it
  for (;;) {
    stopIfAborted(options.signal);
    if (closed.aborted) {
      return;
    }
    const resuming = resumeToken !== "";
    const call = open({ indexes: options.indexes ?? [], resumeToken });
    const cancel = () => call.cancel();
    stop.addEventListener("abort", cancel, { once: true });
    /** @type {unknown} */
    let failure = null;
    try {
      let first = true;
      for await (const message of call) {
        const resumed = first && resuming && message.payload === "event";
        if (first) {
          first = false;
          failures = 0;
          subscription++;
        }
        resumeToken = message.resumeToken || resumeToken;
        yield toWatchMessage(message, subscription, resumed);
      }
    } catch (error) {
      failure = error;
    } finally {
      stop.removeEventListener("abort", cancel);
      call.cancel(); // ends the call when the consumer stopped early; a no-op once it has ended
    }
    stopIfAborted(options.signal);
    if (closed.aborted) {
      return;
    }
    let delayMs = backoffMs(failures++, maxBackoffMs);
    if (failure !== null) {
      const error = fromGrpcError(failure);
      // This client cancelled nothing (checked above), so a CANCELLED stream was cancelled by the
      // server: gRPC cancels the calls that reach it while it shuts down.
      const cancelledByServer = error instanceof SemsearchError && error.code === grpc.status.CANCELLED;
      if (!resubscribe || !(error instanceof SemsearchError) || !(error.retryable || cancelledByServer)) {
        throw error;
      }
      delayMs = Math.max(delayMs, error.retryDelayMs ?? 0); // a server going away says when to come back
    } else if (!resubscribe) {
      return;
    }
    try {
      await sleep(delayMs, undefined, { signal: stop });
    } catch {
      stopIfAborted(options.signal);
      return; // the client was closed while waiting
    }
  }
}

/** @param {AbortSignal | undefined} signal */
function stopIfAborted(signal) {
  if (signal?.aborted) {
    throw signal.reason;
  }
}

/**
 * Exponential, capped, with jitter so that many watchers of one restarted server do not reconnect in step.
 * @param {number} failures consecutive reconnections without a message
 * @param {number} maxMs
 */
function backoffMs(failures, maxMs) {
  const ceiling = Math.min(maxMs, FIRST_BACKOFF_MS * 2 ** failures);
  return ceiling / 2 + (Math.random() * ceiling) / 2;
}
