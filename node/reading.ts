/**
 * Reading what channels hold: sync_messages (delivered messages after a cursor, long-polling for the first one),
 * the transcript resource, and verify_channel's report on what was delivered.
 */
import { type Channel, parseStoredBody } from './channel.js';
import { ToolError } from './errors.js';
import { type Message, renderEvent, type Verification } from './messages.js';
import type { NodeContext } from './node-context.js';

const MAX_WAIT_SECONDS = 50;

export interface SyncArgs {
  channel?: string;
  cursor?: string;
  limit?: number;
  wait_seconds?: number;
}

/** Delivered messages after a cursor; waits up to `wait_seconds` for the first one if there are none yet. */
export async function syncMessages(node: NodeContext, args: SyncArgs, signal?: AbortSignal) {
  const channel = args.channel ? node.channel(args.channel) : null;
  const scope = channel ? channel.ch : '*';
  let after = startCursor(node, args.cursor, scope);
  const limit = Math.min(Math.max(args.limit ?? 50, 1), 500);
  const deadline = Date.now() + Math.min(args.wait_seconds ?? 0, MAX_WAIT_SECONDS) * 1000;
  for (;;) {
    const rows = node.store.messagesSince(channel?.ch ?? null, after, limit + 1);
    const more = rows.length > limit;
    const page = rows.slice(0, limit);
    const messages: Message[] = [];
    for (const r of page) {
      const c = node.registry.get(r.ch);
      if (c) messages.push(...renderEvent(r.dnum, r.id, parseStoredBody(r), renderContext(c)));
    }
    const next = page.length > 0 ? page[page.length - 1].dnum : after;
    if (messages.length > 0 || Date.now() >= deadline || signal?.aborted) {
      node.store.setCursor(scope, next);
      return { messages, cursor: String(next), more };
    }
    after = next;
    await waitForDelivery(node, deadline - Date.now(), channel?.ch ?? null, signal);
  }
}

/** The cursor passed, or the one stored for this scope (a channel, or `*` for all). */
function startCursor(node: NodeContext, cursor: string | undefined, scope: string): number {
  if (cursor === undefined) return node.store.cursor(scope);
  if (!/^\d{1,15}$/.test(cursor)) {
    throw new ToolError(
      'The cursor is not one this node issued; pass back the cursor from a previous sync_messages, or omit it.',
    );
  }
  return Number(cursor);
}

/** Resolves on a delivery in `ch` (or any, for null), after `ms`, or when the call is aborted. */
function waitForDelivery(node: NodeContext, ms: number, ch: string | null, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      node.events.off('delivered', onDelivered);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const onDelivered = (which: string | null) => (which === null || ch === null || which === ch) && done();
    const timer = setTimeout(done, Math.max(0, ms));
    node.events.on('delivered', onDelivered);
    signal?.addEventListener('abort', done);
  });
}

/** What rendering a channel's events needs: its membership, and this node's mark on each bot step. */
export function renderContext(c: Channel) {
  return { membership: c.membership, verification: (stepId: string) => stepVerification(c, stepId) };
}

export function stepVerification(c: Channel, stepId: string): Verification | undefined {
  return c.bots.status(stepId);
}

/** The channel as text, one line per delivered message (the `parley://channel/<id>` resource). */
export function transcript(node: NodeContext, ref: string): string {
  const c = node.channel(ref);
  const lines: string[] = [`# ${c.row.name} (${c.ch})`];
  for (const r of node.store.deliveredAll(c.ch)) {
    for (const m of renderEvent(r.dnum, r.id, parseStoredBody(r), renderContext(c))) {
      const to = m.to ? ` → ${m.to}` : '';
      const mark = m.verification ? ` [${m.verification}]` : '';
      lines.push(
        `[${m.seq}] ${new Date(m.ts).toISOString()} ${m.from} (${m.from_name}) ${m.kind}${to}${mark}: ${m.body}`,
      );
    }
  }
  return lines.join('\n');
}

/** verify_channel: waits for ingest and the bots to settle, then reports every problem found. */
export async function verifyChannel(node: NodeContext, args: { channel: string }) {
  const c = node.channel(args.channel);
  await c.ingestIdle();
  await c.bots.idle();
  const bots = c.bots.report();
  const problems = [...c.ingestor.report(), ...c.membership.problems(), ...bots.problems, ...c.withholding()];
  const ok = problems.length === 0 && bots.bots.every((b) => b.mismatches === 0);
  return { ok, events: node.store.deliveredCount(c.ch), bots: bots.bots, problems };
}
