import { Type, type Static } from "@sinclair/typebox";
import type { ImportTemplateRequest, TemplateView } from "../../ops";
import { DEFAULT_MEMORY_MB, DEFAULT_VCPUS } from "../../model";

const NullableString = Type.Union([Type.String(), Type.Null()]);

export const ImportTemplateBody = Type.Object(
  {
    name: Type.String({ description: "Unique template name." }),
    datastore_id: Type.String({ description: "Datastore to keep the template's disk in." }),
    source_path: Type.String({ description: "qcow2 or raw image on the engine host; copied and converted to qcow2." }),
    memory_mb: Type.Optional(Type.Integer({ description: `Memory of VMs made from it, MiB (default ${DEFAULT_MEMORY_MB}).` })),
    vcpus: Type.Optional(Type.Integer({ description: `Virtual CPUs (default ${DEFAULT_VCPUS}).` })),
    kernel: Type.Optional(NullableString),
    initrd: Type.Optional(NullableString),
    cmdline: Type.Optional(NullableString),
  },
  { additionalProperties: false },
);
export type ImportTemplateBody = Static<typeof ImportTemplateBody>;

export const TemplateWire = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    datastore_id: Type.String(),
    disk_path: Type.String(),
    content_id: Type.String(),
    virtual_size_bytes: Type.Integer(),
    memory_mb: Type.Integer(),
    vcpus: Type.Integer(),
    source_path: Type.String(),
    kernel: NullableString,
    initrd: NullableString,
    kernel_path: NullableString,
    initrd_path: NullableString,
    cmdline: NullableString,
    state: Type.String(),
    created_at: Type.String(),
  },
  { $id: "Template" },
);
export type TemplateWire = Static<typeof TemplateWire>;

/** The op request from a validated wire body, defaults applied. */
export function importTemplateFromWire(b: ImportTemplateBody): ImportTemplateRequest {
  return {
    name: b.name,
    datastoreId: b.datastore_id,
    sourcePath: b.source_path,
    memoryMb: b.memory_mb ?? DEFAULT_MEMORY_MB,
    vcpus: b.vcpus ?? DEFAULT_VCPUS,
    kernel: b.kernel ?? null,
    initrd: b.initrd ?? null,
    cmdline: b.cmdline ?? null,
  };
}

/** The wire form of a template. */
export function templateToWire(t: TemplateView): TemplateWire {
  return {
    id: t.id,
    name: t.name,
    datastore_id: t.datastoreId,
    disk_path: t.diskPath,
    content_id: t.contentId,
    virtual_size_bytes: t.virtualSizeBytes,
    memory_mb: t.memoryMb,
    vcpus: t.vcpus,
    source_path: t.sourcePath,
    kernel: t.kernelSource,
    initrd: t.initrdSource,
    kernel_path: t.kernel,
    initrd_path: t.initrd,
    cmdline: t.cmdline,
    state: t.state,
    created_at: t.createdAt,
  };
}
