import { defineConfig } from "vitest/config";

// Built into ui/dist, which the app embeds (tauri.conf.json: build.frontendDist).
// Views are Preact function components written as TSX.
export default defineConfig({
  base: "./",
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  build: { outDir: "dist", emptyOutDir: true, target: "es2022", sourcemap: false },
  clearScreen: false,
  test: { include: ["src/**/*.test.ts", "src/**/*.test.tsx"] },
});
