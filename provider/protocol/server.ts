/**
 * The plugin process as go-plugin's server runs it: checks the handshake environment, listens
 * on a unix socket in a fresh temporary directory (or loopback TCP), makes its AutoMTLS
 * certificate, serves gRPC health ("plugin" is SERVING), the controller's Shutdown, the stdio
 * and broker streams and the tfplugin6.Provider service, and prints the one handshake line.
 * Nothing but that line ever reaches stdout; logs go to stderr.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import {
  NOT_A_PLUGIN_MESSAGE,
  Transport,
  formatHandshakeLine,
  hasMagicCookie,
  negotiateProtocolVersion,
  transportFromEnv,
} from "./handshake";
import { Logger, createLogger } from "./log";
import { makeCertificate } from "./mtls";
import { loadProtocol } from "./proto";

/** What servePlugin needs: the Provider service handlers and hooks for stopping. */
export interface PluginOptions {
  /** grpc-js handlers for tfplugin6.Provider, keyed by method name. */
  provider: grpc.UntypedServiceImplementation;
  /** Called once when the process is about to exit, to abort running work. */
  onShutdown?: () => void;
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
}

/** A running plugin server. */
export interface PluginHandle {
  network: "unix" | "tcp";
  address: string;
  /** Stops serving, removes the socket and ends the process with the given code. */
  shutdown(code?: number): void;
}

function fail(message: string): never {
  fs.writeSync(2, message);
  process.exit(1);
}

function bind(server: grpc.Server, target: string, creds: grpc.ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => server.bindAsync(target, creds, (err, port) => (err ? reject(err) : resolve(port))));
}

async function listen(server: grpc.Server, transport: Transport, creds: grpc.ServerCredentials): Promise<{ address: string; cleanup: () => void }> {
  if (transport.network === "unix") {
    const dir = fs.mkdtempSync(path.join(transport.parentDir ?? os.tmpdir(), "clonefleet-plugin-"));
    const socket = path.join(dir, "plugin.sock");
    await bind(server, `unix:${socket}`, creds);
    return { address: socket, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
  }
  const { minPort, maxPort } = transport;
  for (let port = minPort; port <= maxPort; port++) {
    try {
      const bound = await bind(server, `127.0.0.1:${port}`, creds);
      return { address: `127.0.0.1:${bound}`, cleanup: () => undefined };
    } catch {
      // Taken: go-plugin moves on to the next port in the range.
    }
  }
  throw new Error(`cannot bind a loopback TCP port in ${minPort}..${maxPort}`);
}

/** Keeps stdout for the handshake alone: anything written later goes to stderr instead. */
function divertStdout(): void {
  const toStderr = ((chunk: unknown, encoding?: unknown, cb?: unknown) =>
    (process.stderr.write as (...args: unknown[]) => boolean)(chunk, encoding, cb)) as typeof process.stdout.write;
  process.stdout.write = toStderr;
}

/**
 * Runs this process as a Terraform provider plugin. Exits with status 1 and a message on
 * stderr when not started by Terraform; resolves once the handshake line is printed.
 */
export async function servePlugin(opts: PluginOptions): Promise<PluginHandle> {
  const env = opts.env ?? process.env;
  const log = opts.logger ?? createLogger("provider.plugin");
  if (!hasMagicCookie(env)) fail(NOT_A_PLUGIN_MESSAGE);
  const negotiation = negotiateProtocolVersion(env);
  if (!negotiation.ok) fail(negotiation.message);
  let transport: Transport;
  try {
    transport = transportFromEnv(env);
  } catch (e) {
    return fail(`${(e as Error).message}\n`);
  }

  const proto = loadProtocol();
  const server = new grpc.Server();
  const streams = new Set<grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>>();
  // Assigned once listening; the controller's Shutdown handler reaches it through this holder.
  const holder: { handle?: PluginHandle } = {};

  server.addService(proto.health.service, {
    Check: (call: grpc.ServerUnaryCall<{ service: string }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      const svc = call.request.service;
      if (svc === "" || svc === "plugin") cb(null, { status: "SERVING" });
      else cb({ code: grpc.status.NOT_FOUND, details: `unknown service ${svc}` });
    },
    Watch: (call: grpc.ServerWritableStream<{ service: string }, unknown>) => {
      streams.add(call);
      call.on("cancelled", () => streams.delete(call));
      const svc = call.request.service;
      call.write({ status: svc === "" || svc === "plugin" ? "SERVING" : "SERVICE_UNKNOWN" });
    },
  });
  server.addService(proto.controller.service, {
    Shutdown: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      log.debug("shutdown requested by the plugin client");
      cb(null, {});
      setImmediate(() => holder.handle?.shutdown(0));
    },
  });
  server.addService(proto.stdio.service, {
    // Our output goes straight to stderr, which Terraform reads; the stream stays open and empty.
    StreamStdio: (call: grpc.ServerWritableStream<unknown, unknown>) => {
      streams.add(call);
      call.on("cancelled", () => streams.delete(call));
    },
  });
  server.addService(proto.broker.service, {
    // Providers need no extra brokered connections; accept the stream and ignore its messages.
    StartStream: (call: grpc.ServerDuplexStream<unknown, unknown>) => {
      streams.add(call);
      call.on("data", () => undefined);
      call.on("end", () => {
        streams.delete(call);
        call.end();
      });
      call.on("cancelled", () => streams.delete(call));
    },
  });
  server.addService(proto.provider.service, opts.provider);

  let creds = grpc.ServerCredentials.createInsecure();
  let serverCertDer: Buffer | undefined;
  const clientCert = env.PLUGIN_CLIENT_CERT;
  if (clientCert) {
    log.info("configuring server automatic mTLS");
    const cert = makeCertificate();
    serverCertDer = cert.certDer;
    creds = grpc.ServerCredentials.createSsl(Buffer.from(clientCert), [{ cert_chain: Buffer.from(cert.certPem), private_key: Buffer.from(cert.keyPem) }], true);
  }

  let bound: { address: string; cleanup: () => void };
  try {
    bound = await listen(server, transport, creds);
  } catch (e) {
    return fail(`plugin init error: ${(e as Error).message}\n`);
  }

  let stopping = false;
  const handle: PluginHandle = {
    network: transport.network,
    address: bound.address,
    shutdown(code = 0) {
      if (stopping) return;
      stopping = true;
      opts.onShutdown?.();
      for (const s of streams) s.end();
      const finish = () => {
        bound.cleanup();
        process.exit(code);
      };
      // In-flight calls get a moment to finish; then the connections are cut, as go-plugin's Stop does.
      const force = setTimeout(() => {
        server.forceShutdown();
        finish();
      }, 500);
      server.tryShutdown(() => {
        clearTimeout(force);
        finish();
      });
    },
  };

  holder.handle = handle;
  // Ctrl-C reaches the whole process group; like go-plugin we ignore it and let Terraform ask for
  // a graceful stop (StopProvider) so that a running create is not cut off. The handlers go in
  // before the handshake line: a client may signal as soon as it has read it.
  process.on("SIGINT", () => log.trace("plugin received interrupt signal, ignoring"));
  process.on("SIGTERM", () => handle.shutdown(0));

  log.debug("plugin address", { network: transport.network, address: bound.address });
  fs.writeSync(1, formatHandshakeLine({ network: transport.network, address: bound.address, protocolVersion: negotiation.version, serverCertDer }));
  divertStdout();
  return handle;
}
