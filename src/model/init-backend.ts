// Setting a thread's TF.js backend (kept apart from backends.ts, which imports no TF.js).
import * as tf from '@tensorflow/tfjs-core';
import { registerWasmKernels } from './wasm-kernels/index.js';
import type { BackendName } from './backends.js';

/** Sets the backend and fails loudly: tf.setBackend returns false instead of throwing. */
export async function initBackend(name: BackendName): Promise<void> {
  if (name === 'wasm') {
    await import('@tensorflow/tfjs-backend-wasm');
    registerWasmKernels();
  }
  else if (name === 'cpu') await import('@tensorflow/tfjs-backend-cpu');
  // Opt-in only, never a dependency (docs/internals.md, engine decision 1): a user's install.
  else await import(['@tensorflow', 'tfjs-node'].join('/'));
  const ok = await tf.setBackend(name);
  if (!ok || tf.getBackend() !== name) {
    throw new Error(`could not initialise the TensorFlow.js '${name}' backend (tf.setBackend returned ${ok})`);
  }
}
