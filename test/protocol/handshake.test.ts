import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import forge from "node-forge";
import { toPlain } from "../../provider/protocol/cty";
import { makeCertificate, CertificateBundle } from "../../provider/protocol/mtls";
import { FIXTURE_TOKEN } from "./fixtures/test-provider";
import { LaunchError, ProviderProcess, diagnosticField } from "./driver";
import { fixtureLaunch, requireBuiltFixture, tempStore } from "./fixture";

jest.setTimeout(60_000);

let tmp: ReturnType<typeof tempStore>;
beforeAll(() => {
  requireBuiltFixture();
  tmp = tempStore();
});
afterEach(() => ProviderProcess.stopAll());
afterAll(() => tmp.cleanup());

const providerConfig = () => ({ endpoint: tmp.store, token: FIXTURE_TOKEN });

/** An RSA client certificate made with node-forge: an implementation independent of ours. */
function forgeClientCert(): CertificateBundle {
  const { privateKey, publicKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: "spki", format: "pem" }).toString());
  cert.serialNumber = "01";
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 3600_000);
  const attrs = [{ name: "commonName", value: "localhost" }];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.setExtensions([
    { name: "basicConstraints", cA: true, critical: true },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true, keyCertSign: true, critical: true },
    { name: "extKeyUsage", serverAuth: true, clientAuth: true },
    { name: "subjectAltName", altNames: [{ type: 2, value: "localhost" }] },
  ]);
  const key = forge.pki.privateKeyFromPem(privateKey.export({ type: "pkcs1", format: "pem" }).toString());
  cert.sign(key, forge.md.sha256.create());
  const certPem = forge.pki.certificateToPem(cert);
  return { certPem, keyPem: forge.pki.privateKeyToPem(key), certDer: Buffer.from(forge.asn1.toDer(forge.pki.certificateToAsn1(cert)).getBytes(), "binary") };
}

describe("launch environment", () => {
  test.each([
    ["missing", null],
    ["wrong", "not-the-cookie"],
  ])("a %s magic cookie exits 1 with a message for humans and nothing on stdout", async (_what, cookie) => {
    const err = await ProviderProcess.launch(fixtureLaunch({ magicCookie: cookie })).catch((e) => e);
    expect(err).toBeInstanceOf(LaunchError);
    expect(err.exitCode).toBe(1);
    expect(err.stdout).toBe("");
    expect(err.stderr).toMatch(/plugin to be run by Terraform/);
  });

  test("protocol versions without 6 are refused with a message", async () => {
    const err = await ProviderProcess.launch(fixtureLaunch({ protocolVersions: "4,5" })).catch((e) => e);
    expect(err).toBeInstanceOf(LaunchError);
    expect(err.exitCode).toBe(1);
    expect(err.stdout).toBe("");
    expect(err.stderr).toMatch(/protocol 6/);
  });

  test.each([["6"], ["5,6"], ["6,5"], [null]])("protocol versions %j negotiate 6", async (versions) => {
    const p = await ProviderProcess.launch(fixtureLaunch({ protocolVersions: versions }));
    expect(p.handshake.protocolVersion).toBe(6);
  });
});

