import { App } from "cdktf";
import { ClonefleetExample } from "./stack";

const app = new App();
new ClonefleetExample(app, "clonefleet-example", {
  datastorePath: process.env.CLONEFLEET_DATASTORE_PATH ?? "/var/tmp/clonefleet-example/store",
  imagePath: process.env.CLONEFLEET_IMAGE_PATH ?? "/var/tmp/clonefleet-example/image.raw",
  replicaDatastorePath: process.env.CLONEFLEET_REPLICA_DATASTORE_PATH || undefined,
});
app.synth();
