import { useEffect, useState } from "preact/hooks";
import { clock } from "../format";
import { useLive, useResource } from "../live";
import { ErrorLine, Section, Table } from "../table";
import type { JobWire } from "../wire";

/** Jobs as the change feed updates them: the fetched list, then every job event merged in. */
function useLiveJobs(): { jobs: JobWire[] | null; error: ReturnType<typeof useResource>["error"] } {
  const { subscribe } = useLive();
  const fetched = useResource<JobWire[]>("/jobs?limit=50", []);
  const [byId, setById] = useState<Map<string, JobWire>>(new Map());
  useEffect(() => {
    if (fetched.data) setById(new Map(fetched.data.map((j) => [j.id, j])));
  }, [fetched.data]);
  useEffect(
    () =>
      subscribe((e) => {
        if (e.type !== "job") return;
        setById((m) => new Map(m).set(e.job.id, e.job));
      }),
    [subscribe],
  );
  const jobs = fetched.data ? [...byId.values()].sort((a, b) => b.created_at.localeCompare(a.created_at)) : null;
  return { jobs, error: fetched.error };
}

/** A job's progress as `done / total unit` and its message. */
export function progressText(j: JobWire): string {
  const p = j.progress;
  const count = p.total > 0 ? `${p.done} / ${p.total} ${p.unit}` : "";
  return [count, p.message].filter(Boolean).join(" · ") || "-";
}

export function JobsView() {
  const { jobs, error } = useLiveJobs();
  return (
    <Section title="Jobs">
      <ErrorLine error={error} />
      <Table
        testId="jobs"
        columns={["Job", "Kind", "State", "Progress", "Created", "Started", "Finished", "Error"]}
        rows={jobs}
        rowKey={(j) => j.id}
        row={(j) => [
          <code>{j.id}</code>,
          j.kind,
          <span class={`state ${j.state}`} data-testid="job-state">
            {j.state}
          </span>,
          <span>
            <progress max={j.progress.total || 1} value={j.progress.done} /> {progressText(j)}
            {j.steps?.length ? (
              <ol class="steps">
                {j.steps.map((s) => (
                  <li key={s.step + s.at}>
                    {clock(s.at)} {s.step}
                  </li>
                ))}
              </ol>
            ) : null}
          </span>,
          clock(j.created_at),
          clock(j.started_at),
          clock(j.finished_at),
          j.error ? (
            <span class="error">
              <code>{j.error.code}</code> {j.error.message}
            </span>
          ) : (
            "-"
          ),
        ]}
      />
    </Section>
  );
}

/** One job followed live (a fork started from the VM page). */
export function JobCard(props: { job: JobWire }) {
  const { subscribe } = useLive();
  const [job, setJob] = useState(props.job);
  useEffect(() => setJob(props.job), [props.job]);
  useEffect(
    () =>
      subscribe((e) => {
        if (e.type === "job" && e.job.id === props.job.id) setJob(e.job);
      }),
    [subscribe, props.job.id],
  );
  return (
    <div class="job-card" data-testid="job-card" data-job-id={job.id} data-state={job.state}>
      <strong>{job.kind}</strong> <code>{job.id}</code> <span class={`state ${job.state}`}>{job.state}</span> <progress max={job.progress.total || 1} value={job.progress.done} /> {progressText(job)}
      {job.error ? (
        <p class="error">
          <code>{job.error.code}</code> {job.error.message}
        </p>
      ) : null}
    </div>
  );
}
