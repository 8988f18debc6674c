/**
 * `npm run bench -- context [--messages N]`
 *
 * What tool results cost an agent's context (issue 19): bytes, and tokens estimated at 4 bytes each, of the text
 * block and of the structured content that real `parley mcp` nodes return over stdio, compact (the default) vs
 * `detail: "full"` (every field, the format before compaction). One relay, an owner and four members (five nodes)
 * and a guess bot; a fixed transcript of N chat messages with typical bodies (deterministic PRNG), posted round
 * robin by the five members, some addressed to a slot. Measured on the owner's node:
 *   - sync_messages over exactly those N messages, per message and per message beyond the body (target ≤ 60 B);
 *   - who with five members and the bot; list_channels;
 *   - a guess game played to the end by one member, then verify_channel and get_bot.
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { intOptions } from './lib/args.js';
import { Cleanup } from './lib/cleanup.js';
import { startNode, type BenchNode } from './lib/mcp.js';
import { startBenchRelay } from './lib/relays.js';
import { printTable } from './lib/table.js';
import { fmt, prng } from './util.js';

const WORDS = (
  'the build is green again but the flaky test in the parser suite still needs a look before we merge so please ' +
  'check the logs and tell me what you find next'
).split(' ');
const SLOTS = ['invite:bob', 'invite:carol', 'invite:dave', 'invite:erin'];

const textBytes = (r: CallToolResult) => Buffer.byteLength((r.content[0] as { text: string }).text);
const structBytes = (r: CallToolResult) => Buffer.byteLength(JSON.stringify(r.structuredContent));

/** Both modes of one call, in a table row per mode. */
async function both(node: BenchNode, tool: string, args: Record<string, unknown>) {
  return { compact: await node.result(tool, args), full: await node.result(tool, { ...args, detail: 'full' }) };
}

