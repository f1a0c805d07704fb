// @ts-check
/**
 * A real stack for the tests: `semsearch proxy` serving a deterministic hash model and `semsearch serve`
 * over the repository's fixture corpora, both child processes, always stopped again.
 *
 * SEMSEARCH_BIN names the `semsearch` executable (default: the repository's .venv/bin/semsearch).
 */

import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

import { createClient, SemsearchError } from "../src/index.js";

const REPO = fileURLToPath(new URL("../../../", import.meta.url));
const FIXTURE_CORPORA = path.join(REPO, "tests", "fixtures", "corpora");
export const SEMSEARCH_BIN = process.env.SEMSEARCH_BIN ?? path.join(REPO, ".venv", "bin", "semsearch");

/** The fixture indexes, in configuration order (as tests/support/corpora.py declares them). */
export const FIXTURE_INDEXES = [
  { name: "runbooks", kind: "markdown", path: "markdown" },
  { name: "eips", kind: "eip", path: "eip" },
  { name: "specs", kind: "spec", path: "spec" },
  { name: "examples", kind: "examples", path: "examples" },
];

const START_TIMEOUT_MS = 30_000;
const SERVER_TOKEN_ENV = "NODE_TEST_SERVER_TOKEN"; // not SEMSEARCH_*: those are filtered out of the children's env
const STOP_GRACE_MS = 10_000;
const LOG_TAIL_LINES = 200;

/** Children still running and their config folders, cleaned up if this process ends without stopping them. */
const running = new Set();
/** @type {Set<string>} */
const folders = new Set();
function killAll() {
  for (const child of running) {
    child.kill("SIGKILL");
  }
  for (const folder of folders) {
    rmSync(folder, { recursive: true, force: true });
  }
}
process.on("exit", killAll);
for (const signal of /** @type {const} */ (["SIGTERM", "SIGHUP"])) {
  process.once(signal, () => {
    killAll();
    process.exit(128 + (signal === "SIGTERM" ? 15 : 1));
  });
}

/**
 * @typedef {object} Stack
 * @property {import("../src/index.js").SemsearchClient} client a client of the server, every index READY
 * @property {string} address the server's host:port
 * @property {Buffer | null} certificate the server's self-signed certificate (PEM) when it serves TLS
 * @property {string} proxyUrl the provider's base URL (http://127.0.0.1:PORT/v1)
 * @property {(model: string) => Promise<{ model: string }>} switchModel make the provider serve `model`
 * @property {() => Promise<void>} restartServer stop the server and start it again on the same address
 * @property {() => string} logs the last lines the children wrote to stderr
 * @property {() => Promise<void>} stop stop the client, the server and the provider
 */

/**
 * Start the provider (serving `model`) and a server over the fixture corpora; resolves once every
 * index is READY. Whatever fails on the way, everything started so far is stopped again.
 * With `tls` the server serves TLS with a certificate made for the test; with `token` it requires
 * that bearer token (for every call with `tokenForReads`); the stack's client has both.
 * @param {{ model?: string, tls?: boolean, token?: string, tokenForReads?: boolean }} [options]
 * @returns {Promise<Stack>}
 */
export async function startStack({ model = "hash-v1", tls = false, token, tokenForReads = false } = {}) {
  const dir = await mkdtemp(path.join(tmpdir(), "semsearch-node-"));
  folders.add(dir);
  /** @type {ReturnType<typeof startChild>[]} */
  const children = [];
  /** @type {import("../src/index.js").SemsearchClient | undefined} */
  let client;
  const logs = () => children.map((child) => child.stderr.join("\n")).join("\n");
  const stop = async () => {
    client?.close();
    for (const child of [...children].reverse()) {
      await child.stop();
    }
    await rm(dir, { recursive: true, force: true });
    folders.delete(dir);
  };
  try {
    const proxy = startChild("proxy", ["proxy", "--host", "127.0.0.1", "--port", "0", "--model", model]);
    children.push(proxy);
    const ready = await proxy.waitForLine((line) => {
      const message = parseJson(line);
      return message?.event === "proxy_ready" ? message : null;
    });
    const proxyUrl = /** @type {string} */ (ready.url);

    const config = path.join(dir, "semsearch.toml");
    const files = tls ? selfSigned(dir) : null;
    const security = [
      files ? `tls_cert = ${JSON.stringify(files.cert)}\ntls_key = ${JSON.stringify(files.key)}\n` : "",
      token ? `token_env = "${SERVER_TOKEN_ENV}"\nrequire_token_for_reads = ${tokenForReads}\n` : "",
    ].join("");
    await writeFile(config, configToml(proxyUrl, model) + (security ? `\n[security]\n${security}` : ""));
    const certificate = files ? await readFile(files.cert) : null;
    /** @type {Record<string, string>} */
    const serverEnv = token ? { [SERVER_TOKEN_ENV]: token } : {};
    /** @param {string} listen */
    const startServer = async (listen) => {
      const server = startChild("serve", ["serve", "--config", config, "--listen", listen], serverEnv);
      children.push(server);
      const address = await server.waitForLine((line) => line.match(/serving on (127\.0\.0\.1:\d+)/)?.[1] ?? null);
      return { server, address };
    };
    const started = await startServer("127.0.0.1:0");
    const address = started.address;
    let server = started.server;

    client = createClient(address, { token, rootCertificates: certificate ?? undefined });
    await client.waitUntilReady({ signal: AbortSignal.timeout(START_TIMEOUT_MS) });
    const adminUrl = proxyUrl.replace(/\/v1$/, "/admin/model");
    return {
      client,
      address,
      certificate,
      proxyUrl,
      logs,
      stop,
      async restartServer() {
        await server.stop();
        ({ server } = await startServer(address));
      },
      async switchModel(name) {
        const response = await fetch(adminUrl, { method: "POST", body: JSON.stringify({ model: name }) });
        if (!response.ok) {
          throw new Error(`provider refused to switch to ${name}: ${response.status} ${await response.text()}`);
        }
        return /** @type {Promise<{ model: string }>} */ (response.json());
      },
    };
  } catch (error) {
    const tail = logs();
    await stop();
    throw new Error(`could not start the stack: ${error}\n--- child stderr ---\n${tail}`, { cause: error });
  }
}

