// BatchMatMul on the wasm backend: XNNPACK serves only untransposed operands; a
// transposed one (every Dense weight and input gradient under autodiff) ran a scalar
// loop, 3.61 ms against 0.57 ms with an explicit Transpose first (x^T.dy, B=128;
// docs/internals.md, engine decision 10). The wrapper transposes first.
import * as tf from '@tensorflow/tfjs-core';
import type { Args, Info } from './backend.js';
import { call } from './backend.js';

/**
 * BatchMatMul with its transposes done first by the Transpose kernel, then the plain
 * (XNNPACK) product: the same values, summed in XNNPACK's order instead of the loop's.
 */
export function transposingMatMul(plain: tf.KernelFunc) {
  return ({ inputs, backend, attrs }: Args<{ a: Info; b: Info }, tf.BatchMatMulAttrs>): Info => {
    const { transposeA, transposeB } = attrs;
    if (!transposeA && !transposeB) return plain({ inputs, backend: backend as unknown as tf.KernelBackend, attrs: attrs as unknown as tf.NamedAttrMap }) as Info;
    const temps: Info[] = [];
    const swapLast = (x: Info) => {
      const perm = x.shape.map((_, i) => i);
      const r = perm.length;
      [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
      const t = call('Transpose', backend, { x }, { perm });
      temps.push(t);
      return t;
    };
    const a = transposeA ? swapLast(inputs.a) : inputs.a;
    const b = transposeB ? swapLast(inputs.b) : inputs.b;
    try {
      return plain({ inputs: { a, b }, backend: backend as unknown as tf.KernelBackend, attrs: { ...attrs, transposeA: false, transposeB: false } }) as Info;
    } finally {
      for (const t of temps) backend.disposeData(t.dataId);
    }
  };
}

