/**
 * Exported transcripts: the signed, decrypted history of a channel, verifiable offline without any key.
 *
 *   { format: "parley-transcript", v: 1, channel, name, exported_at, events: [{ id, dnum, body, sig }],
 *     refused?: [{ id, body, sig, reason }] }
 *
 * `body` is the exact canonical JSON that was signed and `sig` its base64url Ed25519 signature, so a verifier
 * checks every signature, every author chain, lamport clocks, causal order and membership rules from the file
 * alone. Event ids are hashes of the *sealed* bytes, which a transcript does not carry; chains link by those ids,
 * so they are checked as given (a changed body breaks its signature, a dropped event breaks its successor's chain).
 * `refused` carries the authentic events the exporting node refused (a forged channel.create, a non-member's post):
 * evidence the verifier re-checks and reports, never delivers.
 */
import { z } from 'zod';
import { fromB64u, toB64u, utf8 } from '../protocol/bytes.js';
import { parseBody, verifyEventSignature, type EventBody } from '../protocol/event.js';
import { ChainTracker } from '../protocol/chain.js';
import { Membership } from './membership.js';
import { judgeEvent, type RuleBreak, type RuleState } from './event-rules.js';
import { MismatchClaimSchema } from '../bots/payloads.js';
import { MAX_REFUSED_ROWS, type DeliveredRow, type RefusedRow } from './store.js';

export const TranscriptSchema = z.object({
  format: z.literal('parley-transcript'),
  v: z.literal(1),
  channel: z.string(),
  name: z.string(),
  exported_at: z.string(),
  events: z.array(z.object({ id: z.string(), dnum: z.number().int(), body: z.string(), sig: z.string() })),
  refused: z
    .array(z.object({ id: z.string(), body: z.string(), sig: z.string(), reason: z.string().max(500) }))
    .max(MAX_REFUSED_ROWS)
    .optional(),
});
export type Transcript = z.infer<typeof TranscriptSchema>;

export function buildTranscript(
  ch: string,
  name: string,
  rows: DeliveredRow[],
  refused: RefusedRow[] = [],
): Transcript {
  return {
    format: 'parley-transcript',
    v: 1,
    channel: ch,
    name,
    exported_at: new Date().toISOString(),
    events: rows.map((r) => ({ id: r.id, dnum: r.dnum, body: r.body, sig: toB64u(r.sig) })),
    ...(refused.length > 0
      ? { refused: refused.map((r) => ({ id: r.id, body: r.body, sig: toB64u(r.sig), reason: r.reason })) }
      : {}),
  };
}

export interface VerifiedEvent {
  id: string;
  body: EventBody;
}

export interface EventCheckReport {
  events: VerifiedEvent[];
  problems: string[];
}

/** Checks signatures, chains, causal order, lamport clocks and membership of a transcript's events. */
export function checkTranscriptEvents(
  t: Transcript,
  onProgress?: (done: number, total: number) => void,
): EventCheckReport {
  const problems: string[] = [];
  const events: VerifiedEvent[] = [];
  const membership = new Membership(t.channel);
  const lamports = new Map<string, number>();
  const rules: RuleState = {
    lamportOf: (id) => lamports.get(id),
    refusal: (id, body) => membership.refusal(id, body),
    chains: new ChainTracker(),
  };
  const state: CheckState = { membership, lamports, rules };
  t.events.forEach((e, i) => {
    if (onProgress && i % 1000 === 0) onProgress(i, t.events.length);
    const checked = checkEvent(e, t.channel, state);
    if (typeof checked === 'string') problems.push(`event #${i + 1} (${e.id.slice(0, 8)}): ${checked}`);
    else events.push(checked);
  });
  onProgress?.(t.events.length, t.events.length);
  problems.push(...state.membership.problems(), ...refusedProblems(t, state.membership));
  return { events, problems };
}

/** What the events so far have established, for checking the next one. */
interface CheckState {
  membership: Membership;
  lamports: Map<string, number>;
  rules: RuleState;
}

/** One transcript event, checked and applied to `state` if it passes; else what is wrong with it. */
function checkEvent(e: Transcript['events'][number], channel: string, state: CheckState): VerifiedEvent | string {
  const signed = authentic(e, channel);
  if (!signed.ok) return signed.problem;
  const b = signed.body;
  // Causal order is the file's order: every dependency must come earlier (nextLamport would count it as 0).
  for (const d of [...b.deps, ...(b.prev ? [b.prev] : [])]) {
    if (state.lamports.get(d) === undefined) return `depends on ${d.slice(0, 8)}, which is missing or comes later`;
  }
  const broken = judgeEvent(e.id, b, state.rules);
  if (broken) return broken.rule === 'membership' ? broken.reason : TRANSCRIPT_PROBLEM[broken.rule];
  state.membership.apply(e.id, b);
  state.lamports.set(e.id, b.lamport);
  return { id: e.id, body: b };
}

/** How a broken rule reads in a transcript check (a membership refusal reads as its own reason). */
const TRANSCRIPT_PROBLEM: Record<Exclude<RuleBreak['rule'], 'membership'>, string> = {
  lamport: 'wrong lamport clock',
  defer: 'comes before channel.create',
  equivocation: 'equivocation',
  chain: 'broken author chain',
};

/** The exporting node's refusals, re-judged against the verified membership. */
function refusedProblems(t: Transcript, membership: Membership): string[] {
  const problems: string[] = [];
  for (const e of t.refused ?? []) {
    // Only authentic evidence counts: anyone could write an unsigned line into a file.
    const signed = authentic(e, t.channel);
    if (!signed.ok) continue;
    const b = signed.body;
    const verdict = membership.refusal(e.id, b);
    const now = verdict === 'defer' ? 'there is no channel.create' : verdict;
    problems.push(
      `refused ${b.type} (${e.id.slice(0, 8)}) by ${b.author.slice(0, 8)}: ` +
        `${now ?? `${e.reason} (according to the exporting node)`}`,
    );
  }
  return problems;
}

/** A transcript line's body, if it is a valid event of this channel signed by its author; else what is wrong. */
function authentic(
  e: { body: string; sig: string },
  channel: string,
): { ok: true; body: EventBody } | { ok: false; problem: string } {
  const bytes = utf8(e.body);
  const parsed = parseBody(bytes);
  if (!parsed.ok) return { ok: false, problem: `body is not a valid event (${parsed.reason})` };
  const sig = fromB64u(e.sig, 64);
  if (!sig || !verifyEventSignature(bytes, sig, parsed.body.author)) return { ok: false, problem: 'bad signature' };
  if (parsed.body.ch !== channel) return { ok: false, problem: 'belongs to another channel' };
  return { ok: true, body: parsed.body };
}

export const FraudProofSchema = z.object({
  format: z.literal('parley-fraud-proof'),
  v: z.literal(1),
  claim: MismatchClaimSchema,
  transcript: TranscriptSchema,
});
export type FraudProof = z.infer<typeof FraudProofSchema>;

export function buildFraudProof(claim: FraudProof['claim'], transcript: Transcript): FraudProof {
  return { format: 'parley-fraud-proof', v: 1, claim, transcript };
}
