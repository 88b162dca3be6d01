import { MAX_NOTICE_DEADLINE_MS, NOTIFY_PROTOCOL_VERSION, completionMessage, noticeMessage } from "./notify";

const at = new Date("2030-01-02T03:04:05.000Z");

describe("notify wire format", () => {
  test("a notice is compact JSON with id first and detail last", () => {
    const line = JSON.stringify(noticeMessage("n-1", { kind: "migration", deadlineMs: 30000, detail: { id: "x", target_host: "b" } }, at));
    expect(line).toBe(
      '{"id":"n-1","v":1,"kind":"migration","phase":"prepare","deadline_ms":30000,"sent_at":"2030-01-02T03:04:05.000Z","detail":{"id":"x","target_host":"b"}}',
    );
    expect(line).not.toContain("\n");
  });

  test("a notice without detail has none", () => {
    expect(noticeMessage("n-2", { kind: "migration", deadlineMs: 5 }, at)).not.toHaveProperty("detail");
  });

  test("a completion refers to its notice and says how it ended", () => {
    expect(completionMessage("c-1", "n-1", "migration", "aborted", at)).toEqual({
      id: "c-1",
      v: NOTIFY_PROTOCOL_VERSION,
      kind: "migration",
      phase: "complete",
      ref: "n-1",
      outcome: "aborted",
      sent_at: "2030-01-02T03:04:05.000Z",
    });
  });

  test("deadlines are bounded", () => {
    expect(MAX_NOTICE_DEADLINE_MS).toBe(3600000);
  });
});
