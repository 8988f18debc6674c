/** Writing a fraud proof to the profile when a runner's posted step does not replay here. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Channel } from './channel.js';
import type { LocalStore } from './store.js';
import { buildFraudProof, buildTranscript, type FraudProof } from './transcript.js';

/** A self-contained proof that a runner posted a step that does not replay; `parley verify` checks it offline. */
export function writeFraudProof(home: string, store: LocalStore, channel: Channel, claim: FraudProof['claim']): void {
  const dir = join(home, 'proofs');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, `${channel.ch}-${claim.bot.replace(/[^A-Za-z0-9_.-]/g, '_')}-${claim.n}.json`);
  const transcript = buildTranscript(channel.ch, channel.row.name, store.deliveredAll(channel.ch));
  writeFileSync(file, JSON.stringify(buildFraudProof(claim, transcript)) + '\n', { mode: 0o600 });
  console.error(
    `parley: bot ${claim.bot} step ${claim.n} does not replay (${claim.reason}); fraud proof written to ${file}`,
  );
}