describe("handshake line", () => {
  test("is the only thing on stdout, in go-plugin's format, with the server certificate unpadded", async () => {
    const p = await ProviderProcess.launch(fixtureLaunch({ tfLog: "trace", env: { FIXTURE_NOISE: "1" } }));
    expect(p.handshake).toMatchObject({ coreVersion: 1, protocolVersion: 6, network: "unix", protocol: "grpc" });
    expect(fs.statSync(p.handshake.address).isSocket()).toBe(true);
    // Run calls that log and print, then shut down: stdout must still hold nothing but the handshake.
    expect(await p.configure(providerConfig())).toEqual([]);
    await p.getProviderSchema();
    await p.shutdown();
    expect(p.extraStdout).toBe("");
    expect(p.stderr).toContain("fixture noise on console.log");
    expect(p.stderr).toMatch(/"@level":"debug"/);
  });

  test("carries a fresh self-signed certificate for localhost, usable as CA and for server and client auth", async () => {
    const a = await ProviderProcess.launch(fixtureLaunch());
    const b = await ProviderProcess.launch(fixtureLaunch());
    const cert = new crypto.X509Certificate(a.handshake.serverCertDer!);
    expect(cert.subject).toMatch(/CN=localhost/);
    expect(cert.subjectAltName).toBe("DNS:localhost");
    expect(cert.ca).toBe(true);
    expect(cert.checkHost("localhost")).toBe("localhost");
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.keyUsage).toEqual(expect.arrayContaining(["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]));
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe("secp521r1");
    expect(a.handshake.serverCertDer!.equals(b.handshake.serverCertDer!)).toBe(false);
  });

  test("without PLUGIN_CLIENT_CERT the plugin serves without TLS and the certificate field is empty", async () => {
    const p = await ProviderProcess.launch(fixtureLaunch({ clientCert: null }));
    expect(p.handshake.serverCertDer).toBeUndefined();
    expect(await p.health()).toBe("SERVING");
  });

  test("loopback TCP within PLUGIN_MIN_PORT..PLUGIN_MAX_PORT when asked for", async () => {
    const p = await ProviderProcess.launch(fixtureLaunch({ env: { CLONEFLEET_PLUGIN_TRANSPORT: "tcp" }, minPort: 20000, maxPort: 20999 }));
    expect(p.handshake.network).toBe("tcp");
    const [host, port] = p.handshake.address.split(":");
    expect(host).toBe("127.0.0.1");
    expect(Number(port)).toBeGreaterThanOrEqual(20000);
    expect(Number(port)).toBeLessThanOrEqual(20999);
    expect(await p.health()).toBe("SERVING");
  });
});

describe("mTLS", () => {
  test("a client with the certificate Terraform passed is served", async () => {
    const p = await ProviderProcess.launch(fixtureLaunch());
    expect(await p.health()).toBe("SERVING");
  });

  test("a client certificate made by another implementation (node-forge, RSA) works too", async () => {
    const p = await ProviderProcess.launch(fixtureLaunch({ clientCert: forgeClientCert() }));
    expect(await p.health()).toBe("SERVING");
  });

  test.each([
    ["a different certificate", () => makeCertificate()],
    ["no certificate", () => null],
  ])("a client presenting %s is rejected", async (_what, cert) => {
    const p = await ProviderProcess.launch(fixtureLaunch());
    const { health } = p.connect(cert());
    const err = await ProviderProcess.call(health, "Check", { service: "plugin" }, 10_000).catch((e) => e);
    health.close();
    expect(err.code).toBe(grpc.status.UNAVAILABLE);
    expect(await p.health()).toBe("SERVING");
  });
});

describe("services", () => {
  test("health: plugin and the empty name are SERVING, others unknown", async () => {
    const p = await ProviderProcess.launch(fixtureLaunch());
    expect(await p.health("plugin")).toBe("SERVING");
    expect(await p.health("")).toBe("SERVING");
    await expect(p.health("other")).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
  });

  test("GetProviderSchema describes the provider, resources and data sources", async () => {
    const p = await ProviderProcess.launch(fixtureLaunch());
    const s = await p.getProviderSchema();
    expect(s.serverCapabilities).toMatchObject({ plan_destroy: true });
    expect(s.provider.block.attributes.token).toMatchObject({ type: "string", optional: true, sensitive: true });
    const thing = s.resources.clonefleet_thing;
    expect(thing.block.attributes.id).toMatchObject({ computed: true, optional: false, required: false });
    expect(thing.block.attributes.name).toMatchObject({ type: "string", required: true });
    expect(thing.block.attributes.tags.type).toEqual(["map", "string"]);
    expect(thing.block.attributes.mode).toMatchObject({ optional: true, computed: true });
    expect(thing.block.attributes.note.description).toMatch(/note/);
    expect(thing.block.blocks.timeouts.nesting).toBe("SINGLE");
    expect(Object.keys(thing.block.blocks.timeouts.block.attributes)).toEqual(["create", "delete", "update"]);
    expect(s.dataSources.clonefleet_thing_info.block.attributes.id.required).toBe(true);
  });

  test("newer RPCs answer validly", async () => {
    const p = await ProviderProcess.launch(fixtureLaunch());
    const meta = await p.call("GetMetadata");
    expect(meta.resources).toEqual([{ type_name: "clonefleet_thing" }]);
    expect(meta.data_sources).toEqual([{ type_name: "clonefleet_thing_info" }]);
    expect(await p.call("GetFunctions")).toMatchObject({ functions: {}, diagnostics: [] });
    expect(await p.call("GetResourceIdentitySchemas")).toMatchObject({ identity_schemas: {}, diagnostics: [] });
    const call = await p.call<{ error: { text: string } }>("CallFunction", { name: "nope", arguments: [] });
    expect(call.error.text).toMatch(/no function "nope"/);
    const move = await p.call<{ diagnostics: { severity: string }[] }>("MoveResourceState", { source_type_name: "x", target_type_name: "clonefleet_thing" });
    expect(move.diagnostics[0].severity).toBe("ERROR");
    const eph = await p.call<{ diagnostics: { severity: string }[] }>("ValidateEphemeralResourceConfig", { type_name: "clonefleet_x" });
    expect(eph.diagnostics[0].severity).toBe("ERROR");
  });

  test("UpgradeResourceState reads JSON state, ignoring attributes the schema no longer has", async () => {
    const p = await ProviderProcess.launch(fixtureLaunch());
    const json = '{"id":"thing-9","name":"n","size":12345678901234567890,"retired_attribute":true,"timeouts":null}';
    const up = await p.upgradeResourceState("clonefleet_thing", 0, json);
    expect(up.diagnostics).toEqual([]);
    expect(up.state.getAttr("size").asNumber()).toBe("12345678901234567890");
    expect(toPlain(up.state)).toMatchObject({ id: "thing-9", name: "n", tags: null, timeouts: null });
    const newer = await p.upgradeResourceState("clonefleet_thing", 7, json);
    expect(newer.diagnostics[0].summary).toBe("Cannot upgrade state");
  });
});

describe("diagnostics", () => {
  test("validation errors carry attribute paths", async () => {
    const p = await ProviderProcess.launch(fixtureLaunch());
    const diags = await p.validateResourceConfig("clonefleet_thing", {
      name: "a",
      size: -1,
      datastore_ids: ["ds-1", ""],
      mode: "turbo",
      timeouts: { create: "soon" },
    });
    expect(diags.map((d) => [d.summary, diagnosticField(d)])).toEqual(
      expect.arrayContaining([
        ["Invalid size", "size"],
        ["Invalid datastore id", "datastore_ids[1]"],
        ["Invalid mode", "mode"],
        ["Invalid duration", "timeouts.create"],
      ]),
    );
    expect(diags.every((d) => d.severity === "error")).toBe(true);
  });

  test("a wrong token is a configuration error on the token attribute, and never logged", async () => {
    const p = await ProviderProcess.launch(fixtureLaunch({ tfLog: "trace" }));
    const diags = await p.configure({ endpoint: tmp.store, token: "wrong-token-value" });
    expect(diags).toEqual([expect.objectContaining({ severity: "error", summary: "Invalid token", path: [{ attribute: "token" }] })]);
    expect(await p.configure(providerConfig())).toEqual([]);
    await p.shutdown();
    expect(p.stderr).not.toContain("wrong-token-value");
    expect(p.stderr).not.toContain(FIXTURE_TOKEN);
  });

  test("an engine error with a field becomes an error with that attribute path", async () => {
    const p = await ProviderProcess.launch(fixtureLaunch());
    expect(await p.configure(providerConfig())).toEqual([]);
    const s = (await p.getProviderSchema()).resources.clonefleet_thing;
    const config = { name: "e", datastore_ids: ["ds-1", "missing-2"] };
    const plan = await p.planResourceChange("clonefleet_thing", null, config, config);
    const res = await p.applyResourceChange("clonefleet_thing", null, plan.planned, config);
    expect(res.state.isNull()).toBe(true);
    expect(res.diagnostics).toHaveLength(1);
    expect(res.diagnostics[0]).toMatchObject({ severity: "error", summary: "Cannot create clonefleet_thing", path: [{ attribute: "datastore_ids" }, { index: 1 }] });
    expect(res.diagnostics[0].detail).toMatch(/unknown datastore "missing-2"[\s\S]*CF_INVALID_FIELD/);
    expect(s.type).toBeDefined();
  });

  test("an operation past its timeout is stopped with an error naming the timeout", async () => {
    const p = await ProviderProcess.launch(fixtureLaunch());
    expect(await p.configure(providerConfig())).toEqual([]);
    const config = { name: "hang", timeouts: { create: "200ms" } };
    const plan = await p.planResourceChange("clonefleet_thing", null, config, config);
    const res = await p.applyResourceChange("clonefleet_thing", null, plan.planned, config);
    expect(res.diagnostics[0].summary).toBe("Cannot create clonefleet_thing");
    expect(res.diagnostics[0].detail).toMatch(/did not finish within 200ms.*timeouts\.create/);
  });

  test("StopProvider aborts a running operation", async () => {
    const p = await ProviderProcess.launch(fixtureLaunch());
    expect(await p.configure(providerConfig())).toEqual([]);
    const config = { name: "hang" };
    fs.rmSync(`${tmp.store}.hang`, { force: true });
    const plan = await p.planResourceChange("clonefleet_thing", null, config, config);
    const running = p.applyResourceChange("clonefleet_thing", null, plan.planned, config);
    while (!fs.existsSync(`${tmp.store}.hang`)) await new Promise((r) => setTimeout(r, 20));
    fs.rmSync(`${tmp.store}.hang`);
    await p.call("StopProvider");
    const res = await running;
    expect(res.diagnostics[0].detail).toMatch(/asked the provider to stop/);
  });
});

describe("process lifecycle", () => {
  test("Shutdown through the controller ends the process and removes its socket", async () => {
    const p = await ProviderProcess.launch(fixtureLaunch());
    const exit = await p.shutdown();
    expect(exit.code).toBe(0);
    expect(fs.existsSync(path.dirname(p.handshake.address))).toBe(false);
  });

  test("SIGTERM ends the process", async () => {
    const p = await ProviderProcess.launch(fixtureLaunch());
    process.kill(p.pid, "SIGTERM");
    expect((await p.exited).code).toBe(0);
  });

  test("stdin at EOF does not stop the plugin (go-plugin passes Terraform's own stdin through)", async () => {
    const p = await ProviderProcess.launch(fixtureLaunch());
    p.closeStdin();
    expect(await p.health()).toBe("SERVING");
    expect(await p.configure(providerConfig())).toEqual([]);
    expect(await p.health()).toBe("SERVING");
  });

  test("SIGINT is ignored as go-plugin does (Terraform stops work with StopProvider instead)", async () => {
    const p = await ProviderProcess.launch(fixtureLaunch());
    process.kill(p.pid, "SIGINT");
    expect(await p.health()).toBe("SERVING");
    expect(await p.health()).toBe("SERVING");
  });
});
