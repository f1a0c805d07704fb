// @ts-check
/**
 * Several plain semsearch servers for the balancing tests: the repository's
 * `python -m tests.clients.replica_set N` (the Python beside SEMSEARCH_BIN), which starts the
 * provider and N servers over the fixture corpora, every index READY, and takes commands on stdin:
 * set a replica's health, report how many searches each one answered.
 */

import { spawn } from "node:child_process";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

import { SEMSEARCH_BIN } from "./harness.js";

const REPO = fileURLToPath(new URL("../../../", import.meta.url));
const START_TIMEOUT_MS = 60_000;
const LOG_TAIL_LINES = 100;

/**
 * @typedef {object} ReplicaSet
 * @property {string[]} addresses host:port of every replica
 * @property {(replica: number, status: "SERVING" | "NOT_SERVING") => Promise<void>} setHealth
 *   what the replica's health service reports for "" (the whole server)
 * @property {() => Promise<number[]>} counts searches each replica answered so far
 * @property {() => Promise<void>} stop
 */

/**
 * @param {number} count
 * @returns {Promise<ReplicaSet>}
 */
export async function startReplicaSet(count) {
  const python = path.join(path.dirname(SEMSEARCH_BIN), "python");
  // SEMSEARCH_<SECTION>_<KEY> variables would override the servers' config.
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("SEMSEARCH_")));
  const child = spawn(python, ["-m", "tests.clients.replica_set", String(count)], {
    cwd: REPO,
    env,
    stdio: ["pipe", "pipe", "pipe"],
  });
  const killOnExit = () => child.kill("SIGKILL");
  process.on("exit", killOnExit);
  /** @type {string[]} */
  const stderr = [];
  createInterface({ input: child.stderr }).on("line", (line) => {
    stderr.push(line);
    if (stderr.length > LOG_TAIL_LINES) stderr.shift();
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();

  /** @param {number} timeoutMs */
  async function nextLine(timeoutMs) {
    const timer = AbortSignal.timeout(timeoutMs);
    const timedOut = new Promise((_, reject) =>
      timer.addEventListener("abort", () => reject(new Error(`replica set: no answer\n${stderr.join("\n")}`))),
    );
    const ended = exited.then(() => {
      throw new Error(`replica set exited (code ${child.exitCode})\n${stderr.join("\n")}`);
    });
    for (const loser of [timedOut, ended]) loser.catch(() => {}); // settles after the race: not unhandled
    const next = await Promise.race([lines.next(), timedOut, ended]);
    return JSON.parse(/** @type {IteratorResult<string>} */ (next).value);
  }

  /** @param {object} command */
  async function ask(command) {
    child.stdin.write(`${JSON.stringify(command)}\n`);
    return nextLine(10_000);
  }

  try {
    const { replicas } = await nextLine(START_TIMEOUT_MS);
    return {
      addresses: replicas,
      async setHealth(replica, status) {
        await ask({ health: [replica, status] });
      },
      async counts() {
        return (await ask({ counts: true })).counts;
      },
      async stop() {
        child.stdin.end(); // the helper stops everything when its stdin closes
        const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
        await exited;
        clearTimeout(timer);
        process.off("exit", killOnExit);
      },
    };
  } catch (error) {
    child.kill("SIGKILL");
    throw error;
  }
}
