// Where the project's own files are, whether this module runs compiled from dist/ or
// as TypeScript under vitest: walk up to the package.json.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
  return dir;
}

export const PROJECT_ROOT = findRoot();
export const DEFAULT_CONFIG_FILE = join(PROJECT_ROOT, 'config', 'default.jsonc');
/** Workers always run compiled JavaScript: Node 20 cannot start a .ts worker. */
export const WORKER_FILE = join(PROJECT_ROOT, 'dist', 'workers', 'gradient-worker.js');
