// --deterministic: fixed micro-shards summed in order give bit-identical weights for
// any worker count; the normal mode agrees within float rounding and is reproducible.
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/settings/config.js';
import { maxRelDiff, trainPlanned } from '../helpers.js';

/** 20 steps of batch 128 (an epoch of 2,560 rows) with the given flags; returns the weights. */
async function weightsAfter20Steps(workers: number, extra: string[] = []): Promise<Float32Array> {
  const config = resolveConfig(['--workers', String(workers), '--epochs', '1', '--limit', '2560', ...extra]);
  const summary = await trainPlanned(config);
  expect(summary.steps).toBe(20);
  return summary.weights;
}

describe('deterministic mode', () => {
  it('1, 2, 3 and 4 workers end with byte-identical weights after 20 steps', async () => {
    const bytes = [];
    for (const workers of [1, 2, 3, 4]) {
      bytes.push(Buffer.from((await weightsAfter20Steps(workers, ['--deterministic'])).buffer));
    }
    for (const b of bytes.slice(1)) expect(b.equals(bytes[0])).toBe(true);
    // The weights moved: 20 Adam steps of lr 1e-3 change every kernel.
    const init = await trainPlanned(resolveConfig(['--workers', '1', '--epochs', '1', '--limit', '2560', '--lr', '1e-30', '--deterministic']));
    expect(Buffer.from(init.weights.buffer).equals(bytes[0])).toBe(false);
  });

  it('the same micro-shards with other row counts per micro-shard still agree across workers', async () => {
    const a = await weightsAfter20Steps(1, ['--deterministic', '--micro-shard-rows', '48']);
    const b = await weightsAfter20Steps(3, ['--deterministic', '--micro-shard-rows', '48']);
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
  });
});

describe('normal mode', () => {
  it('1 and 4 workers agree within 1e-5 relative after 20 steps (float summation order only)', async () => {
    const one = await weightsAfter20Steps(1);
    const four = await weightsAfter20Steps(4);
    expect(maxRelDiff(four, one)).toBeLessThan(1e-5);
  });

  it('the same worker count twice gives byte-identical weights (a run is reproducible)', async () => {
    const a = await weightsAfter20Steps(2);
    const b = await weightsAfter20Steps(2);
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
  });
});
