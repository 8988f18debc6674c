import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  compactBot,
  compactChannels,
  compactSync,
  compactWho,
  isoSeconds,
  renderCompactBot,
  renderCompactChannels,
  renderCompactSync,
  renderCompactVerify,
  renderCompactWho,
} from '../../node/compact.js';
import { CH, TRANSCRIPT } from './compact-transcript.js';

const fixture = (name: string) =>
  readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8').replace(/\n$/, '');

describe('compact sync_messages', () => {
  const full = { messages: TRANSCRIPT, cursor: '9', more: false };

  it('renders the known transcript as the pinned text', () => {
    expect(renderCompactSync(compactSync(full, CH))).toBe(fixture('compact-sync.txt'));
  });

  it('keeps the channel once, exact, and drops event ids, author keys and milliseconds', () => {
    const c = compactSync(full, CH);
    expect(c.channel).toBe(CH);
    const json = JSON.stringify(c);
    expect(json.split(CH).length - 1).toBe(1);
    for (const m of TRANSCRIPT) {
      expect(json).not.toContain(m.id);
      expect(json).not.toContain(m.author);
    }
    expect(c.messages.every((m) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(m.at))).toBe(true);
  });

  it('names an author once per result, and not when the slot already says it', () => {
    const c = compactSync(full, CH);
    expect(c.messages.filter((m) => m.from === 'invite:bob').map((m) => m.name)).toEqual([
      'Bob',
      undefined,
      undefined,
      undefined,
    ]);
    expect(c.messages.filter((m) => m.from === 'bot:guess').every((m) => m.name === undefined)).toBe(true);
  });

  it('keeps kind, to, meta, verification and the order of messages', () => {
    const c = compactSync(full, CH);
    expect(c.messages.map((m) => m.seq)).toEqual(TRANSCRIPT.map((m) => m.seq));
    expect(c.messages[4]).toEqual({
      seq: 5,
      from: 'bot:guess',
      kind: 'hint',
      to: 'invite:bob',
      verification: 'verified',
      at: '2026-11-29T20:27:50Z',
      body: 'lower',
    });
    expect(c.messages[5].meta).toEqual({ action_type: 'advice' });
  });

  it('carries the channel on each message when every channel was read', () => {
    const other = { ...TRANSCRIPT[3], channel: 'other0000000000000000a', seq: 10, from_name: 'Robert' };
    const c = compactSync({ messages: [TRANSCRIPT[3], other], cursor: '10', more: true }, null);
    expect(c.channel).toBeUndefined();
    expect(c.messages.map((m) => [m.channel, m.name])).toEqual([
      [CH, 'Bob'],
      ['other0000000000000000a', 'Robert'],
    ]);
    expect(renderCompactSync(c)).toBe(
      [
        'cursor 10 · more: call again with this cursor',
        `#4 2026-11-29T20:27:50Z @${CH} invite:bob (Bob) guess: 50`,
        '#10 2026-11-29T20:27:50Z @other0000000000000000a invite:bob (Robert) guess: 50',
      ].join('\n'),
    );
  });

  it('says when there is nothing new, with the cursor to pass back', () => {
    expect(renderCompactSync(compactSync({ messages: [], cursor: '9', more: false }, CH))).toBe(
      `no new messages (channel ${CH}, cursor 9)`,
    );
  });

  it('shows the name again when the holder of a slot changes within a result', () => {
    const next = { ...TRANSCRIPT[3], seq: 10, from_name: 'Carol' };
    const c = compactSync({ messages: [TRANSCRIPT[3], TRANSCRIPT[7], next], cursor: '10', more: false }, CH);
    expect(c.messages.map((m) => m.name)).toEqual(['Bob', undefined, 'Carol']);
  });

  it('costs at most 60 bytes of text per message beyond the body', () => {
    const text = renderCompactSync(compactSync(full, CH));
    const overhead =
      (Buffer.byteLength(text) - TRANSCRIPT.reduce((n, m) => n + Buffer.byteLength(m.body), 0)) / TRANSCRIPT.length;
    expect(overhead).toBeLessThanOrEqual(60);
  });
});

