/** The Terraform plugin protocol layer: go-plugin handshake, AutoMTLS, gRPC services, cty values, diagnostics. */
export * from "./handshake";
export * from "./mtls";
export * from "./server";
export * from "./diagnostics";
export * from "./path";
export * from "./log";
export * from "./proto";
export * as cty from "./cty";
