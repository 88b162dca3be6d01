import { randomBytes } from "node:crypto";
import type { Command } from "commander";
import { clientFor, type GlobalOptions } from "../connection";
import { print, table } from "../output";
import type { TokenWire } from "../../client";

const rows = (list: TokenWire[]) => table(["ID", "NAME", "SCOPE", "CREATED"], list.map((t) => [t.id, t.name, t.scope, t.created_at]));

/** `clonefleet token create|ls|revoke`: scoped tokens besides the engine's own (admin) token. */
export function registerTokenCommands(program: Command, globals: () => GlobalOptions): void {
  const token = program.command("token").description("scoped API tokens (read-only) for consoles, dashboards and metric scrapers");
  token
    .command("create [name]")
    .description("issue a read-only token and print its secret (shown once; the engine keeps only its hash)")
    .option("--read-only", "the token may read everything (console, /metrics, /events) and change nothing")
    .action(async (name: string | undefined, o: { readOnly?: boolean }) => {
      // One scope exists today; asking for it explicitly keeps a later admin scope from being the silent default.
      if (!o.readOnly) throw new Error("token create needs --read-only (the only scope an issued token can have; the admin token is <state folder>/token)");
      const g = globals();
      const created = await clientFor(g).tokens.create({ name: name ?? `read-only-${randomBytes(4).toString("hex")}`, scope: "read-only" });
      print(g.json, created, (t) => `${t.token}\n(read-only token ${t.name}, ${t.id}: store it now, it is not shown again)`);
    });
  token
    .command("ls")
    .description("list issued tokens (never their secrets)")
    .action(async () => {
      const g = globals();
      print(g.json, await clientFor(g).tokens.list(), rows);
    });
  token
    .command("revoke <id-or-name>")
    .description("revoke a token: requests carrying it answer 401 from now on")
    .action(async (idOrName: string) => {
      const g = globals();
      await clientFor(g).tokens.revoke(idOrName);
      print(g.json, { revoked: idOrName }, () => `revoked token ${idOrName}`);
    });
}
