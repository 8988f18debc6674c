import { readFileSync } from 'node:fs';
import { parseOptions, UsageError, type Command } from './command.js';
import { ready } from '../protocol/sodium.js';
import { verifyFile, type Progress } from '../node/offline-verify.js';
import { ENGINE_ID } from '../bots/sandbox.js';

/** A progress bar on stderr for big files, per phase: redrawn in place on a terminal, a line per quarter otherwise. */
function progress(total: number): Progress {
  if (total < 2000) return () => undefined;
  let lastPhase = '';
  let lastQuarter = -1;
  return (phase, done) => {
    if (phase !== lastPhase) [lastPhase, lastQuarter] = [phase, -1];
    const frac = total === 0 ? 1 : done / total;
    if (process.stderr.isTTY) {
      const width = 30;
      const fill = Math.round(frac * width);
      const bar = `[${'#'.repeat(fill)}${'.'.repeat(width - fill)}]`;
      process.stderr.write(`\r${phase.padEnd(15)} ${bar} ${done}/${total}${done === total ? '\n' : ''}`);
    } else if (Math.floor(frac * 4) > lastQuarter) {
      lastQuarter = Math.floor(frac * 4);
      process.stderr.write(`${phase}: ${Math.round(frac * 100)}% (${done}/${total})\n`);
    }
  };
}

/** How many events a transcript, or a fraud proof's transcript, holds: the progress bar's total (0 if neither). */
function eventCount(json: unknown): number {
  const file = json as { events?: unknown; transcript?: { events?: unknown } } | null | undefined;
  if (Array.isArray(file?.events)) return file.events.length;
  if (Array.isArray(file?.transcript?.events)) return file.transcript.events.length;
  return 0;
}

export const command: Command = {
  summary: 'verify an exported transcript or a fraud proof offline: signatures, chains, membership, bot replay',
  usage:
    'usage: parley verify <file> [--json]\n\nExit status 0 only if everything verifies (for a fraud proof: if the ' +
    'claimed divergence is reproduced).',
  async run(argv) {
    const { values, positionals } = parseOptions(argv, { json: { type: 'boolean' } });
    if (positionals.length !== 1) throw new UsageError('expected exactly one file');
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(positionals[0], 'utf8'));
    } catch (err) {
      console.error(
        `parley verify: cannot read ${positionals[0]}: ` +
          ((err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : 'not valid JSON'),
      );
      return 1;
    }
    await ready();
    const bar = progress(eventCount(json));
    let report;
    try {
      report = await verifyFile(json, bar);
    } catch (err) {
      console.error(`parley verify: ${(err as Error).message}`);
      return 1;
    }
    if (values.json) {
      console.log(JSON.stringify(report, null, 2));
      return report.ok ? 0 : 1;
    }
    console.log(
      `${report.kind === 'fraud-proof' ? 'fraud proof for' : 'transcript of'} "${report.name}" (${report.channel})`,
    );
    console.log(`  events authenticated: ${report.events}`);
    for (const b of report.bots) {
      console.log(
        `  bot ${b.slot}: ${b.steps} steps replayed — ${b.verified} verified, ${b.pending} pending, ` +
          `${b.mismatches} mismatches${b.unverifiable ? `, ${b.unverifiable} unverifiable` : ''}`,
      );
      if (b.needsEngine !== undefined)
        console.log(
          `  bot ${b.slot} needs engine ${b.needsEngine || '(none recorded)'}; this parley runs ` +
            `engine ${ENGINE_ID}: its steps are unverifiable here`,
        );
    }
    for (const p of report.problems) console.log(`  problem: ${p}`);
    const claimed = report.kind === 'fraud-proof' ? report.bots.find((b) => b.slot === report.claim!.bot) : undefined;
    if (claimed?.needsEngine !== undefined) {
      console.log(
        `fraud proof CANNOT BE CHECKED here: ${claimed.slot} needs ` +
          `engine ${claimed.needsEngine || '(none recorded)'}, this parley runs engine ${ENGINE_ID}`,
      );
    } else if (report.kind === 'fraud-proof') {
      console.log(
        report.proofHolds
          ? `FRAUD PROOF HOLDS: step ${report.claim!.n} of ${report.claim!.bot} does not replay ` +
              `(${report.claim!.reason})`
          : 'fraud proof does NOT hold: the claimed step replays correctly',
      );
    } else console.log(report.ok ? 'OK: everything verifies' : 'FAILED: see problems above');
    return report.ok ? 0 : 1;
  },
};