/**
 * The JSON object on `line`, or null: the proxy's ready line is the only JSON it prints.
 * @param {string} line
 * @returns {Record<string, any> | null}
 */
function parseJson(line) {
  try {
    const value = JSON.parse(line);
    return typeof value === "object" ? value : null;
  } catch {
    return null;
  }
}

/**
 * The server config: the fixture corpora, the given provider, no durable cache (every build embeds,
 * nothing is left behind), and a watcher that never polls on its own but retries failures quickly.
 * @param {string} url
 * @param {string} model
 */
function configToml(url, model) {
  // JSON strings are valid TOML basic strings for these values (paths, URLs, names).
  const s = JSON.stringify;
  const indexes = FIXTURE_INDEXES.map(
    (ix) => `[[index]]\nname = ${s(ix.name)}\nkind = ${s(ix.kind)}\npath = ${s(path.join(FIXTURE_CORPORA, ix.path))}\n`,
  );
  return [
    `[server]\nlisten = "127.0.0.1:0"\ngrace_seconds = 1.0\n`,
    `[embeddings]\nurl = ${s(url)}\nmodel = ${s(model)}\nbatch_size = 8\n`,
    `[watcher]\ninterval_seconds = 600.0\nbackoff_base_seconds = 0.05\nbackoff_cap_seconds = 0.2\n`,
    `[cache]\npath = ""\n`,
    ...indexes,
  ].join("\n");
}

/**
 * A self-signed certificate for localhost and 127.0.0.1 in `dir`, made by the repository's test support
 * (Python's `cryptography`, installed in the venv beside SEMSEARCH_BIN).
 * @param {string} dir
 * @returns {{ cert: string, key: string }}
 */
function selfSigned(dir) {
  const python = path.join(path.dirname(SEMSEARCH_BIN), "python");
  const made = execFileSync(python, ["-m", "tests.support.tls", path.join(dir, "tls")], { cwd: REPO });
  return JSON.parse(made.toString());
}

/**
 * Spawn `semsearch <args>`; its stdout is read line by line (and drained), its stderr kept as a tail.
 * @param {string} label
 * @param {string[]} args
 * @param {Record<string, string>} [extraEnv]
 */
function startChild(label, args, extraEnv = {}) {
  // SEMSEARCH_<SECTION>_<KEY> variables would override the config written for the test.
  const inherited = Object.entries(process.env).filter(([key]) => !key.startsWith("SEMSEARCH_"));
  const env = { ...Object.fromEntries(inherited), ...extraEnv };
  const child = spawn(SEMSEARCH_BIN, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  running.add(child);
  /** @type {Error | null} */
  let spawnError = null;
  // A child that could not be spawned (no such file) reports "error" and never "exit".
  const exited = new Promise((resolve) => {
    child.once("exit", resolve);
    child.once("error", (error) => {
      spawnError = error;
      resolve(undefined);
    });
  }).then(() => running.delete(child));
  /** @type {string[]} */
  const stderr = [];
  createInterface({ input: child.stderr }).on("line", (line) => {
    stderr.push(`[${label}] ${line}`);
    if (stderr.length > LOG_TAIL_LINES) {
      stderr.shift();
    }
  });
  const stdout = createInterface({ input: child.stdout });

  return {
    stderr,

    /**
     * The first non-null `match(line)` of a stdout line; rejects if the child exits or is too slow.
     * @template T
     * @param {(line: string) => T | null} match
     * @returns {Promise<T>}
     */
    waitForLine(match) {
      return new Promise((resolve, reject) => {
        const slow = new Error(`${label}: no ready line after ${START_TIMEOUT_MS} ms`);
        const timer = setTimeout(() => done(slow), START_TIMEOUT_MS);
        /** @param {string} line */
        const onLine = (line) => {
          const found = match(line);
          if (found !== null) {
            done(null, found);
          }
        };
        /**
         * @param {Error | null} error
         * @param {T} [value]
         */
        function done(error, value) {
          clearTimeout(timer);
          stdout.off("line", onLine);
          if (error) {
            reject(error);
          } else {
            resolve(/** @type {T} */ (value));
          }
        }
        stdout.on("line", onLine);
        exited.then(() => done(spawnError ?? new Error(`${label} exited (code ${child.exitCode}) before ready`)));
        // Lines nobody waits for are read and dropped, so a full pipe never blocks the child.
        stdout.resume();
      });
    },

    /** SIGTERM, then SIGKILL after a grace period. */
    async stop() {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}

/**
 * The SemsearchError a call rejects with.
 * @param {Promise<unknown>} call
 * @returns {Promise<SemsearchError>}
 */
export async function refusal(call) {
  try {
    await call;
  } catch (error) {
    assert.ok(error instanceof SemsearchError, `expected a SemsearchError, got ${error}`);
    return error;
  }
  assert.fail("the call succeeded");
}