// Long: a benchmark script: set up, measure, print, in the order its output reads.
export async function main(args: string[]): Promise<void> {
  const o = intOptions(args, { messages: 200 });
  const cleanup = new Cleanup();
  try {
    const relay = await startBenchRelay('parley', cleanup);
    const nodes = await Promise.all(Array.from({ length: 5 }, () => startNode(cleanup, { relays: [relay.url] })));
    const [alice, ...others] = nodes;
    const created = await alice.call<{ channel: string; invites: Record<string, string> }>('create_channel', {
      name: 'context bench',
      slots: [...SLOTS, 'bot:guess'],
      bot: { preset: 'guess' },
      display_name: 'Alice',
    });
    const ch = created.channel;
    for (const [i, n] of others.entries())
      await n.call('join_channel', {
        invite_code: created.invites[SLOTS[i]],
        display_name: SLOTS[i].slice(7, 8).toUpperCase() + SLOTS[i].slice(8),
      });
    const start = (await alice.call<{ cursor: string }>('sync_messages', { channel: ch, limit: 500 })).cursor;

    const rnd = prng(19);
    const bodies: string[] = [];
    for (let i = 0; i < o.messages; i++) {
      const body = Array.from(
        { length: 6 + Math.floor(rnd() * 18) },
        () => WORDS[Math.floor(rnd() * WORDS.length)],
      ).join(' ');
      bodies.push(body);
      const to = rnd() < 0.2 ? { to: ['owner', ...SLOTS][Math.floor(rnd() * 5)] } : {};
      await nodes[i % 5].call('post_message', { channel: ch, body, ...to });
    }
    // Wait until the owner's node holds all of them, then read exactly them in both modes.
    for (let seen = 0, cursor = start; seen < o.messages; ) {
      const r = await alice.call<{ messages: { kind: string }[]; cursor: string }>('sync_messages', {
        channel: ch,
        cursor,
        limit: 500,
        wait_seconds: 10,
      });
      seen += r.messages.filter((m) => m.kind === 'chat').length;
      cursor = r.cursor;
    }
    const sync = await both(alice, 'sync_messages', { channel: ch, cursor: start, limit: 500 });
    const count = (sync.full.structuredContent as { messages: unknown[] }).messages.length;
    const bodyBytes = (sync.full.structuredContent as { messages: { body: string }[] }).messages.reduce(
      (n, m) => n + Buffer.byteLength(m.body),
      0,
    );

    const who = await both(alice, 'who', { channel: ch });
    const list = await both(alice, 'list_channels', {});

    // A guess game by bisection, then the checks an agent makes afterwards.
    const bob = others[0];
    let cursor = (await bob.call<{ cursor: string }>('sync_messages', { channel: ch, limit: 500 })).cursor;
    for (let lo = 1, hi = 100, done = false; !done; ) {
      const guess = Math.floor((lo + hi) / 2);
      await bob.call('post_message', { channel: ch, kind: 'guess', body: String(guess) });
      let hint: string | undefined;
      while (hint === undefined) {
        const r = await bob.call<{ messages: { from: string; kind: string; body: string }[]; cursor: string }>(
          'sync_messages',
          { channel: ch, cursor, wait_seconds: 20 },
        );
        if (r.messages.length === 0) throw new Error('the bot did not answer within 20 s');
        cursor = r.cursor;
        hint = r.messages.find((m) => m.from === 'bot:guess' && m.kind === 'hint')?.body;
      }
      if (hint === 'correct') done = true;
      else if (hint === 'higher') lo = guess + 1;
      else hi = guess - 1;
    }
    const verify = await both(alice, 'verify_channel', { channel: ch });
    const bot = await both(alice, 'get_bot', { channel: ch, slot: 'bot:guess' });

    console.log(
      `context cost of tool results: ${count} messages (bodies ${bodyBytes} B, ${fmt(bodyBytes / count, 1)} B ` +
        `each), 5 members and a guess bot, real parley mcp nodes over stdio; tokens ≈ bytes / 4\n`,
    );
    const perMsg = (r: CallToolResult, bytes: (r: CallToolResult) => number) => [
      fmt(bytes(r) / count, 1),
      fmt((bytes(r) - bodyBytes) / count, 1),
      fmt(bytes(r) / count / 4, 1),
    ];
    printTable([
      [
        'sync_messages, per message',
        'text B',
        'text B beyond body',
        'text ~tokens',
        'structured B',
        'structured B beyond body',
      ],
      [
        'compact (default)',
        ...perMsg(sync.compact, textBytes),
        fmt(structBytes(sync.compact) / count, 1),
        fmt((structBytes(sync.compact) - bodyBytes) / count, 1),
      ],
      [
        'full',
        ...perMsg(sync.full, textBytes),
        fmt(structBytes(sync.full) / count, 1),
        fmt((structBytes(sync.full) - bodyBytes) / count, 1),
      ],
    ]);
    const over = (textBytes(sync.compact) - bodyBytes) / count;
    console.log(
      `compact text overhead ${fmt(over, 1)} B/message beyond the body (target ≤ ` +
        `60: ${over <= 60 ? 'met' : 'missed'}); full/compact ` +
        `text ${fmt(textBytes(sync.full) / textBytes(sync.compact))}×\n`,
    );
    const row = (label: string, r: { compact: CallToolResult; full: CallToolResult }) => [
      label,
      String(textBytes(r.compact)),
      String(textBytes(r.full)),
      String(Math.round(textBytes(r.compact) / 4)),
      String(Math.round(textBytes(r.full) / 4)),
      String(structBytes(r.compact)),
      String(structBytes(r.full)),
    ];
    printTable([
      [
        'whole result',
        'compact text B',
        'full text B',
        'compact ~tokens',
        'full ~tokens',
        'compact structured B',
        'full structured B',
      ],
      row('who (5 members + bot)', who),
      row('list_channels (1 channel)', list),
      row('verify_channel after a game', verify),
      row('get_bot (guess preset)', bot),
    ]);
  } finally {
    await cleanup.run();
  }
}
