/**
 * Offline verification of an exported transcript or a fraud proof: every signature, chain, lamport clock and
 * membership rule (node/transcript.ts), then every bot replayed from its attach in this process's own sandbox.
 */
import { ChannelBots, type BotReport } from '../bots/channel-bots.js';
import { checkTranscriptEvents, FraudProofSchema, TranscriptSchema, type Transcript } from './transcript.js';
import { Membership } from './membership.js';

export interface OfflineReport {
  kind: 'transcript' | 'fraud-proof';
  channel: string;
  name: string;
  events: number;
  bots: BotReport[];
  problems: string[];
  /** For a fraud proof: whether replay reproduced the claimed divergence. */
  proofHolds?: boolean;
  claim?: { bot: string; n: number; reason: string };
  ok: boolean;
}

/** Progress of a long verification: `phase` is what is being done, `done` of `total` events. */
export type Progress = (phase: 'checking events' | 'replaying bots', done: number, total: number) => void;

export async function verifyTranscript(
  t: Transcript,
  onProgress?: Progress,
): Promise<Omit<OfflineReport, 'kind' | 'ok'>> {
  const checked = checkTranscriptEvents(t, onProgress && ((done, total) => onProgress('checking events', done, total)));
  const membership = new Membership(t.channel);
  const bots = new ChannelBots(t.channel, membership, () => membership.name || t.name);
  const total = checked.events.length;
  for (let i = 0; i < total; i++) {
    const ev = checked.events[i];
    const b = ev.body;
    membership.apply(ev.id, b);
    bots.deliver(ev);
    // Replay runs behind delivery; waiting every thousand events keeps the progress honest.
    if (onProgress && i % 1000 === 999) {
      await bots.idle();
      onProgress('replaying bots', i + 1, total);
    }
  }
  await bots.idle();
  onProgress?.('replaying bots', total, total);
  const report = bots.report();
  bots.close();
  return {
    channel: t.channel,
    name: t.name,
    events: checked.events.length,
    bots: report.bots,
    problems: [...checked.problems, ...report.problems],
  };
}

/** Parses and verifies a file's JSON; throws Error with one sentence if it is neither format. */
export async function verifyFile(json: unknown, onProgress?: Progress): Promise<OfflineReport> {
  const proof = FraudProofSchema.safeParse(json);
  if (proof.success) {
    const r = await verifyTranscript(proof.data.transcript, onProgress);
    const { bot, n } = proof.data.claim;
    const holds = r.problems.some((p) => p.startsWith(`bot ${bot} step ${n}:`));
    return { kind: 'fraud-proof', ...r, claim: proof.data.claim, proofHolds: holds, ok: holds };
  }
  const t = TranscriptSchema.safeParse(json);
  if (!t.success) throw new Error('This file is neither a Parley transcript (parley export) nor a fraud proof.');
  const r = await verifyTranscript(t.data, onProgress);
  const ok = r.problems.length === 0 && r.bots.every((b) => b.mismatches === 0 && b.pending === 0);
  return { kind: 'transcript', ...r, ok };
}
