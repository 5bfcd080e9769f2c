import { defineConfig } from 'vitest/config';

// `npm test` runs both projects; `npm run test:unit` only the quick one (about 15 s):
// the numeric oracles and the parsers, without the end-to-end CLI, fault, signal,
// packaging and benchmark tests.
const UNIT = ['adam', 'config', 'idx', 'loss', 'shards', 'checkpoint', 'equivalence', 'workers', 'wasm-kernels', 'fused-layers'].map((n) => `test/${n}.test.ts`);

export default defineConfig({
  test: {
    // Tests start real worker pools and child processes: on 2 cores, run files one
    // or two at a time and give them room.
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 60_000,
    projects: [
      { extends: true, test: { name: 'unit', include: UNIT } },
      { extends: true, test: { name: 'e2e', include: ['test/**/*.test.ts'], exclude: UNIT } },
    ],
  },
});
