// Layers of a model run as fused ops on the workers (dense.ts, recurrent.ts): the same
// math as tfjs-layers, with fewer kernels and less engine and tape bookkeeping. Each
// layer this applies to gets an own `call` on the layer object (its class is untouched,
// and so is any other model); a layer whose settings a fused op does not implement keeps
// its stock call.
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { fusedConv2DCall, fusedDenseCall } from './dense.js';
import type { Conv2DLayer } from './dense.js';
import type { FusableLayer } from './layer.js';
import { fusedRecurrentCall } from './recurrent.js';
import type { RecurrentLayer } from './recurrent.js';

/** What the graph walk reads of a layer. */
interface GraphLayer extends FusableLayer {
  trainableWeights: unknown[];
  inboundNodes: { inboundLayers: GraphLayer[] }[];
}

/** Puts the model's fusable layers on their fused ops; returns their names and classes ("dense (Dense)"). */
export function fuseLayers(model: LayersModel): string[] {
  const fused: string[] = [];
  const trainableAbove = new Map<GraphLayer, boolean>();
  for (const layer of model.layers as unknown as GraphLayer[]) {
    const needsInputGrad = hasTrainableAbove(layer, trainableAbove);
    const call = fusedDenseCall(layer as unknown as Conv2DLayer, needsInputGrad)
      ?? fusedConv2DCall(layer as unknown as Conv2DLayer, needsInputGrad)
      ?? fusedRecurrentCall(layer as unknown as RecurrentLayer, needsInputGrad);
    if (!call) continue;
    layer.call = call;
    fused.push(`${layer.name} (${layer.getClassName()})`);
  }
  return fused;
}

/** Whether a layer with trainable weights feeds `layer`, directly or not: only then does anything read its input's gradient. */
function hasTrainableAbove(layer: GraphLayer, memo: Map<GraphLayer, boolean>): boolean {
  const known = memo.get(layer);
  if (known !== undefined) return known;
  let found = false;
  for (const node of layer.inboundNodes) {
    for (const above of node.inboundLayers) {
      if (above.trainableWeights.length > 0 || hasTrainableAbove(above, memo)) found = true;
    }
  }
  memo.set(layer, found);
  return found;
}
