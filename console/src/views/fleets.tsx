import { useResource } from "../live";
import { ErrorLine, Section, Table } from "../table";
import type { FleetWire, VmWire } from "../wire";
import { useNames } from "./inventory";

export function FleetsView() {
  const fleets = useResource<FleetWire[]>("/fleets", ["fleet", "vm"]);
  const vms = useResource<VmWire[]>("/vms", ["vm"]);
  const names = useNames();
  const vm = (id: string) => vms.data?.find((v) => v.id === id);
  return (
    <Section title="Fleets">
      <ErrorLine error={fleets.error} />
      {fleets.data?.length === 0 ? <p class="muted">none</p> : null}
      {fleets.data?.map((f) => (
        <article key={f.id} class="fleet" data-testid="fleet" data-fleet={f.name_prefix}>
          <h3>
            {f.name_prefix} <span class="muted">({names.tpl(f.template_id)}, {f.clone_mode}, wants {f.power_state})</span>
          </h3>
          <p>
            <span data-testid="fleet-ready">{f.members_ready}</span> of {f.size} ready, {f.members_running} running · {f.state}
          </p>
          <Table
            testId="fleet-members"
            columns={["Member", "Provisioned", "Power", "Host", "Datastore", "State"]}
            rows={f.vms}
            rowKey={(m) => m.id}
            row={(m) => [<a href={`#/vm/${m.id}`}>{m.name}</a>, m.provisioned_by, vm(m.id)?.power_state ?? "-", vm(m.id)?.host_id ?? "-", names.ds(m.datastore_id), m.state]}
          />
        </article>
      ))}
    </Section>
  );
}
