// The condition column beside the one-hot class: the rules that fill it (--mask) and
// the combined label of a row, [one-hot class (C columns) | condition (1 column)].

/** A mask rule: which classes get condition 1. `all` is plain cross-entropy. */
export type MaskRule =
  | { kind: 'odd' }
  | { kind: 'even' }
  | { kind: 'all' }
  | { kind: 'classes'; classes: number[] };

/** Parses --mask; returns an error message instead of throwing so the CLI can name the flag. */
export function parseMask(text: string): MaskRule | string {
  if (text === 'odd' || text === 'even' || text === 'all') return { kind: text };
  const m = /^classes=(\d+(?:,\d+)*)$/.exec(text);
  if (m) return { kind: 'classes', classes: [...new Set(m[1].split(',').map(Number))].sort((a, b) => a - b) };
  return 'odd, even, all or classes=1,3,7';
}

export function maskToString(rule: MaskRule): string {
  return rule.kind === 'classes' ? `classes=${rule.classes.join(',')}` : rule.kind;
}

export function conditionOf(label: number, rule: MaskRule): 0 | 1 {
  switch (rule.kind) {
    case 'odd': return label % 2 === 1 ? 1 : 0;
    case 'even': return label % 2 === 0 ? 1 : 0;
    case 'all': return 1;
    case 'classes': return rule.classes.includes(label) ? 1 : 0;
  }
}

/** Fills the per-row condition of a whole split (npm run eval's report of a checkpoint). */
export function fillConditions(labels: Uint8Array, rule: MaskRule, out: Uint8Array): void {
  for (let i = 0; i < labels.length; i++) out[i] = conditionOf(labels[i], rule);
}

/** The combined label of one row into out[offset .. offset+C]: one-hot, then the condition. */
export function writeCombinedLabel(label: number, condition: number, numClasses: number, out: Float32Array, offset: number): void {
  out.fill(0, offset, offset + numClasses);
  out[offset + label] = 1;
  out[offset + numClasses] = condition;
}

/**
 * The most probable class of each row of `values` ([rows, numClasses], probabilities
 * or logits), the first one on a tie, as tf.argMax, into `out`.
 */
export function argmaxRows(values: Float32Array, numClasses: number, out: Uint8Array = new Uint8Array(values.length / numClasses)): Uint8Array {
  for (let r = 0; r < out.length; r++) {
    let best = 0;
    for (let k = 1; k < numClasses; k++) if (values[r * numClasses + k] > values[r * numClasses + best]) best = k;
    out[r] = best;
  }
  return out;
}
