/**
 * go-plugin's handshake as Terraform drives it. Terraform starts the provider with no
 * arguments and an environment carrying the magic cookie, the protocol versions it speaks,
 * a port range and (AutoMTLS) its client certificate; the provider answers with one line on
 * stdout: `CORE|APP|NETWORK|ADDRESS|grpc|CERT`, CERT being the server certificate's DER in
 * standard base64 without padding.
 */
import { decodeCertFromHandshake, encodeCertForHandshake } from "./mtls";

/** The environment variable carrying Terraform's magic cookie. */
export const MAGIC_COOKIE_KEY = "TF_PLUGIN_MAGIC_COOKIE";

/** The magic cookie value Terraform has always sent to providers. */
export const MAGIC_COOKIE_VALUE = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";

/** go-plugin's own protocol version (the first handshake field). */
export const CORE_PROTOCOL_VERSION = 1;

/** The Terraform plugin protocol major version this provider speaks. */
export const PLUGIN_PROTOCOL_VERSION = 6;

/** What a user sees on stderr when running the provider binary by hand. */
export const NOT_A_PLUGIN_MESSAGE =
  "This binary is a plugin to be run by Terraform (or OpenTofu); it is not meant to be executed directly.\n" +
  "Use it from a Terraform configuration instead: Terraform starts it and talks to it on its own.\n";

/** True when the environment carries Terraform's magic cookie. */
export function hasMagicCookie(env: NodeJS.ProcessEnv): boolean {
  return env[MAGIC_COOKIE_KEY] === MAGIC_COOKIE_VALUE;
}

/** The outcome of protocol version negotiation. */
export type Negotiation = { ok: true; version: number } | { ok: false; message: string };

/**
 * Picks the protocol version from PLUGIN_PROTOCOL_VERSIONS (comma-separated, as go-plugin's
 * client sends it): 6 when offered or when the variable is absent, otherwise a refusal.
 */
export function negotiateProtocolVersion(env: NodeJS.ProcessEnv): Negotiation {
  const raw = env.PLUGIN_PROTOCOL_VERSIONS;
  if (!raw) return { ok: true, version: PLUGIN_PROTOCOL_VERSION };
  const offered = raw
    .split(",")
    .map((s) => s.trim())
    .filter((s) => /^\d+$/.test(s))
    .map(Number);
  if (offered.includes(PLUGIN_PROTOCOL_VERSION)) return { ok: true, version: PLUGIN_PROTOCOL_VERSION };
  return {
    ok: false,
    message:
      `This provider speaks Terraform plugin protocol ${PLUGIN_PROTOCOL_VERSION} only, but the client offered ` +
      `protocol version(s) ${JSON.stringify(raw)}. Use Terraform 1.0 or later (or OpenTofu).\n`,
  };
}

/** Where the plugin listens. */
export type Transport = { network: "unix"; parentDir?: string } | { network: "tcp"; minPort: number; maxPort: number };

/**
 * Chooses the listener as go-plugin does: a unix socket (in PLUGIN_UNIX_SOCKET_DIR when set),
 * or loopback TCP within PLUGIN_MIN_PORT..PLUGIN_MAX_PORT on Windows or when
 * CLONEFLEET_PLUGIN_TRANSPORT=tcp asks for it; throws on a bad port range.
 */
export function transportFromEnv(env: NodeJS.ProcessEnv, platform: string = process.platform): Transport {
  if (platform === "win32" || env.CLONEFLEET_PLUGIN_TRANSPORT === "tcp") {
    const parse = (name: string) => {
      const v = env[name];
      if (!v) return 0;
      if (!/^\d+$/.test(v) || Number(v) > 65535) throw new Error(`${name} is not a port number: ${JSON.stringify(v)}`);
      return Number(v);
    };
    const minPort = parse("PLUGIN_MIN_PORT");
    const maxPort = parse("PLUGIN_MAX_PORT");
    if (minPort > maxPort) throw new Error(`PLUGIN_MIN_PORT (${minPort}) is greater than PLUGIN_MAX_PORT (${maxPort})`);
    return { network: "tcp", minPort, maxPort };
  }
  return { network: "unix", parentDir: env.PLUGIN_UNIX_SOCKET_DIR || undefined };
}

/** The handshake line's fields. */
export interface Handshake {
  coreVersion: number;
  protocolVersion: number;
  network: "unix" | "tcp";
  address: string;
  protocol: string;
  /** The server certificate's DER, absent when the plugin runs without TLS. */
  serverCertDer?: Buffer;
}

/** Formats the one handshake line (with its newline) the plugin prints on stdout. */
export function formatHandshakeLine(h: { network: "unix" | "tcp"; address: string; protocolVersion?: number; serverCertDer?: Buffer }): string {
  const cert = h.serverCertDer ? encodeCertForHandshake(h.serverCertDer) : "";
  return `${CORE_PROTOCOL_VERSION}|${h.protocolVersion ?? PLUGIN_PROTOCOL_VERSION}|${h.network}|${h.address}|grpc|${cert}\n`;
}

/** Parses a handshake line as go-plugin's client does; throws with the line when it is malformed. */
export function parseHandshakeLine(line: string): Handshake {
  const parts = line.trim().split("|");
  if (parts.length < 4) throw new Error(`unrecognized plugin handshake: ${JSON.stringify(line)}`);
  const [core, app, network, address, protocol = "netrpc", cert = ""] = parts;
  if (Number(core) !== CORE_PROTOCOL_VERSION) throw new Error(`unsupported core protocol version ${core}`);
  if (network !== "unix" && network !== "tcp") throw new Error(`unknown network ${network}`);
  return {
    coreVersion: Number(core),
    protocolVersion: Number(app),
    network,
    address,
    protocol,
    // go-plugin ignores a short last field, left over from older plugins.
    serverCertDer: cert.length > 50 ? decodeCertFromHandshake(cert) : undefined,
  };
}
