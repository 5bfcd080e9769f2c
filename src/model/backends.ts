// The TF.js backends a run can use (--backend), by name only: no TF.js import here, so
// that the settings' types (and the package's declarations) do not pull in TF.js's.
export const BACKENDS = ['wasm', 'cpu', 'tensorflow'] as const;
export type BackendName = typeof BACKENDS[number];
