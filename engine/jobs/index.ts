export * from "./handler";
export * from "./runner";
export * from "./handlers";
export * from "./recover";
