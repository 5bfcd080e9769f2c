// What the fused layers read of a tfjs-layers layer (its public types do not show it).
import type * as tf from '@tensorflow/tfjs-core';

export type LayerCall = (inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) => tf.Tensor | tf.Tensor[];

export interface FusableLayer {
  name: string;
  getClassName(): string;
  call: LayerCall;
}

/** A layer weight: read() gives the variable itself, so the tape sees it. */
export interface Weight {
  read(): tf.Tensor;
}

/** The one input tensor of a call, or null when it has several. */
export function oneInput(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor | null {
  return Array.isArray(inputs) ? (inputs.length === 1 ? inputs[0] : null) : inputs;
}
