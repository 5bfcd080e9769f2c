// The `tf` namespace handed to task modules: tfjs-core's ops and tfjs-layers' API in one
// object, as `import * as tf from '@tensorflow/tfjs'` gives them. Importing tfjs-layers
// also registers every gradient (docs/internals.md, engine decision 9).
import * as tfc from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import type { TaskModule } from './contract.js';

/** What `@tensorflow/tfjs` users know as `tf`: tfjs-core's ops plus tfjs-layers (`tf.layers`, `tf.sequential`, ...). */
export type Tf = typeof tfc & typeof tfl;

/** A task module as the trainer calls it. */
export type Task = TaskModule<Tf, tfc.Tensor, LayersModel>;

export const tf: Tf = Object.freeze({ ...tfc, ...tfl }) as Tf;

/**
 * The layer and object classes tfjs-layers registers for deserialisation, taken before
 * any task module runs: a class outside it is a user's custom class, which the
 * workers' stock modelFromJSON would not rebuild the same way.
 */
export const STOCK_CLASSES: ReadonlySet<string> = new Set(Object.keys(
  (tfc.serialization.SerializationMap.getMap() as unknown as { classNameMap: Record<string, unknown> }).classNameMap,
));

/**
 * The chained tensor methods (`t.slice(...)`, `t.reshape(...)`, `t.flatten()`) that the
 * `@tensorflow/tfjs` bundle adds to Tensor and tfjs-core's Node build does not: its
 * chained_ops modules use extensionless imports that Node's ESM loader cannot resolve.
 * A task writes TF.js as usual, and LSTM's Orthogonal initializer calls them too
 * (docs/internals.md, engine decision 10). Each method calls the op of the same name with
 * the tensor first, as tfjs-core's own chained_ops do.
 */
const CHAINED = ['abs', 'acos', 'acosh', 'add', 'all', 'any', 'argMax', 'argMin', 'asin', 'asinh', 'atan', 'atan2', 'atanh', 'batchNorm',
  'batchToSpaceND', 'broadcastTo', 'cast', 'ceil', 'clipByValue', 'conv1d', 'conv2d', 'cos', 'cosh', 'cumprod', 'cumsum', 'depthToSpace', 'div',
  'divNoNan', 'dot', 'elu', 'equal', 'erf', 'euclideanNorm', 'exp', 'expandDims', 'expm1', 'fft', 'floor', 'floorDiv', 'gather', 'greater',
  'greaterEqual', 'ifft', 'irfft', 'isFinite', 'isInf', 'isNaN', 'leakyRelu', 'less', 'lessEqual', 'log', 'log1p', 'logSigmoid', 'logSoftmax',
  'logSumExp', 'logicalAnd', 'logicalNot', 'logicalOr', 'logicalXor', 'matMul', 'max', 'maximum', 'mean', 'min', 'minimum', 'mirrorPad', 'mod',
  'mul', 'neg', 'norm', 'notEqual', 'oneHot', 'onesLike', 'pad', 'pool', 'pow', 'prelu', 'prod', 'reciprocal', 'relu', 'relu6', 'reshape',
  'reverse', 'rfft', 'round', 'rsqrt', 'selu', 'sigmoid', 'sign', 'sin', 'sinh', 'slice', 'softmax', 'softplus', 'spaceToBatchND', 'split',
  'sqrt', 'square', 'squaredDifference', 'squeeze', 'step', 'stridedSlice', 'sub', 'sum', 'tan', 'tanh', 'tile', 'topk', 'transpose', 'unique',
  'unstack', 'zerosLike'] as const;

type AnyFn = (...args: unknown[]) => unknown;

export function registerChainedOps(): void {
  const proto = tfc.Tensor.prototype as unknown as Record<string, AnyFn>;
  if (typeof proto.slice === 'function') return; // registered (here, or by the @tensorflow/tfjs bundle)
  const ops = tfc as unknown as Record<string, AnyFn>;
  const define = (name: string, fn: (t: tfc.Tensor, ...args: unknown[]) => unknown) => {
    proto[name] = function (this: tfc.Tensor, ...args: unknown[]) {
      if (this.isDisposed) throw new Error('Tensor is disposed.');
      return fn(this, ...args);
    };
  };
  for (const name of CHAINED) define(name, (t, ...args) => ops[name](t, ...args));
  define('flatten', (t) => tfc.reshape(t, [t.size]));
  define('as1D', (t) => tfc.reshape(t, [t.size]));
  define('as2D', (t, r, c) => tfc.reshape(t, [r as number, c as number]));
  define('as3D', (t, r, c, d) => tfc.reshape(t, [r as number, c as number, d as number]));
  define('as4D', (t, r, c, d, e) => tfc.reshape(t, [r as number, c as number, d as number, e as number]));
  define('as5D', (t, r, c, d, e, f) => tfc.reshape(t, [r as number, c as number, d as number, e as number, f as number]));
  define('asScalar', (t) => tfc.reshape(t, []));
  define('asType', (t, dtype) => tfc.cast(t, dtype as tfc.DataType));
  define('toFloat', (t) => tfc.cast(t, 'float32'));
  define('toInt', (t) => tfc.cast(t, 'int32'));
  define('toBool', (t) => tfc.cast(t, 'bool'));
  define('reshapeAs', (t, x) => tfc.reshape(t, (x as tfc.Tensor).shape));
  define('concat', (t, x, axis) => tfc.concat(x instanceof tfc.Tensor ? [t, x] : [t, ...(x as tfc.Tensor[])], axis as number));
  define('stack', (t, x, axis) => tfc.stack(x instanceof tfc.Tensor ? [t, x] : [t, ...(x as tfc.Tensor[])], axis as number));
  define('where', (t, condition, x) => tfc.where(condition as tfc.Tensor, t, x as tfc.Tensor));
}

registerChainedOps();
