/** Entry point Terraform starts (through bin/terraform-provider-clonefleet): serve the provider. */
import { serveProvider } from "./framework";
import { clonefleetProvider } from "./provider";

void serveProvider(clonefleetProvider);
