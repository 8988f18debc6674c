/** Polls `f` until `ok` holds for its value (or `ms` passes, then throws with the last value): waiting on a condition, never a fixed sleep. */
export async function until<T>(f: () => Promise<T>, ok: (v: T) => boolean, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  let v = await f();
  while (!ok(v) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 150));
    v = await f();
  }
  if (!ok(v)) throw new Error(`condition not met: ${JSON.stringify(v)}`);
  return v;
}
