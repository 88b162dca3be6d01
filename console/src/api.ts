/** An error the engine answered with: its HTTP status and the engine's error code and message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The engine's HTTP API as the console uses it: same origin, the token in the Authorization
 * header (never in a URL), errors as ApiError with the engine's code.
 */
export class Api {
  constructor(private readonly token: string) {}

  get<T>(path: string): Promise<T> {
    return this.call<T>("GET", path);
  }

  post<T>(path: string, body: unknown = {}): Promise<T> {
    return this.call<T>("POST", path, body);
  }

  delete<T = void>(path: string): Promise<T> {
    return this.call<T>("DELETE", path);
  }

  /** The headers of an authenticated request (also used by the event stream). */
  headers(): Record<string, string> {
    return this.token ? { authorization: `Bearer ${this.token}` } : {};
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(path, {
      method,
      headers: { ...this.headers(), ...(body !== undefined ? { "content-type": "application/json" } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
      credentials: "omit",
      cache: "no-store",
    });
    const text = await res.text();
    const data = text ? (JSON.parse(text) as unknown) : undefined;
    if (!res.ok) {
      const e = (data as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new ApiError(res.status, e?.code ?? `HTTP_${res.status}`, e?.message ?? `the engine answered HTTP ${res.status}`);
    }
    return data as T;
  }
}

export const enc = encodeURIComponent;
