// A model's topology JSON (model.toJSON()) made comparable across processes, and the
// difference between two topologies in one line.
//
// tfjs-layers names layers it is not given a name for by a per-process counter
// (`conv2d_Conv2D1`, then `conv2d_Conv2D2` for the next model built), and weight names
// follow the layer names. The same task would give other names in a resumed run, or in
// the second train() of one process. These auto names are renamed the Keras way
// (`conv2d`, `conv2d_1`, ...); names the user chose are kept.

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Every layer object ({class_name, config: {name}}) in a topology, nested models included. */
export function layersOf(topology: Json): { class_name: string; config: { name?: string } }[] {
  const out: { class_name: string; config: { name?: string } }[] = [];
  const walk = (v: Json) => {
    if (Array.isArray(v)) for (const x of v) walk(x);
    else if (v && typeof v === 'object') {
      if (typeof v.class_name === 'string' && v.config && typeof v.config === 'object' && !Array.isArray(v.config)) {
        out.push(v as unknown as { class_name: string; config: { name?: string } });
      }
      for (const x of Object.values(v)) walk(x);
    }
  };
  walk(topology);
  return out.filter((l) => typeof l.config.name === 'string');
}

const snake = (cls: string) => cls.replace(/(.)([A-Z][a-z0-9]+)/g, '$1_$2').replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase();

/** The topology with tfjs-layers' auto-generated layer and model names renamed the Keras way. */
export function canonicalTopology(topology: object): object {
  const renames = canonicalRenames(topology);
  // Layer names also appear in a functional model's inbound_nodes, input_layers and
  // output_layers: every string equal to a renamed name is renamed.
  const rename = (v: Json): Json => {
    if (typeof v === 'string') return renames.get(v) ?? v;
    if (Array.isArray(v)) return v.map(rename);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, rename(x)]));
    return v;
  };
  return rename(structuredClone(topology) as Json) as object;
}

/** tfjs-layers' auto-generated layer and model names of a topology, each to its Keras-way name. */
export function canonicalRenames(topology: object): Map<string, string> {
  const named = layersOf(topology as Json);
  const taken = new Set(named.map((l) => l.config.name!));
  const renames = new Map<string, string>();
  const counts = new Map<string, number>();
  for (const l of named) {
    const name = l.config.name!;
    const auto = /^(.+)_([A-Za-z0-9]+?)(\d+)$/.exec(name);
    const isAuto = auto && auto[2] === l.class_name && auto[1] === snake(l.class_name);
    const model = /^(sequential|model)_\d+$/.test(name) && (l.class_name === 'Sequential' || l.class_name === 'Model' || l.class_name === 'Functional');
    if (!isAuto && !model) continue;
    const base = model ? name.replace(/_\d+$/, '') : auto![1];
    for (;;) {
      const k = counts.get(base) ?? 0;
      counts.set(base, k + 1);
      const candidate = k === 0 ? base : `${base}_${k}`;
      if (!taken.has(candidate) || candidate === name) {
        renames.set(name, candidate);
        taken.add(candidate);
        break;
      }
    }
  }
  return renames;
}

/** The first place two topologies differ, as `path: A in the first, B in the second`, or null. */
export function topologyDifference(a: unknown, b: unknown, an: string, bn: string, path = 'modelTopology'): string | null {
  const show = (v: unknown) => (JSON.stringify(v) ?? 'nothing').slice(0, 80);
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      const at = layerLabel(a[i]) ?? layerLabel(b[i]);
      const d = topologyDifference(a[i], b[i], an, bn, `${path}[${i}]${at ? ` (${at})` : ''}`);
      if (d) return d;
    }
    return null;
  }
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
    for (const k of keys) {
      const d = topologyDifference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], an, bn, `${path}.${k}`);
      if (d) return d;
    }
    return null;
  }
  return JSON.stringify(a) === JSON.stringify(b) ? null : `${path}: ${show(a)} in ${an}, ${show(b)} in ${bn}`;
}

const layerLabel = (v: unknown) => {
  const l = v as { class_name?: unknown; config?: { name?: unknown } } | undefined;
  return l && typeof l.class_name === 'string' && typeof l.config?.name === 'string' ? `${l.class_name} ${l.config.name}` : null;
};
