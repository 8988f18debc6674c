/** The resource-hungry bots, shared by tests/bots/metering.test.ts and tests/e2e/bot-limits.test.ts. */

/** The hashing bot: each 'attack' message hashes an 8 MB string 50 times through ctx.commit. */
export const HASHER = `export default {
  init(ctx) { ctx.state = { n: 0 }; },
  onMessage(ctx, msg) {
    ctx.state.n += 1;
    if (msg.kind === 'attack') {
      const big = 'x'.repeat(8 * 1024 * 1024);
      for (let i = 0; i < 50; i++) { ctx.commit(big + i); ctx.state.__commits = {}; }
    }
    ctx.post('ok', ctx.state.n);
  },
};`;

/** Keeps a 30 MB string per step in a module variable (outside the rolled-back state). */
export const BIG_STRINGS = `const keep = [];
export default {
  onMessage(ctx, msg) { keep.push('y'.repeat(30 * 1000 * 1000)); ctx.post('kept', keep.length); },
};`;

/** Keeps 250,000 small objects per step in a module variable. */
export const SMALL_OBJECTS = `const keep = [];
export default {
  onMessage(ctx, msg) { for (let i = 0; i < 250000; i++) keep.push({ i }); ctx.post('kept', keep.length); },
};`;
