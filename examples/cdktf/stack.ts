/**
 * The CDKTF example's stack: the same resources as examples/terraform, through the generated
 * bindings and the TemplateLibrary construct.
 */
import { Construct } from "constructs";
import { TerraformOutput, TerraformStack, TerraformVariable } from "cdktf";
import { dataClonefleetDiskChain, provider, TemplateLibrary } from "../../provider/cdktf";

/** Where the example keeps its datastore and which image it imports. */
export interface ExampleSettings {
  datastorePath: string;
  imagePath: string;
}

/** A datastore, a template imported into it, and the template's disk chain. */
export class ClonefleetExample extends TerraformStack {
  constructor(scope: Construct, id: string, settings: ExampleSettings) {
    super(scope, id);
    const endpoint = new TerraformVariable(this, "endpoint", { type: "string", default: "http://127.0.0.1:7420" });
    const token = new TerraformVariable(this, "token", { type: "string", sensitive: true });
    new provider.ClonefleetProvider(this, "clonefleet", { endpoint: endpoint.stringValue, token: token.stringValue });

    const library = new TemplateLibrary(this, "library", {
      datastoreName: "local",
      datastorePath: settings.datastorePath,
      images: { tiny: { sourcePath: settings.imagePath, memoryMb: 256, vcpus: 1 } },
    });
    const chain = new dataClonefleetDiskChain.DataClonefleetDiskChain(this, "tiny-chain", { path: library.templates.tiny.diskPath });

    new TerraformOutput(this, "template_content_id", { value: library.templates.tiny.contentId });
    new TerraformOutput(this, "template_chain_depth", { value: chain.depth });
  }
}
