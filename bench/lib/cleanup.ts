/**
 * Everything a benchmark starts (temp dirs, child processes, sockets) registers its undo here; `run()` undoes it
 * in reverse order, also on Ctrl-C, so a bench leaves nothing behind whether it finishes or fails.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export class Cleanup {
  private readonly steps: (() => unknown)[] = [];
  private running: Promise<void> | null = null;
  private readonly onSignal = () => {
    void this.run().finally(() => process.exit(130));
  };

  constructor() {
    process.once('SIGINT', this.onSignal);
    process.once('SIGTERM', this.onSignal);
  }

  add(step: () => unknown): void {
    this.steps.push(step);
  }

  /** A fresh directory under the OS temp dir, removed by `run()`. */
  tempDir(prefix: string): string {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    this.add(() => rmSync(dir, { recursive: true, force: true }));
    return dir;
  }

  run(): Promise<void> {
    this.running ??= (async () => {
      while (this.steps.length > 0) {
        const step = this.steps.pop()!;
        try {
          await step();
        } catch (err) {
          console.error(`cleanup: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
      process.off('SIGINT', this.onSignal);
      process.off('SIGTERM', this.onSignal);
    })();
    return this.running;
  }
}
