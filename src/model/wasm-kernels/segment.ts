// UnsortedSegmentSum, missing from the wasm backend: the gradient of Embedding.
import * as tf from '@tensorflow/tfjs-core';
import type { Args, Info } from './backend.js';

/** out[s, ...] = sum of x[i, ...] over the i whose id is s; ids outside [0, numSegments) are dropped (as in TensorFlow). */
export function unsortedSegmentSum({ inputs, backend, attrs }: Args<{ x: Info; segmentIds: Info }, tf.UnsortedSegmentSumAttrs>): Info {
  const { x, segmentIds } = inputs;
  const n = tf.util.sizeFromShape(segmentIds.shape);
  const inner = tf.util.sizeFromShape(x.shape) / Math.max(n, 1);
  const out = backend.makeOutput([attrs.numSegments, ...x.shape.slice(segmentIds.shape.length)], x.dtype);
  const [o, xv, ids] = [out, x, segmentIds].map((t) => backend.typedArrayFromHeap(t));
  o.fill(0);
  for (let i = 0; i < n; i++) {
    const s = ids[i];
    if (s < 0 || s >= attrs.numSegments) continue;
    for (let k = 0; k < inner; k++) o[s * inner + k] += xv[i * inner + k];
  }
  return out;
}

