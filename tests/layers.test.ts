/**
 * The folders' layering (docs/DESIGN.md "Layers"), checked on the sources: every relative import of every .ts file
 * must point at a folder its own folder may use. Shipped code: runtime ← protocol ← {relay, bots} ← node ← cli.
 * Code for tests and benchmarks: dev/ (used by both), tests/ and bench/ (neither uses the other); shipped code
 * uses none of the three.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const SHIPPED = ['runtime', 'protocol', 'relay', 'bots', 'node', 'cli'];

/** The folders each folder may import from (its own included). */
const MAY_USE: Record<string, readonly string[]> = {
  runtime: ['runtime'],
  protocol: ['runtime', 'protocol'],
  relay: ['runtime', 'protocol', 'relay'],
  bots: ['runtime', 'protocol', 'bots'],
  node: ['runtime', 'protocol', 'relay', 'bots', 'node'],
  cli: SHIPPED,
  dev: [...SHIPPED, 'dev'],
  bench: [...SHIPPED, 'dev', 'bench'],
  tests: [...SHIPPED, 'dev', 'tests'],
};

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'node_modules' && e.name !== 'fixtures' && e.name !== 'presets') out.push(...sources(path));
    } else if (e.name.endsWith('.ts')) out.push(path);
  }
  return out;
}

/** Relative module specifiers of static imports, re-exports and dynamic imports. */
function importsOf(text: string): string[] {
  const out: string[] = [];
  const from = /(?:^|[\s;])(?:import|export)\s[^'"`;]*?from\s*['"](\.[^'"]+)['"]/;
  const dynamic = /import\(\s*['"](\.[^'"]+)['"]\s*\)/;
  const bare = /^import\s*['"](\.[^'"]+)['"]/;
  const pattern = new RegExp([from, dynamic, bare].map((r) => r.source).join('|'), 'gm');
  for (const m of text.matchAll(pattern)) out.push(m[1] ?? m[2] ?? m[3]);
  return out;
}

/** Every import that crosses the layering, as "file → target". */
function violations(): string[] {
  const bad: string[] = [];
  for (const folder of Object.keys(MAY_USE)) {
    for (const file of sources(folder)) {
      for (const spec of importsOf(readFileSync(join(ROOT, file), 'utf8'))) {
        const target = relative(ROOT, resolve(ROOT, dirname(file), spec));
        const top = target.split(/[\\/]/)[0];
        if (!MAY_USE[folder].includes(top)) bad.push(`${file} → ${target}`);
      }
    }
  }
  return bad;
}

describe('layers', () => {
  it('no folder imports one above it, and shipped code imports no test or benchmark code', () => {
    expect(violations()).toEqual([]);
  });

  it('the check sees imports (it would catch an upward one)', () => {
    const text =
      `import { a } from '../node/config.js';\nexport * from './x.js';\nconst m = await ` + `import('../cli/main.js');`;
    expect(importsOf(text)).toEqual(['../node/config.js', './x.js', '../cli/main.js']);
    expect(importsOf(`import {\n  a,\n  b,\n} from '../bots/payloads.js';`)).toEqual(['../bots/payloads.js']);
  });
});
