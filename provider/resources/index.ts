/** Every resource and data source of the clonefleet provider; add a new one here. */
import type { ClonefleetClient } from "../../engine/client";
import type { DataSource, Resource } from "../framework";
import { datastore } from "./datastore";
import { diskChain } from "./disk-chain";
import { replica } from "./replica";
import { template } from "./template";

export const resources = [datastore, template, replica] as unknown as readonly Resource<unknown, ClonefleetClient>[];
export const dataSources = [diskChain] as unknown as readonly DataSource<unknown, ClonefleetClient>[];
