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
  else if (name === 'cpu') {
    await import('@tensorflow/tfjs-backend-cpu');
    quietCpuBackend();
  }
  // Opt-in only, never a dependency (docs/internals.md, engine decision 1): a user's install.
  else await import(['@tensorflow', 'tfjs-node'].join('/'));
  const ok = await tf.setBackend(name);
  if (!ok || tf.getBackend() !== name) {
    throw new Error(`could not initialise the TensorFlow.js '${name}' backend (tf.setBackend returned ${ok})`);
  }
}

/**
 * The cpu backend prints, on its first use in Node, advice to install tfjs-node (on
 * stderr, through console.warn). The trainer's backends are chosen on purpose (docs/
 * internals.md, engine decision 1) and the library writes nothing a user did not ask
 * for: the advice is marked as given. Only that advice: TF.js's other warnings stay.
 */
export function quietCpuBackend(): void {
  const cpu = tf.findBackend('cpu') as unknown as { firstUse?: boolean } | null;
  if (cpu) cpu.firstUse = false;
}
