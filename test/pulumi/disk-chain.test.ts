/** getDiskChain against a real engine on loopback. */
import * as path from "node:path";
import { getDiskChain, getDiskChainOutput } from "../../pulumi";
import { makeRawImage, startTestEngine, type TestEngine } from "../support/engine";

let engine: TestEngine;
let diskPath: string;
let contentId: string;

beforeAll(async () => {
  engine = await startTestEngine();
  const ds = await engine.client.datastores.create({ name: "chain", path: path.join(engine.dir, "chain") });
  const image = await makeRawImage(path.join(engine.dir, "base.raw"));
  const job = await engine.client.templates.import({ name: "base", datastore_id: ds.id, source_path: image });
  await engine.client.waitJob(job.id);
  const tpl = (await engine.client.templates.list())[0];
  diskPath = tpl.disk_path;
  contentId = tpl.content_id;
});

afterAll(async () => {
  await engine?.stop();
});

function conn(): { endpoint: string; token: string } {
  return { endpoint: engine.engine.url, token: engine.engine.token! };
}

test("layers come back in camelCase with their content IDs", async () => {
  const chain = await getDiskChain({ path: diskPath, ...conn() });
  expect(chain.path).toBe(diskPath);
  expect(chain.depth).toBe(1);
  expect(chain.layers[0]).toMatchObject({ path: diskPath, format: "qcow2", contentId, ownerKind: "template", backingPath: null });
  expect(chain.layers[0].virtualSizeBytes).toBe(16 * 1024 * 1024);
});

test("the connection falls back to CLONEFLEET_ENDPOINT and CLONEFLEET_TOKEN", async () => {
  process.env.CLONEFLEET_ENDPOINT = engine.engine.url;
  process.env.CLONEFLEET_TOKEN = engine.engine.token!;
  try {
    expect((await getDiskChain({ path: diskPath })).layers[0].contentId).toBe(contentId);
  } finally {
    delete process.env.CLONEFLEET_ENDPOINT;
    delete process.env.CLONEFLEET_TOKEN;
  }
});

test("the output form resolves like the promise form", async () => {
  const out = getDiskChainOutput({ path: diskPath, ...conn() });
  const chain = await new Promise<Awaited<ReturnType<typeof getDiskChain>>>((resolve) => out.apply(resolve));
  expect(chain.layers.map((l) => l.contentId)).toEqual([contentId]);
});

test("a path outside every datastore, or a wrong token, is one CF_ sentence", async () => {
  await expect(getDiskChain({ path: "/etc/hostname", ...conn() })).rejects.toThrow(
    /^CF_INVALID_FIELD: cannot read the disk chain of \/etc\/hostname: path: \/etc\/hostname is not inside any datastore$/,
  );
  await expect(getDiskChain({ path: diskPath, endpoint: engine.engine.url, token: "wrong" })).rejects.toThrow(/^CF_UNAUTHORIZED: .*refused the API token/);
});
