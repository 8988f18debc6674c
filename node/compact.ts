/**
 * Compact tool results (issue 19): what an agent reads costs context, so by default results keep what it acts on
 * (who said what, of which kind, to whom, when, the verification mark, the ids it passes back) and drop what it
 * cannot use (event ids, author keys, millisecond times, bot source). Pure: full results in, compact results and
 * their text blocks out. `detail: "full"` bypasses all of this (node/tools/).
 */
import type { Message, Verification } from './messages.js';
import type { Role } from './payloads.js';

export type Detail = 'compact' | 'full';

export interface CompactMessage {
  seq: number;
  /** Only when the call read every channel; otherwise once, on the result. */
  channel?: string;
  from: string;
  /** The author's display name, only when it says more than the slot and differs from the last one shown for it. */
  name?: string;
  kind: string;
  body: string;
  to?: string;
  meta?: Record<string, unknown>;
  at: string;
  verification?: Verification;
}

export interface SyncResult {
  messages: Message[];
  cursor: string;
  more: boolean;
}

export interface CompactSync {
  channel?: string;
  messages: CompactMessage[];
  cursor: string;
  more: boolean;
}

/** ISO 8601 to the second: milliseconds mean nothing to an agent. */
export const isoSeconds = (ms: number): string => `${new Date(ms).toISOString().slice(0, 19)}Z`;

export function compactSync(full: SyncResult, channel: string | null): CompactSync {
  const shown = new Map<string, string>();
  const messages = full.messages.map((m) => {
    // Keys in the order of the text form, the body last.
    const out: CompactMessage = { seq: m.seq } as CompactMessage;
    if (channel === null) out.channel = m.channel;
    out.from = m.from;
    const key = `${m.channel} ${m.from}`;
    if (m.from_name !== m.from.slice(m.from.indexOf(':') + 1) && shown.get(key) !== m.from_name) out.name = m.from_name;
    shown.set(key, m.from_name);
    out.kind = m.kind;
    if (m.to !== undefined) out.to = m.to;
    if (m.verification !== undefined) out.verification = m.verification;
    if (m.meta !== undefined) out.meta = m.meta;
    out.at = isoSeconds(m.ts);
    out.body = m.body;
    return out;
  });
  return { ...(channel !== null ? { channel } : {}), messages, cursor: full.cursor, more: full.more };
}

/** One line per message, the body last; continuation lines of a multi-line body are indented. */
export function renderCompactSync(r: CompactSync): string {
  const head = [
    r.channel !== undefined ? `channel ${r.channel}` : null,
    `cursor ${r.cursor}`,
    r.more ? 'more: call again with this cursor' : null,
  ];
  if (r.messages.length === 0) return `no new messages (${head.filter(Boolean).join(', ')})`;
  const lines = [head.filter(Boolean).join(' · ')];
  for (const m of r.messages) {
    const parts = [`#${m.seq}`, m.at];
    if (m.channel !== undefined) parts.push(`@${m.channel}`);
    parts.push(m.name !== undefined ? `${m.from} (${m.name})` : m.from, m.kind);
    if (m.to !== undefined) parts.push(`→ ${m.to}`);
    if (m.verification !== undefined) parts.push(`[${m.verification}]`);
    if (m.meta !== undefined) parts.push(`meta ${JSON.stringify(m.meta)}`);
    lines.push(`${parts.join(' ')}: ${m.body.replace(/\n/g, '\n  ')}`);
  }
  return lines.join('\n');
}

export interface WhoMember {
  slot: string;
  id: string;
  name: string;
  role?: Role;
  is_bot: boolean;
  online: boolean;
  status?: string;
  note?: string;
}

export interface WhoResult {
  members: WhoMember[];
  waiting: { slot: string; id: string; name: string }[];
  withholding: string[];
  refused_relays: string[];
}

export type CompactWho = {
  members: Omit<WhoMember, 'id'>[];
  waiting: { slot: string; name: string }[];
  withholding: string[];
  refused_relays: string[];
};

/** Member keys go: no tool takes one (kick and roles name slots). */
export function compactWho(full: WhoResult): CompactWho {
  return {
    members: full.members.map(({ id: _id, ...m }) => m),
    waiting: full.waiting.map(({ slot, name }) => ({ slot, name })),
    withholding: full.withholding,
    refused_relays: full.refused_relays,
  };
}

export function renderCompactWho(r: CompactWho): string {
  const lines = r.members.map((m) => {
    const parts = [m.slot, m.name, m.is_bot ? 'bot' : (m.role ?? 'member'), m.online ? 'online' : 'offline'];
    if (m.status !== undefined) parts.push(m.note !== undefined ? `${m.status}: ${m.note}` : m.status);
    else if (m.note !== undefined) parts.push(m.note);
    return parts.join(' · ');
  });
  if (r.waiting.length > 0)
    lines.push(`waiting for admission: ${r.waiting.map((w) => `${w.slot} (${w.name})`).join(', ')}`);
  for (const w of r.withholding) lines.push(`withholding: ${w}`);
  for (const w of r.refused_relays) lines.push(`refused relay: ${w}`);
  return lines.join('\n');
}

