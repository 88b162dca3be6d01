/**
 * The network of a cluster on one machine: one network namespace per host, each linked by a
 * veth pair to a bridge in the root namespace, addresses from the benchmarking range
 * 198.18.0.0/15 that never leave the machine. Needs root and `ip` (iproute2).
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";

/** One host's end of the network. */
export interface HostNetwork {
  /** The namespace its engine (and its QEMU processes) run in. */
  netns: string;
  /** Its address on the bridge. */
  address: string;
  /** The root namespace's end of its veth pair: down cuts the host off. */
  veth: string;
}

/** The bridge, the gateway address on it (the root namespace: PostgreSQL listens there) and the hosts. */
export interface ClusterNetwork {
  bridge: string;
  gateway: string;
  hosts: HostNetwork[];
  /** Sets a host's link down (cut off from everyone) or up again. */
  setLink(index: number, up: boolean): void;
  /** Removes the namespaces and the bridge (processes still inside keep theirs alive: stop them first). */
  remove(): void;
}

function ip(...args: string[]): void {
  execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
}

/** Why a cluster network cannot be made here, or null when it can (root, `ip` present). */
export function clusterNetworkProblem(): string | null {
  if (process.getuid?.() !== 0) return "a namespace cluster needs root (network namespaces and a bridge)";
  try {
    execFileSync("ip", ["-V"], { stdio: "ignore" });
  } catch {
    return "a namespace cluster needs `ip` (Debian's iproute2)";
  }
  return null;
}

/**
 * Makes the bridge and `count` namespaces. Names carry a random tag so that two clusters (two
 * test runs) never collide; the /24 inside 198.18.0.0/15 comes from the tag too.
 */
export function createClusterNetwork(count: number): ClusterNetwork {
  const problem = clusterNetworkProblem();
  if (problem) throw new Error(problem);
  if (!Number.isInteger(count) || count < 1 || count > 200) throw new Error(`a cluster has 1 to 200 hosts (got ${count})`);
  const tag = randomBytes(2).toString("hex");
  const subnet = `198.18.${(parseInt(tag, 16) % 254) + 1}`;
  const bridge = `cf${tag}br`;
  const hosts: HostNetwork[] = Array.from({ length: count }, (_, i) => ({ netns: `cf${tag}h${i + 1}`, address: `${subnet}.${i + 11}`, veth: `cf${tag}v${i + 1}` }));
  const network: ClusterNetwork = {
    bridge,
    gateway: `${subnet}.1`,
    hosts,
    setLink(index, up) {
      ip("link", "set", hosts[index].veth, up ? "up" : "down");
    },
    remove() {
      for (const h of hosts) {
        try {
          ip("netns", "del", h.netns);
        } catch {
          // never made, or gone already
        }
      }
      try {
        ip("link", "del", bridge);
      } catch {
        // never made, or gone already
      }
    },
  };
  try {
    ip("link", "add", bridge, "type", "bridge");
    ip("addr", "add", `${network.gateway}/24`, "dev", bridge);
    ip("link", "set", bridge, "up");
    for (const h of hosts) {
      ip("netns", "add", h.netns);
      ip("link", "add", h.veth, "type", "veth", "peer", "name", "eth0", "netns", h.netns);
      ip("link", "set", h.veth, "master", bridge, "up");
      ip("-n", h.netns, "addr", "add", `${h.address}/24`, "dev", "eth0");
      ip("-n", h.netns, "link", "set", "eth0", "up");
      ip("-n", h.netns, "link", "set", "lo", "up");
    }
  } catch (err) {
    network.remove();
    throw new Error(`making the cluster network failed: ${String((err as { stderr?: Buffer }).stderr ?? err)}`);
  }
  return network;
}
