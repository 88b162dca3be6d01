/** Bytes in binary units, e.g. `1.5 GiB`; `-` when unknown. */
export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return "-";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

/** A short form of a content ID for a node label; the full one is in its title. */
export function shortId(id: string | null | undefined): string {
  return id ? (id.length > 14 ? `${id.slice(0, 12)}…` : id) : "-";
}

/** An ISO time as local `HH:MM:SS`. */
export function clock(iso: string | null | undefined): string {
  return iso ? new Date(iso).toLocaleTimeString() : "-";
}
