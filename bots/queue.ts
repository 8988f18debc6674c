/**
 * The bots' work queue: delivered events are handled one after another, in delivery order, after the delivering
 * call returns (delivery must not be re-entered, and a runner's own steps are delivered back while it works).
 * Most tasks finish synchronously (a per-event promise hop costs as much as a replayed step); only loading a
 * sandbox or posting waits. A task that throws is reported and the queue goes on.
 */
export type Task = () => void | Promise<void>;

export class TaskQueue {
  private readonly tasks: Task[] = [];
  private draining: Promise<void> | null = null;

  constructor(private readonly onError: (err: unknown) => void) {}

  push(task: Task): void {
    this.tasks.push(task);
    if (!this.draining) this.draining = this.drain();
  }

  /** The drain under way, or null when every task pushed so far has finished. */
  get running(): Promise<void> | null {
    return this.draining;
  }

  private async drain(): Promise<void> {
    await null;
    // The queue grows while it drains: the loop reads its live length.
    for (let i = 0; i < this.tasks.length; i++) {
      try {
        const pending = this.tasks[i]();
        if (pending) await pending;
      } catch (err) {
        this.onError(err);
      }
    }
    this.tasks.length = 0;
    this.draining = null;
  }
}
