import { createContext } from "preact";
import { useContext, useEffect, useState } from "preact/hooks";
import { ApiError, type Api } from "./api";
import type { EngineEvent } from "./events";

/** What every view reaches: the signed-in API and the engine's change feed. */
export interface Live {
  api: Api;
  subscribe(listener: (e: EngineEvent) => void): () => void;
}

export const LiveContext = createContext<Live | null>(null);

export function useLive(): Live {
  const live = useContext(LiveContext);
  if (!live) throw new Error("useLive outside the signed-in console");
  return live;
}

/** A fetched resource: its data, or the error the engine answered with. */
export interface Resource<T> {
  data: T | null;
  error: ApiError | null;
  reload(): void;
}

/**
 * Fetches `path` and fetches it again when the change feed reports a change of one of `kinds`
 * (a record kind such as `vm`, or `job`), at most every 300 ms.
 */
export function useResource<T>(path: string | null, kinds: readonly string[]): Resource<T> {
  const { api, subscribe } = useLive();
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    if (!path) return;
    let current = true;
    api.get<T>(path).then(
      (d) => {
        if (!current) return;
        setData(d);
        setError(null);
      },
      (e: unknown) => current && setError(e instanceof ApiError ? e : new ApiError(0, "CF_CONSOLE", String(e))),
    );
    return () => {
      current = false;
    };
  }, [api, path, generation]);
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | null = null;
    const unsubscribe = subscribe((e) => {
      const kind = e.type === "job" ? "job" : e.kind;
      if (!kinds.includes(kind) || timer) return;
      timer = setTimeout(() => {
        timer = null;
        setGeneration((g) => g + 1);
      }, 300);
    });
    return () => {
      unsubscribe();
      if (timer) clearTimeout(timer);
    };
  }, [subscribe, kinds.join(",")]);
  return { data, error, reload: () => setGeneration((g) => g + 1) };
}
