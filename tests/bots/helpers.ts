/** Drives a bot sandbox directly, the way bots/bot.ts does through its replayer, for unit tests. */
import { loadBot, type BotSandbox, type StepInput, type StepOutcome } from '../../bots/sandbox.js';
import { loadPreset } from '../../bots/presets.js';
import { sha256Hex } from '../../protocol/hash.js';
import type { Json } from '../../protocol/canonical.js';

export const rand = (label: string | number): string => sha256Hex(`test-random|${label}`);

export class Driver {
  state: Json | null = null;
  n = 0;
  readonly log: StepOutcome[] = [];
  constructor(readonly bot: BotSandbox) {}

  static async preset(name: string, params: Json = {}): Promise<Driver> {
    const d = new Driver(await loadBot(loadPreset(name).source));
    d.step('init', params);
    return d;
  }

  static async code(source: string, limits?: unknown): Promise<Driver> {
    return new Driver(await loadBot(source, limits));
  }

  step(hook: StepInput['hook'], arg: Json): StepOutcome {
    const out = this.bot.step({
      hook,
      arg,
      state: this.state,
      now: 1_700_000_000_000 + this.n,
      members: [],
      channel: { id: 'test', name: 'test' },
      random: rand(this.n++),
    });
    if (out.status !== 'unverifiable') this.state = out.state;
    this.log.push(out);
    return out;
  }

  msg(from: string, kind: string, body: Json): StepOutcome {
    return this.step('onMessage', {
      id: `m${this.n}`,
      from,
      name: from.replace(/^invite:/, ''),
      author: from,
      kind,
      body,
      ts: 0,
    });
  }

  close(): void {
    this.bot.close();
  }
}

export const outputsOf = (o: StepOutcome) => (o.status === 'unverifiable' ? [] : o.outputs);
