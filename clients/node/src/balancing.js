// @ts-check
/**
 * Round-robin over the replicas that report SERVING: client-side health checking for grpc-js.
 *
 * grpc-js (unlike gRPC's C core, which the Python client uses) does not act on the service config's
 * `healthCheckConfig`. This load-balancing policy does what gRPC's client-side health checking
 * specifies (gRPC proposal A17): on every connection that is up it keeps a grpc.health.v1
 * Health/Watch stream open, on that same connection, and a replica counts for round-robin only while
 * its last answer is SERVING. A replica's first answer is awaited before it takes calls; while no
 * replica has answered yet, calls wait instead of failing. A server without a health service
 * (UNIMPLEMENTED) counts as healthy; any other failure of the stream counts as unhealthy until a new
 * stream, opened with backoff, says otherwise.
 */

import * as grpc from "@grpc/grpc-js";
import protobuf from "protobufjs";

const { experimental, connectivityState: ConnectivityState } = grpc;

/** The policy's name in a service config's loadBalancingConfig. */
export const HEALTH_ROUND_ROBIN = "semsearch_health_round_robin";

const WATCH_METHOD = "/grpc.health.v1.Health/Watch";
const SERVING = 1; // grpc.health.v1.HealthCheckResponse.ServingStatus
const FIRST_RETRY_MS = 200;
const MAX_RETRY_MS = 5_000;

/** @typedef {import("@grpc/grpc-js").experimental.SubchannelInterface} SubchannelInterface */
/** @typedef {import("@grpc/grpc-js").experimental.ChannelControlHelper} ChannelControlHelper */
/** @typedef {import("@grpc/grpc-js").experimental.Picker} Picker */
/** @typedef {import("@grpc/grpc-js").experimental.Endpoint} Endpoint */
/** @typedef {import("@grpc/grpc-js").experimental.TypedLoadBalancingConfig} TypedLoadBalancingConfig */
/** @typedef {import("@grpc/grpc-js").ChannelOptions} ChannelOptions */

/** @param {string} service */
function encodeRequest(service) {
  const writer = protobuf.Writer.create();
  if (service) {
    writer.uint32(10).string(service); // field 1, length-delimited
  }
  return Buffer.from(writer.finish());
}

/**
 * The serving status of a HealthCheckResponse (0, UNKNOWN, when absent).
 * @param {Buffer} bytes
 */
function decodeStatus(bytes) {
  const reader = protobuf.Reader.create(bytes);
  let status = 0;
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag === 8) {
      status = reader.int32(); // field 1, varint
    } else {
      reader.skipType(tag & 7);
    }
  }
  return status;
}

/** The policy's config: which health service name to watch ("" is the whole server). */
class HealthRoundRobinConfig {
  /** @param {string} serviceName */
  constructor(serviceName) {
    this.serviceName = serviceName;
  }

  getLoadBalancerName() {
    return HEALTH_ROUND_ROBIN;
  }

  toJsonObject() {
    return { [HEALTH_ROUND_ROBIN]: { serviceName: this.serviceName } };
  }

  /** @param {any} obj */
  static createFromJson(obj) {
    const name = obj?.serviceName ?? "";
    if (typeof name !== "string") {
      throw new Error(`${HEALTH_ROUND_ROBIN}: serviceName must be a string`);
    }
    return new HealthRoundRobinConfig(name);
  }
}

/** One connection, healthy only while its server's Health/Watch says SERVING. */
class HealthCheckedSubchannel extends experimental.BaseSubchannelWrapper {
  /**
   * @param {SubchannelInterface} child
   * @param {string} serviceName
   * @param {() => void} changed called after every change of what this connection reports
   * @param {(wrapper: HealthCheckedSubchannel) => void} released called when nothing uses it any more
   */
  constructor(child, serviceName, changed, released) {
    super(child);
    this.serviceName = serviceName;
    this.changed = changed;
    this.released = released;
    this.refs = 0;
    this.answered = false; // the current connection's server has said something about its health
    this.failures = 0;
    /** @type {grpc.ClientReadableStream<number> | null} */
    this.call = null;
    /** @type {grpc.Client | null} */
    this.client = null;
    /** @type {NodeJS.Timeout | null} */
    this.retry = null;
    this.setHealthy(false); // unknown until the server says SERVING
    /** @type {import("@grpc/grpc-js").experimental.ConnectivityStateListener} */
    this.onState = (_subchannel, _previous, state) => this.follow(state);
    child.addConnectivityStateListener(this.onState);
    this.follow(child.getConnectivityState());
  }

  /** Connected, but the server has not yet said whether it serves: calls should wait for it. */
  awaitingFirstAnswer() {
    return !this.answered && this.getConnectivityState() === ConnectivityState.READY;
  }

  ref() {
    super.ref();
    this.refs += 1;
  }

