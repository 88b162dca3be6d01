/**
 * `clonefleet:Template`: a disk image imported into a datastore, with the machine shape of the
 * VMs made from it. The provider object below is serialized by the SDK and runs in the
 * dynamic-provider process: it captures only pure helpers and requires the runtime it needs.
 */
import * as pulumi from "@pulumi/pulumi";
import type { TemplateWire } from "../engine/client";
import { resolveConnection, withSecretToken, type ConnectionArgs } from "./connection";
import { connectionOf, defineDynamicResource } from "./provider-kit";
import type { OperationTimeoutsArgs } from "./timeouts";
import { autonameInput } from "./autoname";

/** Inputs of a Template as the provider sees them (plain values). */
export interface TemplateInputs {
  name: string;
  datastoreId: string;
  sourcePath: string;
  memoryMb?: number;
  vcpus?: number;
  kernel?: string | null;
  initrd?: string | null;
  cmdline?: string | null;
  timeouts?: OperationTimeoutsArgs;
  endpoint?: string;
  token?: string;
}

/** Outputs of a Template as the provider stores them. */
export interface TemplateOutputs extends TemplateInputs {
  memoryMb: number;
  vcpus: number;
  diskPath: string;
  contentId: string;
  virtualSizeBytes: number;
  state: string;
}

// Kept unexported: an exported const would be reached through `exports` from the provider's
// methods and drag the whole module into the serialized closure.
const REPLACE_KEYS = ["name", "datastoreId", "sourcePath", "memoryMb", "vcpus", "kernel", "initrd", "cmdline"];
const INPUT_KEYS = ["name", "datastoreId", "sourcePath", "memoryMb", "vcpus", "kernel", "initrd", "cmdline"];

/** Inputs that cannot change in place; they match the Terraform schema's `replace` attributes of clonefleet_template. */
export const TEMPLATE_REPLACE_KEYS: readonly string[] = Object.freeze([...REPLACE_KEYS]);

/** The outputs for a template the engine answered with; `sourcePath` is known only to the program. */
function templateOutputs(inputs: Partial<TemplateInputs>, t: TemplateWire): TemplateOutputs {
  return {
    ...connectionOf(inputs),
    name: t.name,
    datastoreId: t.datastore_id,
    // The user's path stays as written; an import starts from the engine's.
    sourcePath: inputs.sourcePath ?? t.source_path,
    memoryMb: t.memory_mb,
    vcpus: t.vcpus,
    kernel: t.kernel,
    initrd: t.initrd,
    cmdline: t.cmdline,
    diskPath: t.disk_path,
    contentId: t.content_id,
    virtualSizeBytes: t.virtual_size_bytes,
    state: t.state,
  };
}

/** The dynamic provider of Template; the SDK serializes it, so each method builds its own client. */
export const templateProvider: pulumi.dynamic.ResourceProvider<TemplateInputs, TemplateOutputs> = defineDynamicResource<TemplateInputs, TemplateOutputs>({
  noun: "template",
  key: "template",
  validate: "validateTemplateInputs",
  defaults: "withTemplateDefaults",
  inputKeys: INPUT_KEYS,
  replaceKeys: REPLACE_KEYS,
  autoname: true,
  // Template names are unique on the engine: keeping the name means the old one must go first.
  deleteBeforeReplace: (replaces) => !replaces.includes("name"),

  async create(ctx, inputs) {
    const job = await ctx.client.templates.import(
      {
        name: inputs.name,
        datastore_id: inputs.datastoreId,
        source_path: inputs.sourcePath,
        memory_mb: inputs.memoryMb,
        vcpus: inputs.vcpus,
        kernel: inputs.kernel ?? null,
        initrd: inputs.initrd ?? null,
        cmdline: inputs.cmdline ?? null,
      },
      ctx.rt.newIdempotencyKey(),
    );
    const done = await ctx.client.waitJob(job.id, { timeoutMs: ctx.timeout.ms });
    const t = (done.result as TemplateWire | null) ?? (done.target_id ? await ctx.client.templates.get(done.target_id) : null);
    if (!t) throw new Error(`job ${done.id} succeeded without naming the template it made`);
    return { id: t.id, outs: templateOutputs(inputs, t) };
  },

  async read(ctx, id, props) {
    const t = await ctx.client.templates.get(id);
    if (!t) return null;
    const outs = templateOutputs(props, t);
    // An import or `get` starts from nothing but the id: hand Pulumi the inputs as well.
    if (props.name === undefined) {
      const { diskPath: _d, contentId: _c, virtualSizeBytes: _v, state: _s, token: _t, ...inputs } = outs;
      return { props: outs, inputs };
    }
    return { props: outs };
  },

  async delete(ctx, id) {
    await ctx.client.templates.delete(id);
  },
});