export interface ChannelEntry {
  channel: string;
  name: string;
  slot: string;
  epoch: number;
  closed: boolean;
  expires_at?: string;
  relays: { url: string; connected: boolean; value_limit?: number; refused?: string }[];
}

/** A page of list_channels: the channels shown and how many there are in all (node/listing.ts). */
export interface ChannelList {
  channels: ChannelEntry[];
  total: number;
}

/**
 * A relay's value limit is this node's business (it sizes what it sends); an agent cannot act on it. A relay's
 * refusal stays: the agent can tell its user which relay refuses the channel and why.
 */
export function compactChannels(full: ChannelList): ChannelList {
  return {
    channels: full.channels.map((c) => ({
      ...c,
      relays: c.relays.map(({ url, connected, refused }) => ({ url, connected, ...(refused ? { refused } : {}) })),
    })),
    total: full.total,
  };
}

/** A line per channel; when the page does not show them all, a last line says how to see the rest. */
export function renderCompactChannels(r: ChannelList, args: { offset?: number; match?: string } = {}): string {
  const offset = args.offset ?? 0;
  if (r.total === 0) return args.match === undefined ? 'no channels' : `no channel's name contains "${args.match}"`;
  if (r.channels.length === 0) return `no channels from offset ${offset} (${r.total} in all)`;
  const lines = channelLines(r.channels);
  const end = offset + r.channels.length;
  if (offset > 0 || end < r.total) {
    const next = end < r.total ? `; pass offset ${end} for the next ones, or match to find one by name` : '';
    lines.push(`channels ${offset + 1}–${end} of ${r.total}, most recent first${next}`);
  }
  return lines.join('\n');
}

function channelLines(channels: ChannelEntry[]): string[] {
  return channels.map((c) => {
    const parts = [`${c.channel} "${c.name}"`, `as ${c.slot}`, `epoch ${c.epoch}`];
    if (c.closed) parts.push('closed');
    if (c.expires_at !== undefined) parts.push(`expires ${c.expires_at}`);
    const state = (x: (typeof c.relays)[number]) =>
      x.refused ? `refused: ${x.refused}` : x.connected ? 'connected' : 'down';
    parts.push(`relays ${c.relays.map((x) => `${x.url} (${state(x)})`).join(', ')}`);
    return parts.join(' · ');
  });
}

export interface BotInfo {
  slot: string;
  code: string;
  code_hash: string;
  runner: string;
  runner_slot: string;
  runner_is_neutral: boolean;
  secret: boolean;
  engine: string;
  state: 'running' | 'paused';
  waiting_inputs: number;
  note: string;
  steps: number;
  verified: number;
  pending: number;
  mismatches: number;
}

export type CompactBot = Omit<BotInfo, 'code' | 'runner'>;

/** The source (up to 256 KiB) and the runner's key go; the hash is shortened, enough to compare by eye. */
export function compactBot(full: BotInfo): CompactBot {
  const { code: _code, runner: _runner, ...rest } = full;
  return { ...rest, code_hash: `${full.code_hash.slice(0, 16)}…` };
}

export function renderCompactBot(b: CompactBot): string {
  return [
    `${b.slot} · ${b.state} · runner ${b.runner_slot}${b.runner_is_neutral ? ' (neutral)' : ''} · ` +
      `engine ${b.engine} · code sha256 ${b.code_hash}`,
    `steps ${b.steps}: ${b.verified} verified, ${b.pending} pending, ${b.mismatches} mismatches` +
      `${b.waiting_inputs > 0 ? ` · ${b.waiting_inputs} inputs waiting` : ''}${b.secret ? ' · secret seed' : ''}`,
    b.note,
  ].join('\n');
}

export interface VerifyResult {
  ok: boolean;
  events: number;
  bots: { slot: string; steps: number; verified: number; pending: number; mismatches: number }[];
  problems: string[];
}

/** verify_channel's fields are all ones an agent acts on; compact only changes the text from JSON to lines. */
export function renderCompactVerify(v: VerifyResult): string {
  const lines = [`${v.ok ? 'ok' : 'NOT ok'} · ${v.events} events`];
  for (const b of v.bots)
    lines.push(`${b.slot}: ${b.steps} steps, ${b.verified} verified, ${b.pending} pending, ${b.mismatches} mismatches`);
  lines.push(v.problems.length === 0 ? 'no problems' : `problems:\n${v.problems.map((p) => `- ${p}`).join('\n')}`);
  return lines.join('\n');
}
