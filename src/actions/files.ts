import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rmdir, stat, unlink, writeFile as fsWriteFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { defineAction } from '../core/action.js';

/** Local files on the operator's machine, as reversible actions (used by the sample cookbook and by tests). */

interface FileState {
  exists: boolean;
  content?: string;
  /** Something that is not a file is in the way (writing over it fails at run time). */
  directory?: true;
}

function preview(content: string | undefined): string {
  if (content === undefined) return 'absent';
  if (content.length <= 40 && !/[\n\r]/.test(content.replace(/\n$/, ''))) return JSON.stringify(content);
  return `${Buffer.byteLength(content)} bytes (sha256 ${createHash('sha256').update(content).digest('hex').slice(0, 10)})`;
}

async function readState(path: string): Promise<FileState> {
  try {
    return { exists: true, content: await readFile(path, 'utf8') };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { exists: false };
    if ((e as NodeJS.ErrnoException).code === 'EISDIR') return { exists: true, directory: true };
    throw e;
  }
}

async function writeAtomically(path: string, content: string): Promise<void> {
  const tmp = `${path}.galley-${process.pid}.tmp`;
  await fsWriteFile(tmp, content);
  try {
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
}

/** Makes sure a directory exists; undo removes it if it did not (only when empty). */
export const ensureDirectory = defineAction<{ path: string }, { exists: boolean }>({
  kind: 'local.ensure-directory',
  describe: (p) => `create directory ${p.path}`,
  async observe(p) {
    try {
      const s = await stat(p.path);
      if (!s.isDirectory()) throw new Error(`${p.path} exists and is not a directory`);
      return { exists: true };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { exists: false };
      throw e;
    }
  },
  plan: (p, before) => (before.exists ? [] : [{ subject: p.path, from: 'absent', to: 'directory' }]),
  async apply(p) {
    await mkdir(p.path, { recursive: true });
  },
  async undo(p, before) {
    if (!before.exists) await rmdir(p.path);
  },
});

/** Writes a file (atomically); undo restores the previous content, or removes the file. */
export const writeFile = defineAction<{ path: string; content: string }, FileState>({
  kind: 'local.write-file',
  describe: (p) => `write ${p.path}`,
  observe: (p) => readState(p.path),
  plan: (p, before) =>
    before.content === p.content && !before.directory
      ? []
      : [
          {
            subject: p.path,
            from: before.directory ? 'a directory' : preview(before.content),
            to: preview(p.content),
          },
        ],
  async apply(p) {
    await mkdir(dirname(p.path), { recursive: true }).catch(() => undefined);
    await writeAtomically(p.path, p.content);
  },
  async undo(p, before) {
    // A directory in the way was never replaced (the write over it fails): nothing to put back.
    if (before.directory) return;
    if (before.exists) await writeAtomically(p.path, before.content ?? '');
    else
      await unlink(p.path).catch((e: NodeJS.ErrnoException) =>
        e.code === 'ENOENT' ? undefined : Promise.reject(e),
      );
  },
});

/** Removes a file; undo writes its previous content back. */
export const removeFile = defineAction<{ path: string }, FileState>({
  kind: 'local.remove-file',
  describe: (p) => `remove ${p.path}`,
  observe: (p) => readState(p.path),
  plan: (p, before) =>
    before.exists ? [{ subject: p.path, from: preview(before.content), to: 'absent' }] : [],
  async apply(p) {
    await unlink(p.path);
  },
  async undo(p, before) {
    if (before.exists) await writeAtomically(p.path, before.content ?? '');
  },
});

/** Reads a file (a read: runs in dry-run too). */
export async function readText(path: string): Promise<string | undefined> {
  return (await readState(path)).content;
}
