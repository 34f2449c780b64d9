// The project's root, for files read at run time (migrations, the console's build, the workflows'
// sources, the stdio bridge's binaries). One module one level below the root says where it is: the
// same holds in the sources (lib/) and in the built entry points (dist/), where every module shares
// the bundle's location, so each caller's own depth would be wrong there.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