/** Arguments of a Template; every input but the connection replaces the template when it changes. */
export interface TemplateArgs extends ConnectionArgs {
  /** Unique template name: letters, digits, '.', '_', '-'; at most 63 characters; default: the logical name plus a random suffix (kept across updates). */
  name?: pulumi.Input<string>;
  /** Id of the Datastore that keeps the template's disk. */
  datastoreId: pulumi.Input<string>;
  /** qcow2 or raw image on the engine host; copied and converted to qcow2. */
  sourcePath: pulumi.Input<string>;
  /** Memory of VMs made from it, MiB (default 256). */
  memoryMb?: pulumi.Input<number>;
  /** Virtual CPUs of VMs made from it (default 1). */
  vcpus?: pulumi.Input<number>;
  /** Kernel image on the engine host for direct kernel boot. */
  kernel?: pulumi.Input<string>;
  /** Initrd on the engine host; needs `kernel`. */
  initrd?: pulumi.Input<string>;
  /** Kernel command line; needs `kernel`. */
  cmdline?: pulumi.Input<string>;
  /** How long create (default 30m) and delete (10m) wait for their jobs, such as `{ create: "1h" }`; see OperationTimeoutsArgs. */
  timeouts?: pulumi.Input<OperationTimeoutsArgs>;
}

/** A clonefleet template; creating one imports the source image as a qcow2 base disk in the datastore. */
export class Template extends pulumi.dynamic.Resource {
  /** Unique name of the template. */
  declare readonly name: pulumi.Output<string>;
  /** Id of the datastore holding the disk. */
  declare readonly datastoreId: pulumi.Output<string>;
  /** The image the template was imported from, as given. */
  declare readonly sourcePath: pulumi.Output<string>;
  /** Memory of VMs made from it, MiB. */
  declare readonly memoryMb: pulumi.Output<number>;
  /** Virtual CPUs of VMs made from it. */
  declare readonly vcpus: pulumi.Output<number>;
  /** Kernel for direct boot, or null. */
  declare readonly kernel: pulumi.Output<string | null>;
  /** Initrd for direct boot, or null. */
  declare readonly initrd: pulumi.Output<string | null>;
  /** Kernel command line, or null. */
  declare readonly cmdline: pulumi.Output<string | null>;
  /** Path of the template's qcow2 disk in the datastore. */
  declare readonly diskPath: pulumi.Output<string>;
  /** Content ID of the disk: it changes whenever the disk's content changes. */
  declare readonly contentId: pulumi.Output<string>;
  /** Size of the disk as the guest sees it, bytes. */
  declare readonly virtualSizeBytes: pulumi.Output<number>;
  /** `ready`, or `drifted` when its file vanished or changed outside clonefleet. */
  declare readonly state: pulumi.Output<string>;
  /** Engine API URL the template is managed through. */
  declare readonly endpoint: pulumi.Output<string>;
  /** API token (secret). */
  declare readonly token: pulumi.Output<string | undefined>;

  /** Declares a template; inputs are checked by the provider, and create waits for the import job. */
  constructor(name: string, args: TemplateArgs, opts?: pulumi.CustomResourceOptions) {
    const conn = resolveConnection(args);
    super(
      templateProvider,
      name,
      {
        name: args.name,
        datastoreId: args.datastoreId,
        sourcePath: args.sourcePath,
        memoryMb: args.memoryMb,
        vcpus: args.vcpus,
        kernel: args.kernel,
        initrd: args.initrd,
        cmdline: args.cmdline,
        timeouts: args.timeouts,
        ...autonameInput(name, args, opts),
        endpoint: conn.endpoint,
        token: conn.token,
        diskPath: undefined,
        contentId: undefined,
        virtualSizeBytes: undefined,
        state: undefined,
      },
      withSecretToken(opts),
      "clonefleet",
      "Template",
    );
  }

  /** Looks up an existing template by id; the state comes from the engine. */
  static get(name: string, id: pulumi.Input<pulumi.ID>, connection?: ConnectionArgs, opts?: pulumi.CustomResourceOptions): Template {
    return new Template(name, { ...(connection ?? {}) } as TemplateArgs, { ...opts, id });
  }
}
