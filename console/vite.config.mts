import { defineConfig } from "vite";

// Built by `npm run build` into dist/console, served by the engine under /ui/.
export default defineConfig({
  base: "/ui/",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: "../dist/console",
    emptyOutDir: true,
    // The polyfill would be an inline script; the console's CSP allows none.
    modulePreload: { polyfill: false },
    sourcemap: false,
  },
});
