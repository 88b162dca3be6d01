import { SingleBar, Presets } from "cli-progress";
import type { ClonefleetClient, JobWire } from "../client";

/** Prints `value` as JSON, or as the text `render` makes of it. */
export function print<T>(json: boolean | undefined, value: T, render: (v: T) => string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${render(value)}\n`);
}

/** A plain aligned table; columns are as wide as their widest cell. */
export function table(headers: string[], rows: (string | number | null | undefined)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (c === null || c === undefined ? "-" : String(c))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  return cells.map((r) => r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd()).join("\n");
}

/** Bytes in binary units, e.g. `1.5 GiB`. */
export function formatBytes(n: number | null): string {
  if (n === null) return "-";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

/**
 * Waits for a job, drawing a progress bar on a terminal (nothing when output is JSON or not
 * a terminal). With `live` it follows the engine's event stream instead of polling. Resolves
 * with the finished job; throws the client's job errors.
 */
export async function waitWithProgress(client: ClonefleetClient, job: JobWire, json?: boolean, live = false): Promise<JobWire> {
  const bar = !json && process.stderr.isTTY ? new SingleBar({ format: " {bar} {percentage}% | {message}", stream: process.stderr }, Presets.shades_classic) : null;
  let started = false;
  try {
    const wait = live ? client.waitJobLive.bind(client) : client.waitJob.bind(client);
    return await wait(job.id, {
      onProgress: (j) => {
        if (!bar) return;
        const total = j.progress.total || 1;
        if (!started) {
          bar.start(total, j.progress.done, { message: j.progress.message ?? j.state });
          started = true;
        }
        bar.setTotal(total);
        bar.update(j.progress.done, { message: j.progress.message ?? j.state });
      },
    });
  } finally {
    if (bar && started) bar.stop();
  }
}
