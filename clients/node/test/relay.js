// @ts-check
/** A TCP relay in front of a server that can cut every connection through it, as a network would. */

import net from "node:net";

/**
 * @typedef {object} Relay
 * @property {string} address host:port of the relay
 * @property {boolean} refusing while true, a new connection is reset as soon as it is accepted
 * @property {() => void} cut reset every connection through the relay at once
 * @property {() => Promise<void>} close
 */

/**
 * @param {string} upstream host:port of the server
 * @returns {Promise<Relay>}
 */
export async function startRelay(upstream) {
  const [host, port] = [upstream.slice(0, upstream.lastIndexOf(":")), Number(upstream.slice(upstream.lastIndexOf(":") + 1))];
  /** @type {Set<net.Socket>} */
  const sockets = new Set();
  const server = net.createServer((client) => {
    if (relay.refusing) {
      client.resetAndDestroy();
      return;
    }
    const server = net.connect(port, host);
    for (const socket of [client, server]) {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => {}); // a reset is what cut() is for
    }
    client.pipe(server).on("close", () => client.destroy());
    server.pipe(client).on("close", () => server.destroy());
    client.on("close", () => server.destroy());
    server.on("close", () => client.destroy());
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(undefined)));
  const address = /** @type {net.AddressInfo} */ (server.address());
  const relay = {
    address: `127.0.0.1:${address.port}`,
    refusing: false,
    cut() {
      for (const socket of sockets) {
        socket.resetAndDestroy();
      }
      sockets.clear();
    },
    async close() {
      relay.cut();
      await new Promise((resolve) => server.close(() => resolve(undefined)));
    },
  };
  return relay;
}
