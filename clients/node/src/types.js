// @ts-check
/**
 * The shapes the client returns and accepts (JSDoc only, for editors and `tsc --checkJs`).
 * Field meanings are documented on the messages in proto/semsearch/v1/.
 */

/** @typedef {"READY" | "PARKED" | "REBUILDING" | "UNSPECIFIED"} IndexState */

/**
 * A space is named by model, dimensions and the two digests (compare with `sameSpace`); the
 * vectors are filled only in what getEmbeddingSpace returns, and empty everywhere else.
 * @typedef {object} EmbeddingSpace
 * @property {string} model model name the provider echoed
 * @property {number} dimensions vector length
 * @property {string} fingerprintDigest 12 hex digits naming `fingerprint`; "" before the first probe
 * @property {string} queryFingerprintDigest 12 hex digits naming `queryFingerprint`
 * @property {number[]} fingerprint the provider's vector for a fixed probe text (getEmbeddingSpace only)
 * @property {number[]} queryFingerprint the same probe embedded as a query (getEmbeddingSpace only)
 */

/**
 * @typedef {object} RebuildProgress
 * @property {number} chunksDone
 * @property {number} chunksTotal
 * @property {number} chunksCached
 * @property {number} chunksPerSecond provider's pace over the latest batches; 0 until measured
 * @property {number | null} secondsLeft estimate at that pace; null while unknown
 */

/**
 * @typedef {object} Index
 * @property {string} name
 * @property {string} kind "markdown", "eip", "spec" or "examples"
 * @property {IndexState} state
 * @property {EmbeddingSpace | null} space space of the serving vectors; null before the first build
 * @property {number} documentCount
 * @property {number} chunkCount
 * @property {number} generation builds swapped in since the server started
 * @property {Date | null} stateSince
 * @property {string} lastError empty when the last build succeeded
 * @property {RebuildProgress | null} progress set only while REBUILDING
 */

/**
 * @typedef {object} SearchHit
 * @property {string} index
 * @property {string} documentId
 * @property {string} chunkId
 * @property {string} title
 * @property {string} section
 * @property {string} snippet
 * @property {number} score what ranks the hit, per the result's mode: cosine similarity (DENSE),
 *   BM25 (LEXICAL) or relative score fusion, in [0, 1] (HYBRID)
 * @property {string} source
 * @property {Record<string, string>} metadata list values comma-joined
 * @property {number | null} denseScore cosine similarity of this chunk; null for words-only hits
 * @property {number} denseRank rank in the dense ranking; 0 when dense search did not rank it
 * @property {number | null} lexicalScore BM25 score; null when lexical search did not rank it
 * @property {number} lexicalRank rank in the lexical ranking; 0 when lexical search did not rank it
 * @property {boolean} pinned the query names its document, so it comes first
 */

/** @typedef {"DENSE" | "LEXICAL" | "HYBRID"} SearchMode */

/**
 * @typedef {object} UnavailableIndex
 * @property {string} index
 * @property {IndexState} state
 * @property {string} reason an ErrorInfo reason such as "INDEX_NOT_READY"
 * @property {string} message
 */

/**
 * @typedef {object} SearchResult
 * @property {SearchHit[]} hits best first
 * @property {EmbeddingSpace | null} querySpace the space the query was embedded (and every dense score
 *   computed) in; null when nothing was embedded
 * @property {UnavailableIndex[]} unavailableIndexes requested indexes that could not serve
 * @property {SearchMode} mode how the hits were ranked, so what their score means
 * @property {boolean} degraded some indexes answered with lexical results only
 * @property {UnavailableIndex[]} degradedIndexes those indexes, with why dense search was unavailable
 */

/**
 * @typedef {object} SearchParams
 * @property {string} query required; at most 2,048 characters
 * @property {string[]} [indexes] empty or absent: every index
 * @property {number} [topK] 0 or absent: 10; at most 100
 * @property {number} [minScore] leave hits scoring below this out; in [-1, 1]
 * @property {Record<string, string>} [filter] metadata field equals value
 * @property {boolean} [allChunks] every matching chunk instead of each document's best one
 * @property {SearchMode} [mode] absent: HYBRID
 * @property {boolean} [allowDegraded] an index that cannot serve dense search answers lexically
 */

