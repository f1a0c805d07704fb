// @ts-check
/** Loads the service definitions from the repository's own .proto files at run time. */

import { fileURLToPath } from "node:url";

import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

/** `proto/` at the root of the repository this client lives in (clients/node/src -> ../../../proto). */
export const DEFAULT_PROTO_DIR = fileURLToPath(new URL("../../../proto/", import.meta.url));

/** The files that declare the two services; their imports (types.proto, Timestamp) follow. */
const SERVICE_FILES = ["semsearch/v1/search.proto", "semsearch/v1/admin.proto"];

// camelCase fields (topK, documentId) as JS expects; enums as their names so states read as text;
// int64 counters as numbers (they stay far below 2^53); oneofs tell which payload a message has.
const LOADER_OPTIONS = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

/**
 * @typedef {object} Services
 * @property {grpc.ServiceClientConstructor} SearchService
 * @property {grpc.ServiceClientConstructor} AdminService
 */

/** @type {Map<string, Services>} */
const loaded = new Map();

/**
 * The SearchService and AdminService client constructors, parsed once per proto directory.
 * @param {string} [protoDir] folder holding `semsearch/v1/*.proto`
 * @returns {Services}
 */
export function loadServices(protoDir = DEFAULT_PROTO_DIR) {
  let services = loaded.get(protoDir);
  if (!services) {
    const definition = protoLoader.loadSync(SERVICE_FILES, { ...LOADER_OPTIONS, includeDirs: [protoDir] });
    const v1 = /** @type {grpc.GrpcObject} */ (
      /** @type {grpc.GrpcObject} */ (grpc.loadPackageDefinition(definition).semsearch).v1
    );
    services = {
      SearchService: /** @type {grpc.ServiceClientConstructor} */ (v1.SearchService),
      AdminService: /** @type {grpc.ServiceClientConstructor} */ (v1.AdminService),
    };
    loaded.set(protoDir, services);
  }
  return services;
}
