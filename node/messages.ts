/**
 * What agents read: delivered events rendered as `Message`s (docs/DESIGN.md "MCP surface"). Chat messages map one to
 * one; membership and channel events become short notices (kind join/leave/status/system) so an agent sees who came and
 * went; a bot step becomes one message per output, all sharing the step's delivery number.
 */
import type { EventBody } from '../protocol/event.js';
import type { Membership } from './membership.js';

export type Verification = 'verified' | 'pending' | 'mismatch' | 'unverifiable';

export interface Message {
  id: string;
  channel: string;
  seq: number;
  from: string;
  from_name: string;
  author: string;
  kind: string;
  body: string;
  to?: string;
  meta?: Record<string, unknown>;
  ts: number;
  verification?: Verification;
}

export interface RenderContext {
  membership: Membership;
  verification(stepId: string): Verification | undefined;
}

// Long: one case per event type, each a few lines; together they read as one table.
export function renderEvent(dnum: number, id: string, b: EventBody, ctx: RenderContext): Message[] {
  const m = ctx.membership;
  const from = m.slotOf(b.author) ?? (b.author === m.owner ? 'owner' : `member:${b.author.slice(0, 8)}`);
  const base = { id, channel: b.ch, seq: dnum, from, from_name: m.nameOf(b.author), author: b.author, ts: b.ts };
  const p = b.payload as Record<string, unknown>;
  const notice = (kind: string, body: string): Message[] => [{ ...base, kind, body }];
  switch (b.type) {
    case 'message': {
      const msg: Message = { ...base, kind: String(p.kind), body: String(p.body) };
      if (typeof p.to === 'string') msg.to = p.to;
      if (p.meta && typeof p.meta === 'object') msg.meta = p.meta as Record<string, unknown>;
      return [msg];
    }
    case 'channel.create':
      return notice('system', `channel "${String(p.name)}" created`);
    case 'member.join': {
      const slot = String(p.slot);
      const state = m.claim(id)
        ? m.holder(slot)?.claim === id
          ? 'admitted'
          : m.pendingClaims().some((c) => c.id === id)
            ? 'waiting for admission'
            : 'not admitted'
        : 'refused';
      return [{ ...base, from: slot, kind: 'join', body: `${String(p.name)} claimed ${slot} (${state})` }];
    }
    case 'member.admit': {
      const c = m.claim(String(p.claim));
      const body =
        m.isEffective(id) && c ? `${c.name} joined as ${c.slot}` : `admission to ${String(p.slot)} without effect`;
      return [{ ...base, from: String(p.slot), from_name: c?.name ?? base.from_name, kind: 'join', body }];
    }
    case 'member.role':
      return notice(
        'system',
        m.isEffective(id)
          ? `${String(p.slot)} is now ${String(p.role)}`
          : `role change of ${String(p.slot)} without effect`,
      );
    case 'member.leave':
      return notice('leave', `${base.from_name} left`);
    case 'member.kick':
      return notice('system', `${String(p.slot)} was closed by ${base.from_name}`);
    case 'member.status':
      return notice('status', `${String(p.status)}${p.note ? `: ${String(p.note)}` : ''}`);
    case 'channel.update':
      return notice('system', `channel renamed to "${String(p.name)}"`);
    case 'channel.close':
      return notice('system', 'channel closed: no new messages can be posted');
    case 'bot.attach':
      return notice(
        'system',
        `bot ${String(p.bot)} attached (code sha256 ${String(p.code_hash).slice(0, 16)}…, ` +
          `runner ${String(p.runner).slice(0, 8)})`,
      );
    case 'bot.step': {
      const outputs = Array.isArray(p.outputs) ? (p.outputs as { kind: string; body: unknown; to?: string }[]) : [];
      const verification = ctx.verification(id);
      return outputs.map((o, i) => {
        const msg: Message = {
          ...base,
          id: `${id}:${i}`,
          from: String(p.bot),
          from_name: String(p.bot).slice(4),
          kind: String(o.kind),
          body: typeof o.body === 'string' ? o.body : JSON.stringify(o.body),
        };
        if (typeof o.to === 'string') msg.to = o.to;
        if (verification) msg.verification = verification;
        return msg;
      });
    }
    case 'bot.reveal':
      return notice('system', `bot ${String(p.bot)} revealed its seed: every step can now be verified`);
    case 'bot.runner':
      return notice(
        'system',
        `bot ${String(p.bot)} is run by ${ctx.membership.nameOf(String(p.runner))} from step ${String(p.from_step)}`,
      );
    default:
      return [];
  }
}
