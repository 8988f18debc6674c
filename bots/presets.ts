/** Built-in bots: plain JS module sources in bots/presets/*.js (shipped as source: their hash is what peers check). */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface Preset {
  source: string;
  /** True when the bot keeps hidden information (its steps stay pending until the runner reveals its seed). */
  secret: boolean;
  description: string;
}

const CATALOGUE: Record<string, { secret: boolean; description: string }> = {
  echo: { secret: false, description: 'replies to every chat message with kind "echo"' },
  guess: {
    secret: true,
    description: 'guess a secret number 1..100: kind "guess", body a number; hints higher/lower/correct',
  },
  blackjack: {
    secret: true,
    description: 'blackjack against the dealer with a committed shuffle: kinds "deal", "hit", "stand"',
  },
  tictactoe: { secret: false, description: 'two players, kind "move" with body 0-8 (row-major cell)' },
  dice: { secret: false, description: 'public dice rolls: kind "roll" with body like "2d6"' },
};

export const PRESET_NAMES = Object.keys(CATALOGUE);

/** Sources live beside this module in the repo and two levels up from dist/bots/. */
function presetDir(): string {
  for (const rel of ['../../bots/presets/', './presets/']) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(dir)) return dir;
  }
  throw new Error('the bots/presets directory is missing from this installation');
}

export function loadPreset(name: string): Preset {
  const entry = CATALOGUE[name];
  if (!entry) throw new Error(`unknown preset "${name}"; presets: ${PRESET_NAMES.join(', ')}`);
  return { source: readFileSync(`${presetDir()}${name}.js`, 'utf8'), ...entry };
}
