/**
 * CDKTF for clonefleet: the generated bindings (one namespace per resource, never edited by
 * hand; `npm run generate` remakes them from the provider schema) and constructs that read
 * like intent. CDK Terrain, the community continuation of CDKTF, uses the same generator.
 */
export * from "./gen/providers/clonefleet";
export * from "./constructs/template-library";
export * from "./constructs/clone-fleet";
export * from "./constructs/instant-clone-pool";
