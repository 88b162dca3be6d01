import { bytes, clock } from "../format";
import { useResource } from "../live";
import { ErrorLine, Section, Table } from "../table";
import type { DatastoreWire, HostWire, ParentWire, PoolWire, ReplicaWire, TemplateWire } from "../wire";

/** Names of datastores and templates by id, for labelling rows. */
export function useNames(): { ds: (id: string) => string; tpl: (id: string | null) => string } {
  const ds = useResource<DatastoreWire[]>("/datastores", ["datastore"]);
  const tpl = useResource<TemplateWire[]>("/templates", ["template"]);
  return {
    ds: (id) => ds.data?.find((d) => d.id === id)?.name ?? id,
    tpl: (id) => (id ? (tpl.data?.find((t) => t.id === id)?.name ?? id) : "-"),
  };
}

export function DatastoresView() {
  const r = useResource<DatastoreWire[]>("/datastores", ["datastore", "layer"]);
  return (
    <Section title="Datastores">
      <ErrorLine error={r.error} />
      <Table
        testId="datastores"
        columns={["Name", "Path", "Free", "Size", "Layer graph"]}
        rows={r.data}
        rowKey={(d) => d.id}
        row={(d) => [d.name, <code>{d.path}</code>, d.reachable ? bytes(d.free_bytes) : "unreachable", bytes(d.total_bytes), <a href={`#/datastore/${d.id}`}>layers</a>]}
      />
    </Section>
  );
}

export function TemplatesView() {
  const r = useResource<TemplateWire[]>("/templates", ["template"]);
  const names = useNames();
  return (
    <Section title="Templates">
      <ErrorLine error={r.error} />
      <Table
        testId="templates"
        columns={["Name", "Datastore", "Size", "Memory", "vCPUs", "Content ID", "State"]}
        rows={r.data}
        rowKey={(t) => t.id}
        row={(t) => [t.name, names.ds(t.datastore_id), bytes(t.virtual_size_bytes), `${t.memory_mb} MiB`, t.vcpus, <code title={t.content_id}>{t.content_id.slice(0, 12)}</code>, t.state]}
      />
    </Section>
  );
}

export function PoolsView() {
  const r = useResource<PoolWire[]>("/pools", ["pool", "pool_copy"]);
  const names = useNames();
  return (
    <Section title="Disk pools">
      <ErrorLine error={r.error} />
      <Table
        testId="pools"
        columns={["Template", "Datastore", "Ready", "Size", "Filling", "State", "Last error"]}
        rows={r.data}
        rowKey={(p) => p.id}
        row={(p) => [names.tpl(p.template_id), names.ds(p.datastore_id), <span data-testid="pool-ready">{p.ready}</span>, <span data-testid="pool-size">{p.size}</span>, p.filling, p.state, p.last_error ?? "-"]}
      />
    </Section>
  );
}

export function ParentsView() {
  const r = useResource<ParentWire[]>("/parents", ["parent", "vm"]);
  const names = useNames();
  return (
    <Section title="Instant-clone parents">
      <ErrorLine error={r.error} />
      <Table
        testId="parents"
        columns={["Name", "Datastore", "RAM", "Memory", "Children", "Pre-started", "State"]}
        rows={r.data}
        rowKey={(p) => p.id}
        row={(p) => [p.name, names.ds(p.datastore_id), p.ram_location, `${p.memory_mb} MiB`, p.children.length, `${p.warm_ready} / ${p.warm_count}${p.warm_error ? ` (${p.warm_error})` : ""}`, p.state]}
      />
    </Section>
  );
}

export function ReplicasView() {
  const r = useResource<ReplicaWire[]>("/replicas", ["replica"]);
  const names = useNames();
  return (
    <Section title="Replicas">
      <ErrorLine error={r.error} />
      <Table
        testId="replicas"
        columns={["Source", "Target datastore", "Layers copied", "Layers reused", "State"]}
        rows={r.data}
        rowKey={(x) => x.id}
        row={(x) => [<code>{x.source_disk_path}</code>, names.ds(x.target_datastore_id), x.layers_copied, x.layers_reused, x.state === "ready" ? "in sync" : x.state]}
      />
    </Section>
  );
}

export function HostsView() {
  const r = useResource<HostWire[]>("/hosts", ["host", "vm"]);
  return (
    <Section title="Hosts">
      <ErrorLine error={r.error} />
      <Table
        testId="hosts"
        columns={["Host", "Status", "Heartbeat", "VMs", "PID", "API"]}
        rows={r.data}
        rowKey={(h) => h.id}
        row={(h) => [h.id, h.status + (h.down_reason ? ` (${h.down_reason})` : ""), `${(h.heartbeat_age_ms / 1000).toFixed(1)} s ago`, h.vm_count, h.pid, h.api_url]}
      />
      <p class="muted">Updated {clock(new Date().toISOString())}</p>
    </Section>
  );
}
