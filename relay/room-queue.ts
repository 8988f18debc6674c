/**
 * A room's work, one task at a time, in arrival order: storage is asynchronous, and each task must see the room as
 * every earlier one left it. The messages a room receives in one event-loop turn (and while its previous task was
 * still waiting for the store) gather into one task: a batch.
 */

/** Resolves after the I/O callbacks of the current event-loop turn (the other messages of the turn) have run. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

export class RoomQueue<T> {
  private tail: Promise<void> = Promise.resolve();
  /** The items of the last queued batch while it has not started: later items join it. */
  private open: T[] | null = null;

  /** `failed`: what a task threw (the queue goes on with the next task). */
  constructor(private readonly failed: (err: unknown) => void) {}

  /** Resolves when every task queued so far has run. */
  idle(): Promise<void> {
    return this.tail;
  }

  enqueue(task: () => void | Promise<void>): void {
    // Whatever comes after this task must not join a batch queued before it.
    this.open = null;
    this.tail = this.tail.then(task).catch(this.failed);
  }

  /** Adds an item to the batch of this turn; the batch's task hands all its items to `run` once the turn is over. */
  gather(item: T, run: (batch: readonly T[]) => Promise<void>): void {
    let batch = this.open;
    if (batch === null) {
      const queued: T[] = [];
      this.enqueue(async () => {
        // Let the rest of this turn's messages join before the batch closes.
        await nextTurn();
        if (this.open === queued) this.open = null;
        await run(queued);
      });
      batch = this.open = queued;
    }
    batch.push(item);
  }
}
