// Small files written durably and read with checked errors, for the checkpoint format:
// every OS error names its path (a WriteError on writes; a one-line problem on reads).
import { closeSync, fsyncSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { asWriteError } from './outputs.js';

/** Runs file-system work on `path`; an OS error becomes a WriteError naming `path` and its code. */
export function fsStep<T>(path: string, work: () => T): T {
  try {
    return work();
  } catch (e) {
    throw asWriteError(e, path);
  }
}

/** Cleanup after a failure: its own errors must not hide the failure being reported. */
export function bestEffort(work: () => void): void {
  try {
    work();
  } catch {
    // the next writer's settleReplacements / removeTemps finishes the job
  }
}

export function withFd(path: string, flags: string, use: (fd: number) => void): void {
  fsStep(path, () => {
    const fd = openSync(path, flags);
    try {
      use(fd);
    } finally {
      closeSync(fd);
    }
  });
}

/**
 * The data reaches the disk before the rename that publishes it, or the rename could
 * outrun it. `beforeWrite` is the test-only fault hook (TRAINER_WRITE_FAULTS).
 */
export const writeDurable = (path: string, data: Uint8Array | string, beforeWrite: () => void = () => undefined) =>
  withFd(path, 'w', (fd) => { beforeWrite(); writeFileSync(fd, data); fsyncSync(fd); });

/** Makes renames and new entries in `dir` durable. Windows cannot open a directory for this. */
export const fsyncDir = (dir: string) => { if (process.platform !== 'win32') withFd(dir, 'r', fsyncSync); };

/** A file's bytes, or a problem: 'missing' or 'cannot read (CODE)'. */
export function readBytes(path: string): Buffer | string {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? 'missing' : `cannot read (${code})`;
  }
}

export function readJson(path: string): { value?: unknown; problem?: string } {
  const buf = readBytes(path);
  return typeof buf === 'string' ? { problem: buf } : parseJson(buf);
}

export function parseJson(buf: Buffer): { value?: unknown; problem?: string } {
  try {
    return { value: JSON.parse(buf.toString('utf8')) as unknown };
  } catch {
    return { problem: 'not valid JSON' };
  }
}

