import type { ComponentChildren } from "preact";
import type { ApiError } from "./api";

/** A plain table: one row per item, `testId` on the table for tests and styling. */
export function Table<T>(props: { testId: string; columns: string[]; rows: T[] | null; row: (item: T) => ComponentChildren[]; rowKey: (item: T) => string; empty?: string }) {
  if (!props.rows) return <p class="muted">loading…</p>;
  if (props.rows.length === 0) return <p class="muted">{props.empty ?? "none"}</p>;
  return (
    <table data-testid={props.testId}>
      <thead>
        <tr>
          {props.columns.map((c) => (
            <th key={c}>{c}</th>
          ))}
        </tr>
      </thead>
      <tbody>
        {props.rows.map((item) => (
          <tr key={props.rowKey(item)} data-key={props.rowKey(item)}>
            {props.row(item).map((cell, i) => (
              <td key={i}>{cell}</td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** An engine error as the user should read it: its code, then its message. */
export function ErrorLine(props: { error: ApiError | null }) {
  if (!props.error) return null;
  return (
    <p class="error" role="alert" data-testid="error">
      <code>{props.error.code}</code> {props.error.message}
    </p>
  );
}

export function Section(props: { title: string; children: ComponentChildren }) {
  return (
    <section>
      <h2>{props.title}</h2>
      {props.children}
    </section>
  );
}