/**
 * @typedef {object} EmbeddingSpaces
 * @property {EmbeddingSpace | null} providerSpace the provider's space at the last probe
 * @property {EmbeddingSpace | null} builtSpace the space every READY index was built in
 * @property {Date | null} probedAt
 */

/**
 * @typedef {object} IndexEvent
 * @property {string} index
 * @property {IndexState} previousState
 * @property {IndexState} state
 * @property {string} reason
 * @property {Date | null} time
 * @property {Index} current the index after the change
 */

/**
 * One message of a watch. A snapshot replaces what you know; an event applies one change.
 * `sequence` counts from 1 within one subscription; `subscription` counts the subscriptions that
 * delivered something (it goes up when the client resubscribed after a disconnect). The first message
 * of a new subscription is a snapshot (events may have been missed: replace your view) or, when the
 * stream continued after the last message delivered, an event with `resumed` true (nothing was
 * missed: apply it). `logSequence` is the position in the service's event log (for a snapshot, of the
 * last event it reflects), the same on every replica; `resumeToken` continues after this message
 * (WatchOptions.resumeToken).
 * @typedef {{ type: "snapshot", sequence: number, subscription: number, logSequence: number,
 *     resumeToken: string, resumed: false, indexes: Index[] }
 *   | { type: "event", sequence: number, subscription: number, logSequence: number, resumeToken: string,
 *     resumed: boolean, event: IndexEvent }} WatchMessage
 */

/**
 * @typedef {object} CallOptions
 * @property {number} [timeoutMs] deadline of the call (default: 30 s for Search, 10 s for admin calls)
 * @property {AbortSignal} [signal] cancels the call
 */

/**
 * @typedef {object} WatchOptions
 * @property {string[]} [indexes] empty or absent: every index
 * @property {boolean} [resubscribe] reconnect after the server closed the stream or the connection
 *   dropped (default true); errors from the server itself (NOT_FOUND...) always end the watch
 * @property {number} [maxBackoffMs] longest wait between reconnection attempts (default 5,000)
 * @property {AbortSignal} [signal] ends the watch (the iterator throws the signal's reason)
 * @property {string} [resumeToken] a message's `resumeToken` kept from an earlier watch: the first
 *   subscription continues after that message (an event first, or a snapshot when the server no
 *   longer holds what came after it)
 */

/**
 * @typedef {object} RetryOptions
 * @property {number} [maxAttempts] attempts per unary call on UNAVAILABLE, first one included (2-5; default 3)
 * @property {number} [initialBackoffMs] wait before the first retry (default 200)
 * @property {number} [maxBackoffMs] longest wait between attempts (default 2,000)
 */

/**
 * @typedef {object} ClientOptions
 * @property {import("@grpc/grpc-js").ChannelCredentials} [credentials] default: plaintext, or TLS with
 *   `rootCertificates`
 * @property {Buffer} [rootCertificates] PEM certificates to trust: connect with TLS (ignored with `credentials`)
 * @property {string} [token] bearer token sent as `authorization: Bearer <token>` with every call, watches
 *   included (a server with a token needs it for Reindex and migrations, and for every call if it says so)
 * @property {RetryOptions | false} [retry] transparent retries of unary calls on UNAVAILABLE; false turns them off
 * @property {number} [keepaliveMs] ping a connection with calls open this often (default 360,000; a gRPC
 *   server refuses pings less than 5 minutes apart unless configured otherwise)
 * @property {import("@grpc/grpc-js").ChannelOptions} [channelOptions] raw gRPC channel options, applied last
 * @property {string} [protoDir] folder holding semsearch/v1/*.proto (default: the repository's proto/)
 * @property {boolean} [balance] round-robin over the replicas that report SERVING (default: when the
 *   target names several addresses); true for one target that resolves to several, e.g. dns:///name:port
 */

export {};
