// Where the development stack keeps its tools and data: both git-ignored folders of the project.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const TOOLS_BIN = join(PROJECT_ROOT, '.tools', 'bin');
export const DATA_DIR = join(PROJECT_ROOT, '.data');
export const TEMPORAL_BIN = join(TOOLS_BIN, 'temporal');
