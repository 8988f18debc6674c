/**
 * A test hook for store faults: PARLEY_FAULT_POSTS="3,7" makes the commit of this process's 3rd and 7th post fail
 * as a full disk does (SQLITE_FULL), after everything else in the post ran. Unset, it costs one comparison.
 */
const planned = new Set(
  (process.env.PARLEY_FAULT_POSTS ?? '')
    .split(',')
    .map((s) => Number(s.trim()))
    .filter((n) => Number.isInteger(n) && n > 0),
);
let posts = 0;

export class StoreFault extends Error {
  readonly code = 'SQLITE_FULL';
  override name = 'StoreFault';
}

/** Counts a post; throws if this one is planned to fail. */
export function failIfPlanned(): void {
  if (planned.size === 0) return;
  posts++;
  if (planned.has(posts)) throw new StoreFault(`database or disk is full (PARLEY_FAULT_POSTS, post ${posts})`);
}