  unref() {
    super.unref();
    this.refs -= 1;
    if (this.refs <= 0) {
      this.stop();
      this.child.removeConnectivityStateListener(this.onState);
      this.client?.close();
      this.released(this);
    }
  }

  /** @param {grpc.connectivityState} state */
  follow(state) {
    if (state === ConnectivityState.READY) {
      if (this.call === null && this.retry === null) {
        this.watch();
      }
      return;
    }
    this.stop(); // a new connection starts over: unknown until its server answers
    this.answered = false;
    this.failures = 0;
    this.setHealthy(false);
    this.changed();
  }

  watch() {
    this.client ??= new grpc.Client("unused", grpc.credentials.createInsecure(), {
      channelOverride: /** @type {grpc.Channel} */ (/** @type {unknown} */ (this.child.getChannel())),
    });
    const call = this.client.makeServerStreamRequest(
      WATCH_METHOD,
      encodeRequest,
      decodeStatus,
      this.serviceName,
      new grpc.Metadata(),
      {},
    );
    this.call = call;
    call.on("data", (/** @type {number} */ status) => {
      this.answered = true;
      this.failures = 0;
      this.setHealthy(status === SERVING);
      this.changed();
    });
    call.on("status", (/** @type {grpc.StatusObject} */ status) => {
      if (this.call !== call) {
        return; // stopped on purpose
      }
      this.call = null;
      this.answered = true;
      // No health service at all: the server cannot say, so it is taken at its word that it serves.
      const unimplemented = status.code === grpc.status.UNIMPLEMENTED;
      this.setHealthy(unimplemented);
      this.changed();
      if (!unimplemented) {
        this.again();
      }
    });
    call.on("error", () => {}); // reported through "status"
  }

  again() {
    const delay = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** this.failures++);
    this.retry = setTimeout(() => {
      this.retry = null;
      if (this.child.getConnectivityState() === ConnectivityState.READY) {
        this.watch();
      }
    }, delay);
    this.retry.unref?.();
  }

  stop() {
    if (this.retry !== null) {
      clearTimeout(this.retry);
      this.retry = null;
    }
    const call = this.call;
    this.call = null;
    call?.cancel();
  }
}

/** round_robin over the subchannels whose health says SERVING. */
class HealthRoundRobin {
  /** @param {ChannelControlHelper} helper */
  constructor(helper) {
    this.helper = helper;
    this.serviceName = "";
    /** @type {Set<HealthCheckedSubchannel>} */
    this.subchannels = new Set();
    /** @type {{ state: grpc.connectivityState, picker: Picker, error: string | null } | null} */
    this.latest = null;
    this.roundRobin = experimental.parseLoadBalancingConfig({ round_robin: {} });
    this.child = new experimental.ChildLoadBalancerHandler(
      experimental.createChildChannelControlHelper(helper, {
        createSubchannel: (address, args) => {
          const wrapper = new HealthCheckedSubchannel(
            helper.createSubchannel(address, args),
            this.serviceName,
            () => this.report(),
            (released) => this.subchannels.delete(released),
          );
          this.subchannels.add(wrapper);
          return wrapper;
        },
        updateState: (state, picker, error) => {
          this.latest = { state, picker, error };
          this.report();
        },
      }),
    );
  }

  /** What round_robin reports, except that calls wait while a connected replica's health is unknown. */
  report() {
    if (this.latest === null) {
      return;
    }
    const { state, picker, error } = this.latest;
    const waiting = [...this.subchannels].some((subchannel) => subchannel.awaitingFirstAnswer());
    if (state === ConnectivityState.TRANSIENT_FAILURE && waiting) {
      this.helper.updateState(ConnectivityState.CONNECTING, new experimental.QueuePicker(this), null);
    } else {
      this.helper.updateState(state, picker, error);
    }
  }

  /**
   * @param {import("@grpc/grpc-js").experimental.StatusOr<Endpoint[]>} endpoints
   * @param {TypedLoadBalancingConfig} config
   * @param {ChannelOptions} options
   * @param {string} note
   */
  updateAddressList(endpoints, config, options, note) {
    if (!(config instanceof HealthRoundRobinConfig)) {
      return false;
    }
    this.serviceName = config.serviceName;
    return this.child.updateAddressList(endpoints, this.roundRobin, options, note);
  }

  exitIdle() {
    this.child.exitIdle();
  }

  resetBackoff() {
    this.child.resetBackoff();
  }

  destroy() {
    this.child.destroy();
  }

  getTypeName() {
    return HEALTH_ROUND_ROBIN;
  }
}

/** Make the policy known to grpc-js (once per process). */
export function registerHealthRoundRobin() {
  if (!experimental.isLoadBalancerNameRegistered(HEALTH_ROUND_ROBIN)) {
    experimental.registerLoadBalancerType(HEALTH_ROUND_ROBIN, HealthRoundRobin, HealthRoundRobinConfig);
  }
}
