// Owns how every command creates the directories and files it writes to: a bounded
// mkdir -p, the probe of each output before any work starts, and the two errors of an
// output (refused at start-up: exit 2; a write that fails during the work: exit 1).
//
// Why not `mkdirSync(path, { recursive: true })`: in Node 20 it never returns when a
// parent exists but mkdir of the child fails with ENOENT (a path under /proc, a dangling
// symbolic link): the C++ walk steps back to the parent (EEXIST), forward to the child
// (ENOENT), and so on, blocking the event loop at 100% CPU, so not even a signal is
// handled. It also reports ENOENT for ENOSPC (nodejs/node#42808). `makeDirs` walks down
// once, one plain mkdir per missing directory, and throws the first real error.
import { closeSync, fsyncSync, mkdirSync, openSync, rmdirSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname, parse, resolve, sep } from 'node:path';

/** An output the command cannot write: refused before any work (exit 2). */
export class OutputError extends Error {
  readonly code = 'E_OUTPUT';
}

/** A write that failed while the command ran (ENOSPC, EIO, EROFS, EACCES, ...): exit 1. */
export class WriteError extends Error {
  readonly code = 'E_WRITE';
  constructor(
    /** The file or directory being written. */
    readonly path: string,
    /** The OS error code, e.g. 'ENOSPC'. */
    readonly errno: string,
    what = 'cannot write',
  ) {
    super(`${path}: ${what} (${errno})`);
  }
}

/** stat, or undefined when nothing is there (ENOENT, or ENOTDIR: a parent is a file). */
function statIfAny(path: string) {
  try {
    return statSync(path);
  } catch (e) {
    if (codeOf(e) === 'ENOENT' || codeOf(e) === 'ENOTDIR') return undefined;
    throw e;
  }
}

const codeOf = (e: unknown) => (e as NodeJS.ErrnoException).code ?? (e as Error).message;

/**
 * `e` as a WriteError naming `path`, when it is an OS error (it has a `syscall`); a
 * WriteError keeps its own path, and any other error (a bug, a CheckpointError) is
 * returned as it is.
 */
export function asWriteError(e: unknown, path: string): Error {
  if (e instanceof WriteError || !(e instanceof Error) || !('syscall' in e)) return e as Error;
  return new WriteError(path, codeOf(e));
}

/** Thrown by makeDirs: which directory could not be created, and why. */
class MakeDirError extends Error {
  constructor(readonly dir: string, readonly errno: string) {
    super(`${dir}: cannot create directory (${errno})`);
  }

  /** How a probe names it: `cannot create directory [DIR] (CODE)`, or `DIR is not a directory (ENOTDIR)`. */
  describe(target: string): string {
    if (this.errno === 'ENOTDIR') return `${this.dir} is not a directory (ENOTDIR)`;
    return `cannot create directory${this.dir === resolve(target) ? '' : ` ${this.dir}`} (${this.errno})`;
  }
}

/**
 * Creates `dir` and its missing parents, top down, each with one plain mkdir, and
 * returns the directories it created (top first). Throws MakeDirError naming the first
 * directory that could not be created; what it created before that stays.
 */
function makeDirsOrThrow(dir: string): string[] {
  const full = resolve(dir);
  const { root } = parse(full);
  const created: string[] = [];
  let path = root;
  for (const part of full.slice(root.length).split(sep).filter(Boolean)) {
    path = path === root ? root + part : path + sep + part;
    const st = statIfAny(path);
    if (st?.isDirectory()) continue;
    if (st) throw new MakeDirError(path, 'ENOTDIR');
    try {
      mkdirSync(path);
      created.push(path);
    } catch (e) {
      // EEXIST: created meanwhile by someone else (fine if it is a directory), or a
      // dangling symbolic link (stat above did not see it): then it cannot hold children.
      if (codeOf(e) !== 'EEXIST' || !statIfAny(path)?.isDirectory()) throw new MakeDirError(path, codeOf(e));
    }
  }
  return created;
}

/** mkdir -p for writers during a run: a failure is a WriteError naming the directory. */
export function makeDirs(dir: string): string[] {
  try {
    return makeDirsOrThrow(dir);
  } catch (e) {
    if (e instanceof MakeDirError) throw new WriteError(e.dir, e.errno, 'cannot create directory');
    throw e;
  }
}

/** Removes directories that a probe created, deepest first; only if still empty. */
function removeCreated(created: string[]): void {
  for (const d of [...created].reverse()) {
    try {
      rmdirSync(d);
    } catch {
      // not empty (someone else writes there now) or already gone: leave it
    }
  }
}

/**
 * Creates `dir` if needed, then writes, fsyncs and removes a probe file in it. Throws
 * OutputError naming `flag`, `dir` and the OS reason. Leaves nothing behind: every
 * directory it created is removed again (the command creates them for real later).
 */
export function probeDir(flag: string, dir: string): void {
  let created: string[] = [];
  try {
    created = makeDirsOrThrow(dir);
    probeWrite(dir);
  } catch (e) {
    if (e instanceof MakeDirError) throw new OutputError(`${flag} ${dir}: ${e.describe(dir)}`);
    throw new OutputError(`${flag} ${dir}: cannot write a file there (${codeOf(e)})`);
  } finally {
    removeCreated(created);
  }
}

/**
 * Probes a file output. 'append' (a log): an existing file is opened for append and
 * fsynced, its bytes untouched; a new one needs its directory, probed as by probeDir.
 * 'replace' (written to a temp file beside it, then renamed): the directory is probed
 * and the path must not be a directory.
 */
export function probeFile(flag: string, file: string, mode: 'append' | 'replace'): void {
  const st = statIfAny(file);
  if (st?.isDirectory()) throw new OutputError(`${flag} ${file}: is a directory (EISDIR)`);
  if (st && mode === 'append') {
    try {
      const fd = openSync(file, 'a');
      try {
        // A device or a pipe (/dev/null, /dev/stderr, a FIFO) takes writes but not fsync.
        if (st.isFile()) fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    } catch (e) {
      throw new OutputError(`${flag} ${file}: cannot open for append (${codeOf(e)})`);
    }
    return;
  }
  let created: string[] = [];
  try {
    created = makeDirsOrThrow(dirname(file));
    probeWrite(dirname(file));
  } catch (e) {
    const reason = e instanceof MakeDirError ? e.describe(file) : `cannot write in ${dirname(file)} (${codeOf(e)})`;
    throw new OutputError(`${flag} ${file}: ${reason}`);
  } finally {
    removeCreated(created);
  }
}

/** Write one byte to a new file in `dir`, fsync, remove. */
function probeWrite(dir: string): void {
  const probe = `${dir}${sep}.probe-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
  let fd = -1;
  try {
    fd = openSync(probe, 'wx');
    writeSync(fd, 'p');
    fsyncSync(fd);
  } finally {
    if (fd >= 0) closeSync(fd);
    rmSync(probe, { force: true });
  }
}
