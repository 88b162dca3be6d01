import { useState } from "preact/hooks";
import { ApiError, enc } from "../api";
import { ChainTree } from "../chain-tree";
import { clock } from "../format";
import { useLive, useResource } from "../live";
import { ErrorLine, Section, Table } from "../table";
import type { ChainWire, DatastoreLayerWire, JobWire, SnapshotWire, VmWire } from "../wire";
import { useNames } from "./inventory";
import { JobCard } from "./jobs";

/** Runs an action that may fail with an engine error, showing the error instead of throwing. */
function useAction(): { error: ApiError | null; run: (fn: () => Promise<unknown>) => Promise<void> } {
  const [error, setError] = useState<ApiError | null>(null);
  return {
    error,
    run: async (fn) => {
      setError(null);
      try {
        await fn();
      } catch (e) {
        setError(e instanceof ApiError ? e : new ApiError(0, "CF_CONSOLE", String(e)));
      }
    },
  };
}

export function VmsView() {
  const { api } = useLive();
  const r = useResource<VmWire[]>("/vms", ["vm"]);
  const names = useNames();
  const action = useAction();
  const vmName = (id: string | null) => (id ? (r.data?.find((v) => v.id === id)?.name ?? id) : "-");
  return (
    <Section title="VMs">
      <ErrorLine error={r.error ?? action.error} />
      <Table
        testId="vms"
        columns={["Name", "State", "Power", "Host", "Accel", "Chain depth", "Provisioned", "Forked from", "Instant clone of", "Template", ""]}
        rows={r.data}
        rowKey={(v) => v.id}
        row={(v) => [
          <a href={`#/vm/${v.id}`}>{v.name}</a>,
          v.state,
          v.power_state,
          v.host_id,
          v.accel ?? "-",
          v.chain_depth,
          v.provisioned_by,
          vmName(v.forked_from),
          v.instant_clone_of ?? "-",
          names.tpl(v.template_id),
          <button type="button" class="danger" data-testid="delete-vm" onClick={() => action.run(() => api.delete(`/vms/${enc(v.id)}`))}>
            Delete
          </button>,
        ]}
      />
    </Section>
  );
}

export function VmView(props: { id: string }) {
  const { api } = useLive();
  const vm = useResource<VmWire>(`/vms/${enc(props.id)}`, ["vm", "layer"]);
  const chain = useResource<ChainWire>(vm.data ? `/disks/chain?path=${enc(vm.data.disk_path)}` : null, ["layer"]);
  const layers = useResource<DatastoreLayerWire[]>(vm.data ? `/datastores/${enc(vm.data.datastore_id)}/layers` : null, ["layer"]);
  const snapshots = useResource<SnapshotWire[]>(`/vms/${enc(props.id)}/snapshots`, ["snapshot"]);
  const all = useResource<VmWire[]>("/vms", ["vm"]);
  const names = useNames();
  const [forkName, setForkName] = useState("");
  const [job, setJob] = useState<JobWire | null>(null);
  const action = useAction();
  const ownerName = (kind: string, id: string) =>
    kind === "vm" ? (all.data?.find((v) => v.id === id)?.name ?? id) : kind === "template" ? names.tpl(id) : id;
  if (vm.error) return <ErrorLine error={vm.error} />;
  const v = vm.data;
  if (!v) return <p class="muted">loading…</p>;
  return (
    <Section title={`VM ${v.name}`}>
      <dl class="facts" data-testid="vm-facts">
        <dt>State</dt>
        <dd>{v.state}</dd>
        <dt>Power</dt>
        <dd>{v.power_state}</dd>
        <dt>Host</dt>
        <dd>{v.host_id}</dd>
        <dt>Accel</dt>
        <dd>{v.accel ?? "-"}</dd>
        <dt>Chain depth</dt>
        <dd>{v.chain_depth}</dd>
        <dt>Provisioned</dt>
        <dd>{v.provisioned_by}</dd>
        <dt>Forked from</dt>
        <dd>{v.forked_from ? <a href={`#/vm/${v.forked_from}`}>{ownerName("vm", v.forked_from)}</a> : "-"}</dd>
        <dt>Instant clone of</dt>
        <dd>{v.instant_clone_of ?? "-"}</dd>
        <dt>Disk</dt>
        <dd>
          <code>{v.disk_path}</code>
        </dd>
      </dl>
      <form
        class="inline"
        onSubmit={(e) => {
          e.preventDefault();
          void action.run(async () => setJob(await api.post<JobWire>(`/vms/${enc(v.id)}/fork`, { name: forkName })));
        }}
      >
        <label>
          Fork as <input name="fork-name" value={forkName} onInput={(e) => setForkName((e.target as HTMLInputElement).value)} required />
        </label>
        <button type="submit" data-testid="fork" disabled={v.power_state !== "running"} title={v.power_state !== "running" ? "only a running VM forks" : ""}>
          Fork
        </button>
      </form>
      <ErrorLine error={action.error} />
      {job ? <JobCard job={job} /> : null}
      <h3>Disk chain</h3>
      <ErrorLine error={chain.error ?? layers.error} />
      {chain.data ? (
        <ol class="chain" data-testid="chain-list">
          {chain.data.layers.map((l) => (
            <li key={l.path} data-content-id={l.content_id ?? ""}>
              <code>{l.path}</code> {l.owner_kind ?? "unrecorded"} {l.owner_id ? ownerName(l.owner_kind ?? "", l.owner_id) : ""}
            </li>
          ))}
        </ol>
      ) : null}
      {chain.data && layers.data ? <ChainTree layers={layers.data} focus={chain.data.layers.map((l) => l.path)} ownerName={ownerName} /> : null}
      <h3>Snapshots</h3>
      <Table
        testId="snapshots"
        columns={["Name", "Content ID", "State", "Created"]}
        rows={snapshots.data}
        rowKey={(s) => s.id}
        row={(s) => [s.name, <code>{s.content_id.slice(0, 12)}</code>, s.state, clock(s.created_at)]}
      />
    </Section>
  );
}

export function DatastoreLayersView(props: { id: string }) {
  const layers = useResource<DatastoreLayerWire[]>(`/datastores/${enc(props.id)}/layers`, ["layer"]);
  const vms = useResource<VmWire[]>("/vms", ["vm"]);
  const names = useNames();
  const ownerName = (kind: string, id: string) => (kind === "vm" ? (vms.data?.find((v) => v.id === id)?.name ?? id) : kind === "template" ? names.tpl(id) : id);
  return (
    <Section title={`Layers of datastore ${names.ds(props.id)}`}>
      <ErrorLine error={layers.error} />
      {layers.data ? <ChainTree layers={layers.data} ownerName={ownerName} /> : <p class="muted">loading…</p>}
    </Section>
  );
}
