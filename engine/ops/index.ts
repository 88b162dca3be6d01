export * from "./context";
export * from "./catalog-sync";
export * from "./datastore";
export * from "./template";
export * from "./disk-chain";
export * from "./reconcile";
