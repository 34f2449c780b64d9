#!/usr/bin/env node
// mcpctl without a build step: tsx's in-process ESM loader (no child process, so startup stays quick)
// compiles the TypeScript sources on first import and caches them.
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';

register({ tsconfig: fileURLToPath(new URL('../tsconfig.json', import.meta.url)) });
await import('./index.ts');
