/** The token lives in this tab's session storage only: gone when the tab closes, never in a URL. */
const KEY = "clonefleet.token";

export function storedToken(): string | null {
  return sessionStorage.getItem(KEY);
}

export function storeToken(token: string): void {
  sessionStorage.setItem(KEY, token);
}

export function forgetToken(): void {
  sessionStorage.removeItem(KEY);
}
