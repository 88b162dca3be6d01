export * from "./common";
export * from "./datastore";
export * from "./template";
export * from "./job";
export * from "./disk";
