import { Type, type Static } from "@sinclair/typebox";
import type { CreatePoolRequest, PoolView } from "../../ops";

const NullableString = Type.Union([Type.String(), Type.Null()]);

/** The body of `POST /pools`. */
export const CreatePoolBody = Type.Object(
  {
    template_id: Type.String({ description: "Template whose disk the pool holds full copies of." }),
    datastore_id: Type.String({ description: "Datastore the copies are kept on; clones placed there get one by a rename." }),
    size: Type.Integer({ description: "Ready copies to keep, 0 to 1024; the engine refills the pool in the background." }),
    host_id: Type.Optional(NullableString),
  },
  { additionalProperties: false },
);
export type CreatePoolBody = Static<typeof CreatePoolBody>;

/** The body of `PUT /pools/{id}`. */
export const UpdatePoolBody = Type.Object(
  { size: Type.Integer({ description: "Ready copies to keep, 0 to 1024; shrinking discards the newest copies beyond it." }) },
  { additionalProperties: false },
);
export type UpdatePoolBody = Static<typeof UpdatePoolBody>;

/** Filters of `GET /pools`. */
export const PoolListQuery = Type.Object(
  { template_id: Type.Optional(Type.String()), datastore_id: Type.Optional(Type.String()) },
  { additionalProperties: false },
);
export type PoolListQuery = Static<typeof PoolListQuery>;

/** A pool on the wire, with what it holds now. */
export const PoolWire = Type.Object(
  {
    id: Type.String(),
    template_id: Type.String(),
    datastore_id: Type.String(),
    host_id: Type.String(),
    size: Type.Integer({ description: "Ready copies the pool is to hold." }),
    ready: Type.Integer({ description: "Copies that can be handed out now (made from the template's current content, file present)." }),
    filling: Type.Integer({ description: "Copies being made now." }),
    state: Type.String({ description: "ready, filling, waiting (backing off after a failed fill) or below_size." }),
    template_content_id: NullableString,
    copies: Type.Array(
      Type.Object({
        layer_id: Type.String(),
        path: Type.String(),
        content_id: Type.String(),
        template_content_id: Type.String(),
        created_at: Type.String(),
      }),
    ),
    fills: Type.Array(Type.Object({ layer_id: Type.String(), progress: Type.Number({ description: "0 to 1." }), started_at: Type.String() })),
    last_error: Type.Union([Type.Object({ code: Type.String(), message: Type.String(), at: Type.String() }), Type.Null()]),
    failures: Type.Integer({ description: "Failed fills in a row." }),
    retry_at: NullableString,
    created_at: Type.String(),
  },
  { $id: "Pool" },
);
export type PoolWire = Static<typeof PoolWire>;

/** The op request from a validated wire body. */
export function createPoolFromWire(b: CreatePoolBody): CreatePoolRequest {
  return { templateId: b.template_id, datastoreId: b.datastore_id, size: b.size, hostId: b.host_id ?? null };
}

/** The wire form of a pool. */
export function poolToWire(p: PoolView): PoolWire {
  return {
    id: p.id,
    template_id: p.templateId,
    datastore_id: p.datastoreId,
    host_id: p.hostId,
    size: p.size,
    ready: p.ready,
    filling: p.filling,
    state: p.state,
    template_content_id: p.templateContentId,
    copies: p.copies.map((c) => ({
      layer_id: c.layerId,
      path: c.path,
      content_id: c.contentId,
      template_content_id: c.templateContentId,
      created_at: c.createdAt,
    })),
    fills: p.fills.map((f) => ({ layer_id: f.layerId, progress: f.fraction, started_at: f.startedAt })),
    last_error: p.lastError,
    failures: p.failures,
    retry_at: p.retryAt,
    created_at: p.createdAt,
  };
}