describe('compact who, list_channels, get_bot, verify_channel', () => {
  const who = {
    members: [
      {
        slot: 'owner',
        id: 'A1ice0000000000000000000000000000000000000k',
        name: 'Alice',
        role: 'owner' as const,
        is_bot: false,
        online: true,
      },
      {
        slot: 'invite:bob',
        id: 'B0b00000000000000000000000000000000000000bk',
        name: 'Bob',
        role: 'member' as const,
        is_bot: false,
        online: false,
        status: 'working',
        note: 'on it',
      },
      { slot: 'bot:guess', id: 'bot:guess', name: 'guess', role: 'member' as const, is_bot: true, online: true },
    ],
    waiting: [{ slot: 'invite:carol', id: 'C4rol000000000000000000000000000000000000ck', name: 'Carol' }],
    withholding: [],
    refused_relays: ['ws://127.0.0.1:4000 sent a delete'],
  };

  it('who drops member keys and renders one line per member', () => {
    const c = compactWho(who);
    expect(JSON.stringify(c)).not.toMatch(/A1ice|B0b0|C4rol/);
    expect(c.members[1]).toEqual({
      slot: 'invite:bob',
      name: 'Bob',
      role: 'member',
      is_bot: false,
      online: false,
      status: 'working',
      note: 'on it',
    });
    expect(renderCompactWho(c)).toBe(fixture('compact-who.txt'));
  });

  it('list_channels drops relay value limits only', () => {
    const full = {
      channels: [
        {
          channel: CH,
          name: 'number game',
          slot: 'owner',
          epoch: 1,
          closed: false,
          relays: [{ url: 'ws://127.0.0.1:4000', connected: true, value_limit: 4000 }],
        },
      ],
      total: 1,
    };
    const c = compactChannels(full);
    expect(c.channels[0]).toEqual({ ...full.channels[0], relays: [{ url: 'ws://127.0.0.1:4000', connected: true }] });
    expect(renderCompactChannels(c)).toBe(
      `${CH} "number game" · as owner · epoch 1 · relays ws://127.0.0.1:4000 (connected)`,
    );
    expect(renderCompactChannels({ channels: [], total: 0 })).toBe('no channels');
    expect(renderCompactChannels({ channels: [], total: 0 }, { match: 'game' })).toBe(
      'no channel\'s name contains "game"',
    );
  });

  it('list_channels says which page it shows and how to see the rest', () => {
    const entry = { channel: CH, name: 'n', slot: 'owner', epoch: 1, closed: false, relays: [] };
    const line = `${CH} "n" · as owner · epoch 1 · relays `;
    expect(renderCompactChannels({ channels: [entry, entry], total: 2 })).toBe(`${line}\n${line}`);
    expect(renderCompactChannels({ channels: [entry, entry], total: 120 })).toBe(
      `${line}\n${line}\nchannels 1–2 of 120, most recent first; pass offset 2 for the next ones, or match to ` +
        'find one by name',
    );
    expect(renderCompactChannels({ channels: [entry], total: 120 }, { offset: 119 })).toBe(
      `${line}\nchannels 120–120 of 120, most recent first`,
    );
    expect(renderCompactChannels({ channels: [], total: 120 }, { offset: 500 })).toBe(
      'no channels from offset 500 (120 in all)',
    );
  });

  it('get_bot drops the source and the runner key, and shortens the hash', () => {
    const full = {
      slot: 'bot:guess',
      code: 'export default {}'.repeat(100),
      code_hash: 'ab'.repeat(32),
      runner: 'A1ice0000000000000000000000000000000000000k',
      runner_slot: 'owner',
      runner_is_neutral: true,
      secret: false,
      engine: 'qjs-0123456789abcdef',
      state: 'running' as const,
      waiting_inputs: 0,
      note: 'The runner published its seed.',
      steps: 4,
      verified: 4,
      pending: 0,
      mismatches: 0,
    };
    const c = compactBot(full);
    expect(c).not.toHaveProperty('code');
    expect(c).not.toHaveProperty('runner');
    expect(c.code_hash).toBe(`${'ab'.repeat(8)}…`);
    expect(renderCompactBot(c)).toBe(
      `bot:guess · running · runner owner (neutral) · engine qjs-0123456789abcdef · code ` +
        `sha256 ${'ab'.repeat(8)}…\nsteps 4: 4 verified, 0 pending, 0 mismatches\nThe runner published its seed.`,
    );
  });

  it('verify_channel renders every field as lines', () => {
    const v = {
      ok: false,
      events: 57,
      bots: [{ slot: 'bot:guess', steps: 12, verified: 11, pending: 0, mismatches: 1 }],
      problems: ['bot:guess step 7 does not replay'],
    };
    expect(renderCompactVerify(v)).toBe(
      'NOT ok · 57 events\nbot:guess: 12 steps, 11 verified, 0 pending, 1 mismatches\nproblems:\n- bot:guess step 7 ' +
        'does not replay',
    );
    expect(renderCompactVerify({ ok: true, events: 3, bots: [], problems: [] })).toBe('ok · 3 events\nno problems');
  });

  it('times are ISO seconds in UTC', () => {
    expect(isoSeconds(Date.UTC(2026, 0, 2, 3, 4, 5, 999))).toBe('2026-01-02T03:04:05Z');
  });
});
