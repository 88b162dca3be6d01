/** Every resource and data source of the clonefleet provider; add a new one here. */
import type { ClonefleetClient } from "../../engine/client";
import type { DataSource, Resource } from "../framework";
import { datastore } from "./datastore";
import { datastoreSpace } from "./datastore-space";
import { diskChain } from "./disk-chain";
import { diskPool } from "./disk-pool";
import { fleet } from "./fleet";
import { host } from "./host";
import { instantCloneParent } from "./instant-clone-parent";
import { replica } from "./replica";
import { snapshot } from "./snapshot";
import { template } from "./template";
import { vm } from "./vm";

export const resources = [datastore, template, replica, diskPool, vm, fleet, snapshot, instantCloneParent] as unknown as readonly Resource<unknown, ClonefleetClient>[];
export const dataSources = [diskChain, host, datastoreSpace] as unknown as readonly DataSource<unknown, ClonefleetClient>[];
