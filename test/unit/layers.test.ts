// The source folders are layers that only import downward, and no module imports itself
// back through others: read from the import lines of every file under src/.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/files/paths.js';

/** Lowest first: a folder may import its own files and those of folders before it. */
const LAYERS = ['data', 'files', 'model', 'optim', 'task', 'settings', 'engine', 'paths', 'checkpoint', 'metrics', 'run', 'report', 'profile', 'cli', 'index.ts'];
const SRC = join(PROJECT_ROOT, 'src');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** Every file's relative imports (static, type-only and dynamic), as .ts paths under src/. */
const graph = new Map(sources(SRC).map((file) => {
  const specs = [...readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*'(\.[^']+)'/g)].map((m) => m[1]);
  return [file, specs.map((s) => normalize(join(dirname(file), s)).replace(/\.js$/, '.ts'))];
}));
const layerOf = (file: string) => LAYERS.indexOf(relative(SRC, file).split('/')[0]);

describe('layers', () => {
  it('every folder of src/ has its place in the order', () => {
    for (const file of graph.keys()) expect(layerOf(file), relative(SRC, file)).toBeGreaterThanOrEqual(0);
  });

  it('no file imports a folder above its own', () => {
    const upward = [...graph].flatMap(([file, targets]) => targets.filter((t) => t.startsWith(SRC) && layerOf(t) > layerOf(file)).map((t) => `${relative(SRC, file)} -> ${relative(SRC, t)}`));
    expect(upward).toEqual([]);
  });

  it('no import circle', () => {
    const state = new Map<string, 'open' | 'done'>();
    const circles: string[] = [];
    const visit = (file: string, path: string[]) => {
      state.set(file, 'open');
      for (const t of graph.get(file) ?? []) {
        if (state.get(t) === 'open') circles.push([...path.slice(path.indexOf(t)), t].map((f) => relative(SRC, f)).join(' -> '));
        else if (!state.has(t) && graph.has(t)) visit(t, [...path, t]);
      }
      state.set(file, 'done');
    };
    for (const file of graph.keys()) if (!state.has(file)) visit(file, [file]);
    expect(circles).toEqual([]);
  });
});
