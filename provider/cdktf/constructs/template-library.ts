import { Construct } from "constructs";
import {
  absolutePathProblem,
  DEFAULT_MEMORY_MB,
  DEFAULT_VCPUS,
  intRangeProblem,
  MEMORY_MB_RANGE,
  nameProblem,
  VCPUS_RANGE,
} from "../../../engine/model/rules";
import { datastore, template } from "../gen/providers/clonefleet";

/** One image to keep as a template. */
export interface LibraryImage {
  /** qcow2 or raw image on the engine host. */
  readonly sourcePath: string;
  readonly memoryMb?: number;
  readonly vcpus?: number;
  readonly kernel?: string;
  readonly initrd?: string;
  readonly cmdline?: string;
}

/** Props of a TemplateLibrary: where to keep disks and which images to keep there. */
export interface TemplateLibraryProps {
  /** Datastore name (letters, digits, `.`, `_`, `-`). */
  readonly datastoreName: string;
  /** Absolute directory on the engine host. */
  readonly datastorePath: string;
  /** Template name → image. */
  readonly images: Readonly<Record<string, LibraryImage>>;
  /** Passed to every resource (for example a provider alias). */
  readonly provider?: datastore.DatastoreConfig["provider"];
}

/**
 * "Keep these images as templates in this directory": one datastore and a template per image.
 * Bad names, paths and sizes are reported together when the stack is synthesized.
 */
export class TemplateLibrary extends Construct {
  readonly datastore: datastore.Datastore;
  readonly templates: Readonly<Record<string, template.Template>>;

  constructor(scope: Construct, id: string, props: TemplateLibraryProps) {
    super(scope, id);
    this.node.addValidation({ validate: () => libraryProblems(props) });
    this.datastore = new datastore.Datastore(this, "datastore", { name: props.datastoreName, path: props.datastorePath, provider: props.provider });
    const templates: Record<string, template.Template> = {};
    for (const [name, image] of Object.entries(props.images)) {
      templates[name] = new template.Template(this, `template-${name}`, {
        name,
        datastoreId: this.datastore.id,
        sourcePath: image.sourcePath,
        memoryMb: image.memoryMb ?? DEFAULT_MEMORY_MB,
        vcpus: image.vcpus ?? DEFAULT_VCPUS,
        kernel: image.kernel,
        initrd: image.initrd,
        cmdline: image.cmdline,
        provider: props.provider,
      });
    }
    this.templates = templates;
  }
}

/** Every problem of a library's props, each naming the prop; empty when all is well. */
export function libraryProblems(props: TemplateLibraryProps): string[] {
  const problems: string[] = [];
  const add = (where: string, problem: string | null) => {
    if (problem) problems.push(`${where} ${problem}`);
  };
  add("datastoreName", nameProblem(props.datastoreName));
  add("datastorePath", absolutePathProblem(props.datastorePath));
  if (Object.keys(props.images).length === 0) problems.push("images must name at least one image");
  for (const [name, image] of Object.entries(props.images)) {
    add(`images[${JSON.stringify(name)}] name`, nameProblem(name));
    add(`images[${JSON.stringify(name)}].sourcePath`, absolutePathProblem(image.sourcePath));
    if (image.memoryMb !== undefined) add(`images[${JSON.stringify(name)}].memoryMb`, intRangeProblem(image.memoryMb, MEMORY_MB_RANGE));
    if (image.vcpus !== undefined) add(`images[${JSON.stringify(name)}].vcpus`, intRangeProblem(image.vcpus, VCPUS_RANGE));
    if ((image.initrd || image.cmdline) && !image.kernel) problems.push(`images[${JSON.stringify(name)}] sets initrd or cmdline without kernel`);
  }
  return problems;
}
