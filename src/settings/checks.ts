// The checks of the settings' values, one per kind of value. A check returns null when
// the value is allowed, else what is allowed (the tail of a one-line error message).
// Each carries the type of the values it allows, so the settings table's types follow
// from its checks (src/settings/settings.ts).
import { parseMask } from '../model/labels.js';
import type { Activation } from '../model/layout.js';

/** `__allows` never exists at run time: it only carries T for the type checker. */
export type Check<T> = ((v: unknown) => string | null) & { readonly __allows?: T };

/** A check of one of a few strings; its choices let the tests see that each is documented. */
export type ChoiceCheck<T extends string> = Check<T> & { readonly choices: readonly T[] };

export const int = (min: number, max = Number.MAX_SAFE_INTEGER): Check<number> => (v) =>
  typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? null : `an integer from ${min}${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : ''}`;
export const bool: Check<boolean> = (v) => (typeof v === 'boolean' ? null : 'true or false');
export const positive: Check<number> = (v) => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? null : 'a number > 0');
export const nonNegative: Check<number> = (v) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? null : 'a number >= 0');
export const unit: Check<number> = (v) => (typeof v === 'number' && v >= 0 && v < 1 ? null : 'a number in [0, 1)');
export const oneOf = <T extends string>(choices: readonly T[]): ChoiceCheck<T> =>
  Object.assign((v: unknown) => (typeof v === 'string' && (choices as readonly string[]).includes(v) ? null : `one of ${choices.join(', ')}`), { choices });
/** Numbers in ascending order (strictly), each passing `each`: piecewise boundaries and values. */
export const numbers = (each: Check<number>, ascending = false): Check<number[]> => (v) => {
  const what = `a list of ${ascending ? 'ascending ' : ''}numbers, each ${each(NaN) ?? ''}`.replace(/, each $/, '');
  if (!Array.isArray(v) || v.some((x) => each(x) !== null)) return what;
  return ascending && v.some((x, i) => i > 0 && x <= v[i - 1]) ? what : null;
};
export const nullable = <T>(c: Check<T>): Check<T | null> => (v) => (v === null ? null : c(v));
export const str: Check<string> = (v) => (typeof v === 'string' && v.length > 0 ? null : 'a non-empty string');
/** The mask's text (odd, classes=1,3,7, ...); the run parses it once (src/settings/config.ts). */
export const mask: Check<string> = (v) => (typeof v !== 'string' ? 'a string' : (() => { const r = parseMask(v); return typeof r === 'string' ? r : null; })());

export interface ModelSettings {
  hidden: { units: number; activation: Activation }[];
  numClasses: number;
}
const ACTIVATIONS: readonly Activation[] = ['relu', 'tanh', 'sigmoid', 'linear'];
export const model: Check<ModelSettings> = (v) => {
  const allowed = `an object {"hidden": [{"units": n, "activation": ${ACTIVATIONS.join('|')}}, ...], "numClasses": n}`;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return allowed;
  const m = v as Record<string, unknown>;
  for (const k of Object.keys(m)) if (k !== 'hidden' && k !== 'numClasses') return `${allowed} (unknown key "${k}")`;
  if (int(2, 256)(m.numClasses) !== null) return `${allowed} with numClasses an integer from 2 to 256`;
  if (!Array.isArray(m.hidden)) return allowed;
  for (const h of m.hidden) {
    if (typeof h !== 'object' || h === null) return allowed;
    const layer = h as Record<string, unknown>;
    if (Object.keys(layer).some((k) => k !== 'units' && k !== 'activation')) return `${allowed} (unknown key in a hidden layer)`;
    if (int(1, 65536)(layer.units) !== null || !ACTIVATIONS.includes(layer.activation as Activation)) return allowed;
  }
  return null;
};
