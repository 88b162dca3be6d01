import { useEffect, useMemo, useState } from "preact/hooks";
import { Api, ApiError } from "./api";
import { EventHub, followEvents } from "./events";
import { LiveContext, type Live } from "./live";
import { forgetToken, storedToken, storeToken } from "./session";
import { DatastoresView, HostsView, ParentsView, PoolsView, ReplicasView, TemplatesView } from "./views/inventory";
import { FleetsView } from "./views/fleets";
import { JobsView } from "./views/jobs";
import { DatastoreLayersView, VmsView, VmView } from "./views/vms";

const PAGES: [string, string][] = [
  ["fleets", "Fleets"],
  ["vms", "VMs"],
  ["pools", "Pools"],
  ["templates", "Templates"],
  ["datastores", "Datastores"],
  ["parents", "Parents"],
  ["replicas", "Replicas"],
  ["hosts", "Hosts"],
  ["jobs", "Jobs"],
];

/** The page in the location hash (`#/vm/<id>`): hash routes need no server routes and carry no secret. */
function useRoute(): string[] {
  const read = () => location.hash.replace(/^#\/?/, "").split("/").filter(Boolean);
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const on = () => setRoute(read());
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return route.length ? route : ["fleets"];
}

function SignIn(props: { onToken: (t: string) => void }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState<ApiError | null>(null);
  return (
    <main class="sign-in">
      <h1>clonefleet</h1>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          setError(null);
          try {
            await new Api(token.trim()).get("/engine");
            props.onToken(token.trim());
          } catch (err) {
            setError(err instanceof ApiError ? err : new ApiError(0, "CF_CONSOLE", String(err)));
          }
        }}
      >
        <label>
          API token <input type="password" name="token" autocomplete="off" value={token} onInput={(e) => setToken((e.target as HTMLInputElement).value)} />
        </label>
        <button type="submit">Sign in</button>
        <p class="muted">The engine's token (&lt;state folder&gt;/token) or a read-only one (clonefleet token create --read-only). Kept in this tab only.</p>
        {error ? (
          <p class="error" role="alert">
            <code>{error.code}</code> {error.message}
          </p>
        ) : null}
      </form>
    </main>
  );
}

function Page(props: { route: string[] }) {
  const [page, id] = props.route;
  switch (page) {
    case "vms":
      return <VmsView />;
    case "vm":
      return <VmView id={id} />;
    case "pools":
      return <PoolsView />;
    case "templates":
      return <TemplatesView />;
    case "datastores":
      return <DatastoresView />;
    case "datastore":
      return <DatastoreLayersView id={id} />;
    case "parents":
      return <ParentsView />;
    case "replicas":
      return <ReplicasView />;
    case "hosts":
      return <HostsView />;
    case "jobs":
      return <JobsView />;
    default:
      return <FleetsView />;
  }
}

export function App() {
  const [token, setToken] = useState<string | null>(storedToken);
  const route = useRoute();
  const [connected, setConnected] = useState(false);
  const hub = useMemo(() => new EventHub(), [token]);
  const live = useMemo<Live | null>(() => (token === null ? null : { api: new Api(token), subscribe: hub.subscribe }), [token, hub]);
  useEffect(() => {
    if (!live) return;
    const abort = new AbortController();
    void followEvents(live.api, hub.emit, setConnected, abort.signal);
    return () => abort.abort();
  }, [live, hub]);
  if (!live) {
    return (
      <SignIn
        onToken={(t) => {
          storeToken(t);
          setToken(t);
        }}
      />
    );
  }
  return (
    <LiveContext.Provider value={live}>
      <header>
        <strong>clonefleet</strong>
        <nav>
          {PAGES.map(([key, label]) => (
            <a key={key} href={`#/${key}`} class={route[0] === key ? "current" : ""}>
              {label}
            </a>
          ))}
        </nav>
        <span class={connected ? "live on" : "live"} data-testid="live" data-live={connected ? "true" : "false"}>
          {connected ? "live" : "offline"}
        </span>
        <button
          type="button"
          onClick={() => {
            forgetToken();
            setToken(null);
          }}
        >
          Sign out
        </button>
      </header>
      <main>
        <Page route={route} />
      </main>
    </LiveContext.Provider>
  );
}
