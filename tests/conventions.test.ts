/**
 * Conventions checked on the sources, cheaply, instead of by review: test and dev code is typed (no explicit
 * `any`), and every document a comment or doc points to is in the repository.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function files(dir: string, ext: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'node_modules' && e.name !== 'fixtures') out.push(...files(path, ext));
    } else if (e.name.endsWith(ext)) out.push(path);
  }
  return out;
}

/** This file names the patterns it looks for. */
const SELF = 'tests/conventions.test.ts';

const EXPLICIT_ANY = /(?::\s*any\b|\bas any\b|<any>|\bany\[\])/;

describe('conventions', () => {
  it('tests and dev code have no explicit any', () => {
    const found: string[] = [];
    for (const file of [...files('tests', '.ts'), ...files('dev', '.ts')].filter((f) => f !== SELF)) {
      readFileSync(join(ROOT, file), 'utf8')
        .split('\n')
        .forEach((line, i) => {
          const code = line.replace(/\/\/.*$/, '');
          if (EXPLICIT_ANY.test(code) && !/^\s*\*/.test(code)) found.push(`${file}:${i + 1}: ${line.trim()}`);
        });
    }
    expect(found).toEqual([]);
  });

  it('every document a comment or doc points to is in the repository', () => {
    const folders = ['runtime', 'protocol', 'relay', 'bots', 'node', 'cli', 'dev', 'bench', 'tests'];
    const sources = folders.flatMap((d) => files(d, '.ts'));
    const missing: string[] = [];
    for (const file of [...sources, ...files('docs', '.md'), 'README.md'].filter((f) => f !== SELF)) {
      const text = readFileSync(join(ROOT, file), 'utf8');
      for (const m of text.matchAll(/(?<![\w./-])((?:docs|notes)\/[\w.-]+\.md|DESIGN\.md)/g)) {
        const ref = m[1];
        // A bare DESIGN.md inside docs/ is docs/DESIGN.md; anywhere else it must say docs/.
        const path = ref === 'DESIGN.md' && file.startsWith('docs/') ? 'docs/DESIGN.md' : ref;
        if (!existsSync(join(ROOT, path))) missing.push(`${file}: ${ref}`);
      }
    }
    expect(missing).toEqual([]);
  });
});
