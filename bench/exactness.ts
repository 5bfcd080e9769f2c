// How far one float array is from another: the measure the scale script, the kernel
// benchmark and the tests share.

/**
 * max |a - b| over max |b|: how far a reduced gradient is from a reference, relative to
 * the reference's largest entry (per-entry ratios blow up on entries near zero). The
 * exactness measure of the scale script and the equivalence tests.
 */
export function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return den === 0 ? num : num / den;
}
