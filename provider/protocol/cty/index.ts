/** The cty type system, value model and wire codecs (msgpack and JSON) Terraform uses for values. */
export * from "./types";
export * from "./number";
export * from "./value";
export * from "./msgpack";
export * from "./json";
export * from "./convert";
