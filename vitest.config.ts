import { defineConfig } from 'vitest/config';

// `npm test` runs both projects; `npm run test:unit` only the quick one: the numeric
// oracles and the parsers (test/unit/), without the end-to-end CLI, fault, signal,
// packaging and benchmark tests (test/e2e/). A test file's folder is its project.
export default defineConfig({
  test: {
    // Tests start real worker pools and child processes: on 2 cores, run files one
    // or two at a time and give them room.
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 60_000,
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      { extends: true, test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'] } },
    ],
  },
});
