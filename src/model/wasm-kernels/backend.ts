// What the replacement kernels use of the wasm backend, and how a kernel calls another.
import * as tf from '@tensorflow/tfjs-core';

export type Info = tf.TensorInfo;

/** What these kernels use of the wasm backend (BackendWasm): outputs in its heap, read in place. */
export interface WasmBackend {
  /** May grow the wasm memory, which detaches every heap view taken before: take views after it. */
  makeOutput(shape: number[], dtype: tf.DataType): Info;
  typedArrayFromHeap(t: Info): Float32Array | Int32Array;
  disposeData(dataId: tf.DataId): boolean;
}

export interface Args<I, A> {
  inputs: I;
  backend: WasmBackend;
  attrs: A;
}

/** Runs another wasm kernel from inside a kernel, as TF.js kernels call each other (through the registry, so a replacement or a timer is used). */
export function call(name: string, backend: WasmBackend, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap): Info {
  const config = tf.getKernel(name, 'wasm');
  if (!config) throw new Error(`the wasm backend has no ${name} kernel`);
  return config.kernelFunc({ inputs, backend: backend as unknown as tf.KernelBackend, attrs }) as Info;
}

/** Temporaries a kernel makes and frees before it returns. */
export class Temps {
  private readonly list: Info[] = [];
  constructor(private readonly backend: WasmBackend) {}
  keep(t: Info): Info {
    this.list.push(t);
    return t;
  }
  free(): void {
    for (const t of this.list) this.backend.disposeData(t.dataId);
    this.list.length = 0;
  }
}

/** The same buffer under another shape (a reshape without a kernel). */
export const reshaped = (t: Info, shape: number[]): Info => ({ dataId: t.dataId, shape, dtype: t.dtype });
