// The web console's build (npm run ui:build): served by the API at /ui from ui/dist, every asset
// bundled (no CDN). A .mjs file so the root tsconfig and its ESLint type information stay Node-only.
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

export default defineConfig({
  root: import.meta.dirname,
  base: '/ui/',
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true, chunkSizeWarningLimit: 1024 },
});
