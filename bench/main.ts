/**
 * `npm run bench -- <name>`: runs bench/<name>.ts (compiled to dist/bench/<name>.js). Each benchmark prints its
 * own figures beside a baseline measured in the same run, and the ratio.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const available = readdirSync(here)
  .filter((f) => f.endsWith('.js') && !['main.js', 'util.js'].includes(f))
  .map((f) => f.slice(0, -3))
  .sort();

const [name, ...args] = process.argv.slice(2);
if (!name || !available.includes(name)) {
  console.error(`usage: npm run bench -- <name> [options]\n\nbenchmarks: ${available.join(', ') || '(none built)'}`);
  process.exit(name ? 2 : 0);
}
const mod = (await import(`./${name}.js`)) as { main(args: string[]): Promise<void> };
await mod.main(args);
