/**
 * AutoMTLS certificates as go-plugin makes them: a fresh ECDSA P-521 key and a self-signed
 * certificate for "localhost" (common name and DNS name) that is its own CA and is good for
 * both server and client authentication, valid from 30 seconds ago for 30 years. The plugin
 * makes one per process and trusts only the client certificate Terraform passed in
 * PLUGIN_CLIENT_CERT; test drivers make the client side the same way.
 */
import * as crypto from "node:crypto";

/** A certificate with its private key. */
export interface CertificateBundle {
  /** The certificate in DER (what the handshake line carries, base64-encoded). */
  certDer: Buffer;
  /** The certificate in PEM. */
  certPem: string;
  /** The private key in PKCS#8 PEM. */
  keyPem: string;
}

// A minimal DER writer: enough ASN.1 for one X.509 certificate.
function tlv(tag: number, content: Buffer): Buffer {
  const n = content.length;
  let len: Buffer;
  if (n < 0x80) len = Buffer.from([n]);
  else {
    const bytes: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
    len = Buffer.from([0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), len, content]);
}

const seq = (...parts: Buffer[]) => tlv(0x30, Buffer.concat(parts));
const set = (...parts: Buffer[]) => tlv(0x31, Buffer.concat(parts));
const explicit = (n: number, inner: Buffer) => tlv(0xa0 | n, inner);
const octets = (b: Buffer) => tlv(0x04, b);
const bits = (b: Buffer, unused = 0) => tlv(0x03, Buffer.concat([Buffer.from([unused]), b]));
const bool = (v: boolean) => tlv(0x01, Buffer.from([v ? 0xff : 0x00]));

function integer(n: bigint): Buffer {
  let hex = n.toString(16);
  if (hex.length % 2) hex = "0" + hex;
  let b = Buffer.from(hex, "hex");
  // A leading 1 bit would make the serial negative, which Go's parser rejects.
  if (b[0] & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return tlv(0x02, b);
}

function oid(dotted: string): Buffer {
  const arcs = dotted.split(".").map(Number);
  const out = [40 * arcs[0] + arcs[1]];
  for (const arc of arcs.slice(2)) {
    const chunk = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v & 0x7f) | 0x80);
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

function time(d: Date): Buffer {
  const iso = d.toISOString().replace(/[-:T]/g, "").slice(0, 14) + "Z";
  // X.509: UTCTime through 2049, GeneralizedTime after.
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(iso.slice(2), "ascii")) : tlv(0x18, Buffer.from(iso, "ascii"));
}

function name(organization: string, commonName: string): Buffer {
  const attr = (type: string, value: string) => set(seq(oid(type), tlv(0x13, Buffer.from(value, "ascii"))));
  return seq(attr("2.5.4.10", organization), attr("2.5.4.3", commonName));
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical ? seq(oid(id), bool(true), octets(value)) : seq(oid(id), octets(value));
}

/** Options for makeCertificate (tests vary them; the plugin uses the defaults). */
export interface CertificateOptions {
  host?: string;
  organization?: string;
  now?: Date;
}

/** Makes a fresh key and self-signed certificate the way go-plugin's AutoMTLS does. */
export function makeCertificate(opts: CertificateOptions = {}): CertificateBundle {
  const host = opts.host ?? "localhost";
  const now = opts.now ?? new Date();
  const { privateKey, publicKey } = crypto.generateKeyPairSync("ec", { namedCurve: "P-521" });
  const spki = publicKey.export({ type: "spki", format: "der" });
  const ecdsaWithSha512 = seq(oid("1.2.840.10045.4.3.4"));
  const serial = BigInt("0x" + crypto.randomBytes(16).toString("hex")) || 1n;
  // The subject key id Go adds to CA certificates: SHA-1 of the public key bits.
  const keyBits = spki.subarray(spki.length - 133);
  const subjectKeyId = crypto.createHash("sha1").update(keyBits).digest();
  // digitalSignature, keyEncipherment, keyAgreement, keyCertSign: bits 0, 2, 4, 5.
  const keyUsage = bits(Buffer.from([0xac]), 2);
  const extKeyUsage = seq(oid("1.3.6.1.5.5.7.3.2"), oid("1.3.6.1.5.5.7.3.1"));
  const subjectAltName = seq(tlv(0x82, Buffer.from(host, "ascii")));
  const subject = name(opts.organization ?? "clonefleet", host);
  const tbs = seq(
    explicit(0, integer(2n)),
    integer(serial),
    ecdsaWithSha512,
    subject,
    seq(time(new Date(now.getTime() - 30_000)), time(new Date(now.getTime() + 262_980 * 3600_000))),
    subject,
    spki,
    explicit(
      3,
      seq(
        extension("2.5.29.15", true, keyUsage),
        extension("2.5.29.37", false, extKeyUsage),
        extension("2.5.29.19", true, seq(bool(true))),
        extension("2.5.29.14", false, octets(subjectKeyId)),
        extension("2.5.29.17", false, subjectAltName),
      ),
    ),
  );
  const signature = crypto.sign("sha512", tbs, { key: privateKey, dsaEncoding: "der" });
  const certDer = seq(tbs, ecdsaWithSha512, bits(signature));
  const certPem = derToPem(certDer);
  const keyPem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  return { certDer, certPem, keyPem };
}

/** Encodes DER as go-plugin's handshake does: standard base64 without padding. */
export function encodeCertForHandshake(der: Buffer): string {
  return der.toString("base64").replace(/=+$/, "");
}

/** Decodes the handshake's certificate field (base64 with or without padding) to DER. */
export function decodeCertFromHandshake(field: string): Buffer {
  return Buffer.from(field, "base64");
}

/** Converts DER to PEM. */
export function derToPem(der: Buffer): string {
  return `-----BEGIN CERTIFICATE-----\n${der.toString("base64").replace(/.{1,64}/g, "$&\n")}-----END CERTIFICATE-----\n`;
}
