/** A real small filesystem for disk-full tests: a tmpfs mounted in a temp dir (root only), grown or removed later. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SmallFilesystem {
  dir: string;
  resize(size: string): void;
  unmount(): void;
}

/** Mounts a tmpfs of `size` (e.g. "3m") at a new directory; null where that is not possible (not root). */
export function smallFilesystem(size: string): SmallFilesystem | null {
  if (process.getuid?.() !== 0) return null;
  const dir = mkdtempSync(join(tmpdir(), 'parley-small-fs-'));
  if (spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]).status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    return null;
  }
  return {
    dir,
    resize: (to) => void spawnSync('mount', ['-o', `remount,size=${to}`, dir]),
    unmount: () => {
      spawnSync('umount', [dir]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
