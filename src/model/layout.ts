// The model as the engine sees it: a stack of dense layers, and the flat, named
// parameter layout (kernel then bias of every layer, Keras names) that weights,
// gradients, Adam state and checkpoints all follow.
import { glorotUniform, Rng } from '../data/rng.js';

export type Activation = 'relu' | 'tanh' | 'sigmoid' | 'linear';

export interface ModelSpec {
  inputSize: number;
  hidden: { units: number; activation: Activation }[];
  numClasses: number;
}

export interface ParamSpec {
  name: string;
  shape: number[];
  offset: number;
  size: number;
}

export interface ParamLayout {
  params: ParamSpec[];
  numParams: number;
}

/** The ordered, named parameter layout: kernel then bias of every dense layer, Keras names. */
export function paramLayout(model: ModelSpec): ParamLayout {
  const params: ParamSpec[] = [];
  let offset = 0;
  const sizes = [model.inputSize, ...model.hidden.map((h) => h.units), model.numClasses];
  for (let l = 0; l + 1 < sizes.length; l++) {
    const prefix = l === 0 ? 'dense' : `dense_${l}`;
    for (const [suffix, shape] of [['kernel', [sizes[l], sizes[l + 1]]], ['bias', [sizes[l + 1]]]] as const) {
      const size = shape.reduce((a, b) => a * b, 1);
      params.push({ name: `${prefix}/${suffix}`, shape: [...shape], offset, size });
      offset += size;
    }
  }
  return { params, numParams: offset };
}

/** Throws if two layouts differ: workers call it at start-up against the coordinator's. */
export function assertSameLayout(expected: ParamLayout, actual: ParamLayout): void {
  const a = JSON.stringify(expected);
  const b = JSON.stringify(actual);
  if (a !== b) throw new Error(`parameter layout mismatch: coordinator ${a}, worker ${b}`);
}

/** A parameter's region of a flat weights or gradient array (a view, not a copy). */
export function paramView(flat: Float32Array, p: ParamSpec): Float32Array {
  return flat.subarray(p.offset, p.offset + p.size);
}

/** Glorot-uniform kernels and zero biases, as Keras initialises Dense layers; seeded. */
export function initWeights(layout: ParamLayout, seed: number, out: Float32Array): void {
  const rng = new Rng(seed);
  for (const p of layout.params) {
    if (p.shape.length === 2) glorotUniform(rng, p.shape[0], p.shape[1], paramView(out, p));
    else paramView(out, p).fill(0);
  }
}
