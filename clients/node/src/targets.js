// @ts-check
/**
 * Where the channel connects: one server, or several replicas balanced on the client.
 *
 * One address ("host:port", or any gRPC target such as "dns:///name:port") goes to gRPC as it is.
 * Several ("a:1,b:2", or an array) become one `ipv4:` (or `ipv6:`) target, which gRPC resolves to
 * every address at once; the channel then balances calls round-robin over the replicas that report
 * SERVING. Address lists take no host names: for a name that resolves to every replica, give
 * "dns:///name:port" with `balance: true`. The same rules as the Python client's.
 */

import { isIP } from "node:net";

/** Targets that already name a resolver: passed whole, never split at commas. */
const SCHEMES = ["dns:", "ipv4:", "ipv6:", "unix:", "unix-abstract:", "vsock:"];

/**
 * @typedef {object} ChannelTarget
 * @property {string} target what gRPC connects to
 * @property {boolean} several whether it names several servers
 * @property {string | null} authority the first address when it does: the name TLS checks
 */

/**
 * The gRPC target for one address, comma-separated addresses, or an array of them.
 * Throws a TypeError for an empty address, and for several that are not all IPv4 or all IPv6
 * literals with a port each.
 * @param {string | string[]} targets
 * @returns {ChannelTarget}
 */
export function channelTarget(targets) {
  const addresses = splitTargets(targets);
  if (addresses.length === 1) {
    const [only] = addresses;
    if ((only.startsWith("ipv4:") || only.startsWith("ipv6:")) && only.includes(",")) {
      return { target: only, several: true, authority: only.slice(5).split(",")[0] };
    }
    return { target: only, several: false, authority: null };
  }
  const literals = addresses.map(ipAddress);
  const families = new Set(literals.map((literal) => literal.family));
  if (families.size > 1) {
    throw new TypeError("several targets must be all IPv4 or all IPv6 addresses, not a mix");
  }
  const [family] = families;
  const joined = literals.map(({ host, port }) => (family === "ipv6" ? `[${host}]:${port}` : `${host}:${port}`));
  return { target: `${family}:${joined.join(",")}`, several: true, authority: addresses[0] };
}

/**
 * Every address in `targets`, in order; a target with a resolver scheme stays whole.
 * @param {string | string[]} targets
 * @returns {string[]}
 */
export function splitTargets(targets) {
  const given = typeof targets === "string" ? [targets] : [...targets];
  /** @type {string[]} */
  const addresses = [];
  for (const item of given) {
    if (typeof item !== "string") {
      throw new TypeError(`a target is a string, got ${typeof item}`);
    }
    const text = item.trim();
    const parts = SCHEMES.some((scheme) => text.startsWith(scheme)) ? [text] : text.split(",").map((p) => p.trim());
    if (parts.some((part) => part === "")) {
      throw new TypeError(`empty address in target ${JSON.stringify(item)}`);
    }
    addresses.push(...parts);
  }
  if (addresses.length === 0) {
    throw new TypeError("no target given");
  }
  if (addresses.length > 1 && addresses.some((a) => SCHEMES.some((scheme) => a.startsWith(scheme)))) {
    throw new TypeError("a target with a scheme (dns:, ipv4:, unix:...) cannot be combined with others");
  }
  return addresses;
}

/**
 * @param {string} address "1.2.3.4:port" or "[::1]:port"
 * @returns {{ family: "ipv4" | "ipv6", host: string, port: number }}
 */
function ipAddress(address) {
  let host;
  let port;
  if (address.startsWith("[")) {
    const end = address.indexOf("]:");
    if (end < 0) {
      throw new TypeError(`${JSON.stringify(address)}: write an IPv6 address as [address]:port`);
    }
    host = address.slice(1, end);
    port = address.slice(end + 2);
  } else {
    const colon = address.lastIndexOf(":");
    host = address.slice(0, Math.max(colon, 0));
    port = address.slice(colon + 1);
    if (colon < 0 || host.includes(":")) {
      throw new TypeError(
        `${JSON.stringify(address)}: several targets need host:port each ([address]:port for IPv6)`,
      );
    }
  }
  const version = isIP(host);
  if (version === 0) {
    throw new TypeError(
      `${JSON.stringify(address)}: several targets must be IP addresses (gRPC's address lists take no names); ` +
        "for a name that resolves to every replica, give one target dns:///NAME:PORT and balance: true",
    );
  }
  const number = /^\d+$/.test(port) ? Number(port) : NaN;
  if (!(number > 0 && number < 65536)) {
    throw new TypeError(`${JSON.stringify(address)}: the port must be a number from 1 to 65535`);
  }
  return { family: version === 6 ? "ipv6" : "ipv4", host, port: number };
}
