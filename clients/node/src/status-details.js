// @ts-check
/**
 * Decodes the `grpc-status-details-bin` trailer: a google.rpc.Status whose `details` are Any-packed
 * google.rpc messages (ErrorInfo, RetryInfo, BadRequest...), parsed from the google/rpc protos.
 */

import { createRequire } from "node:module";
import path from "node:path";

import protobuf from "protobufjs";

const require = createRequire(import.meta.url);
const GOOGLE_PROTOS = path.dirname(require.resolve("google-proto-files/package.json"));

/** @type {protobuf.Root | undefined} */
let root;

function rpcRoot() {
  if (!root) {
    const loading = new protobuf.Root();
    // Every import in these files is rooted at the googleapis tree (google/protobuf/* come bundled).
    loading.resolvePath = (_origin, target) => path.join(GOOGLE_PROTOS, target);
    root = loading.loadSync(["google/rpc/status.proto", "google/rpc/error_details.proto"]);
  }
  return root;
}

/**
 * One decoded detail: `type` is the full message name (e.g. "google.rpc.ErrorInfo"), the other fields
 * are the message's own in camelCase; a type unknown here keeps its raw bytes in `value`.
 * @typedef {{ type: string, [field: string]: unknown }} StatusDetail
 */

/**
 * @typedef {object} RpcStatus
 * @property {number} code
 * @property {string} message
 * @property {StatusDetail[]} details
 */

/**
 * Decode a serialized google.rpc.Status.
 * @param {Uint8Array} bytes
 * @returns {RpcStatus}
 */
export function decodeStatus(bytes) {
  const types = rpcRoot();
  const Status = types.lookupType("google.rpc.Status");
  const status = /** @type {{ code: number, message: string, details: Any[] }} */ (
    Status.toObject(Status.decode(bytes), { defaults: true })
  );
  return { code: status.code, message: status.message, details: status.details.map(unpack) };
}

// protobufjs bundles google.protobuf.Any with its proto field names, so `type_url` keeps its underscore.
/** @typedef {{ type_url: string, value: Uint8Array }} Any */

/**
 * @param {Any} any
 * @returns {StatusDetail}
 */
function unpack(any) {
  const type = any.type_url.slice(any.type_url.lastIndexOf("/") + 1);
  const message = rpcRoot().lookup(type);
  if (!(message instanceof protobuf.Type)) {
    return { type, value: any.value };
  }
  return { type, ...message.toObject(message.decode(any.value), { longs: Number, defaults: true }) };
}
