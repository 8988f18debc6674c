/**
 * The replay thread (see bots/replayer.ts): runs the steps of every bot of the process that it is sent, each bot in
 * its own sandbox, one guest call per step in the order received, and posts the outcomes back in that order. It
 * keeps each bot's state (as the text its guest wrote), members and channel between steps, as an inline replayer
 * does.
 */
import { parentPort } from 'node:worker_threads';
import type { Json } from '../protocol/canonical.js';
import { HOOKS, loadBot } from './sandbox.js';
import { TextReplay, outcomeLine, type FromWorker, type ToWorker } from './replayer.js';

interface Hosted {
  replay: Promise<TextReplay>;
  members: Json;
  channel: Json;
  /** Work for this bot runs one message after another. */
  chain: Promise<void>;
  closed: boolean;
}

const port = parentPort!;
const bots = new Map<number, Hosted>();

port.on('message', (m: ToWorker) => {
  if (m.t === 'open') {
    bots.set(m.key, {
      replay: loadBot(m.source, m.limits).then((sb) => new TextReplay(sb)),
      members: [],
      channel: {},
      chain: Promise.resolve(),
      closed: false,
    });
    return;
  }
  const bot = bots.get(m.key);
  if (!bot) return;
  if (m.t === 'close') {
    bot.closed = true;
    bots.delete(m.key);
    bot.chain = bot.chain.then(async () => (await bot.replay).close()).catch(() => undefined);
    return;
  }
  bot.chain = bot.chain.then(() => replayBatch(bot, m.key, m.steps));
});

/** Replays one batch of step lines for a bot and posts their outcome lines back, in order. */
async function replayBatch(bot: Hosted, key: number, steps: string): Promise<void> {
  let replay: TextReplay | null = null;
  let broken: string | null = null;
  try {
    replay = await bot.replay;
  } catch (err) {
    broken = `the bot could not be started here: ${(err as Error).message}`;
  }
  const lines: string[] = [];
  for (const line of steps.split('\n')) {
    if (bot.closed) return;
    // hook index, now, four PRNG words, members or '', channel or '', argument JSON (see bots/replayer.ts).
    const f = line.split('\t', 8);
    let at = 8;
    for (const x of f) at += x.length;
    const argText = line.slice(at);
    if (f[6] !== '') bot.members = JSON.parse(f[6]) as Json;
    if (f[7] !== '') bot.channel = JSON.parse(f[7]) as Json;
    if (!replay || broken) {
      lines.push(outcomeLine({ status: 'unverifiable', reason: broken ?? 'no sandbox' }, ''));
      continue;
    }
    try {
      const r = replay.run(
        HOOKS[Number(f[0])],
        Number(f[1]),
        [Number(f[2]), Number(f[3]), Number(f[4]), Number(f[5])],
        argText,
        bot.members,
        bot.channel,
      );
      lines.push(outcomeLine(r.outcome, r.outputsText));
    } catch (err) {
      // The sandbox itself failed (not the bot): this and every later step of the bot cannot be replayed here.
      broken = `replay failed here: ${(err as Error).message}`;
      lines.push(outcomeLine({ status: 'unverifiable', reason: broken }, ''));
    }
  }
  const reply: FromWorker = { t: 'outcomes', key, outcomes: lines.join('\n') };
  port.postMessage(reply);
}
