// examples/hello-mcp as a git repository of a build stack's git daemon, built FROM the hub-less
// busybox base the stack provides.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../scripts/stack/paths.js';
import type { BuildStack } from './build-stack.js';
import { createGitRepo } from './git-fixture.js';
import { helloMcpDockerfile } from './mcp-probe.js';

export function helloMcpRepo(stack: BuildStack, name: string, dockerfileName = 'Dockerfile') {
  const dir = join(PROJECT_ROOT, 'examples', 'hello-mcp');
  return createGitRepo({
    dir: join(stack.gitDir, name),
    files: {
      Dockerfile: helloMcpDockerfile(stack.base.reference, dockerfileName),
      'mcp.cgi': readFileSync(join(dir, 'mcp.cgi'), 'utf8'),
    },
  });
}
