import { defineConfig } from "vite";

// Built into ui/dist, which the app embeds (tauri.conf.json: build.frontendDist).
export default defineConfig({
  base: "./",
  build: { outDir: "dist", emptyOutDir: true, target: "es2022", sourcemap: false },
  clearScreen: false,
});
