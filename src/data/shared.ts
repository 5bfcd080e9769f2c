// Data in shared memory: what the readers decode into and what the workers read, held once.

/** A typed array's values in a SharedArrayBuffer of their own: its own buffer when it already is one. */
export function sharedBytes(a: Uint8Array | Float32Array): SharedArrayBuffer {
  if (a.buffer instanceof SharedArrayBuffer && a.byteOffset === 0 && a.byteLength === a.buffer.byteLength) return a.buffer;
  const sab = new SharedArrayBuffer(a.byteLength);
  new Uint8Array(sab).set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  return sab;
}
