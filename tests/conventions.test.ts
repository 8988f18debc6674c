/**
 * Conventions checked on the sources, cheaply, instead of by review: test and dev code is typed (no explicit
 * `any`), every document a comment or doc points to is in the repository, and the size limits of docs/STYLE.md
 * hold (lines, files, functions).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
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

/**
 * Files being edited in other branches, skipped by the size checks as Biome skips them: read from the marked
 * list in biome.jsonc, so there is one list. A pattern names a file, a folder, or (ending in *) a prefix.
 */
const EXCLUDED: string[] = (() => {
  const lines = readFileSync(join(ROOT, 'biome.jsonc'), 'utf8').split('\n');
  const from = lines.findIndex((l) => l.includes('EXCLUDED FILES'));
  const out: string[] = [];
  for (const line of lines.slice(from + 1)) {
    if (line.trim().startsWith(']')) break;
    const m = /^\s*"!([^"]+)"/.exec(line);
    if (m) out.push(m[1]);
  }
  return out;
})();

function excluded(file: string): boolean {
  return EXCLUDED.some((p) =>
    p.endsWith('*') ? file.startsWith(p.slice(0, -1)) : file === p || file.startsWith(`${p}/`),
  );
}

/** Every TypeScript source the size limits apply to. */
const SOURCES = [
  ...['runtime', 'protocol', 'relay', 'bots', 'node', 'cli', 'dev', 'bench', 'web', 'tests'].flatMap((d) =>
    files(d, '.ts'),
  ),
  'vitest.config.ts',
].filter((f) => !excluded(f));

const MAX_LINE = 120;
const MAX_FILE_LINES = 400;
const MAX_FUNCTION_LINES = 60;

/** Functions longer than MAX_FUNCTION_LINES without a `// Long: <reason>` comment just above them. */
function longFunctions(file: string, text: string): string[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const lines = text.split('\n');
  const found: string[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body && !isSuiteBody(node)) {
      const first = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const last = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      const length = last - first + 1;
      const statement = source.getLineAndCharacterOfPosition(enclosingStatement(node).getStart(source)).line;
      if (length > MAX_FUNCTION_LINES && !reasonAbove(lines, first) && !reasonAbove(lines, statement)) {
        found.push(`${file}:${first + 1}: ${functionName(node, source)} is ${length} lines`);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** A `describe(...)` callback only groups tests: its length is theirs. */
function isSuiteBody(node: ts.Node): boolean {
  const call = node.parent;
  if (!ts.isCallExpression(call)) return false;
  const callee = call.expression;
  const name = ts.isCallExpression(callee) ? callee.expression : callee;
  const text = name.getText();
  return text === 'describe' || text.startsWith('describe.');
}

/** The statement a function is written in: a callback's reason may stand above the call (`it(...)`). */
function enclosingStatement(node: ts.Node): ts.Node {
  let n = node;
  while (n.parent && !ts.isSourceFile(n.parent) && !ts.isBlock(n.parent) && !ts.isClassLike(n.parent)) n = n.parent;
  return n;
}

/** The comment lines directly above line `first` hold a `// Long: <reason>`. */
function reasonAbove(lines: string[], first: number): boolean {
  for (let i = first - 1; i >= 0 && /^\s*(\/\/|\/\*|\*)/.test(lines[i]); i--) {
    if (/^\s*\/\/ Long: \S/.test(lines[i])) return true;
  }
  return false;
}

function functionName(node: ts.SignatureDeclaration, source: ts.SourceFile): string {
  if (node.name) return node.name.getText(source);
  const parent = node.parent;
  if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent)) {
    return parent.name.getText(source);
  }
  if (ts.isCallExpression(parent)) {
    return `callback of ${parent.expression.getText(source).replace(/\s+/g, ' ').slice(0, 40)}`;
  }
  return 'anonymous function';
}

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

  it('no file is excluded from formatting, linting or these checks on main', () => {
    expect(EXCLUDED).toEqual([]);
    expect(excluded('node/channel.ts')).toBe(false);
  });

  it(`no line is over ${MAX_LINE} characters`, () => {
    const found: string[] = [];
    for (const file of SOURCES) {
      readFileSync(join(ROOT, file), 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (line.length > MAX_LINE) found.push(`${file}:${i + 1}: ${line.length} characters`);
        });
    }
    expect(found).toEqual([]);
  });

  it(`no source file is over ${MAX_FILE_LINES} lines unless its top comment says why`, () => {
    const found: string[] = [];
    for (const file of SOURCES) {
      const text = readFileSync(join(ROOT, file), 'utf8');
      const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
      const top = (ts.getLeadingCommentRanges(text, 0) ?? []).map((r) => text.slice(r.pos, r.end)).join('\n');
      if (lines > MAX_FILE_LINES && !/Over 400 lines: \S/.test(top)) found.push(`${file}: ${lines} lines`);
    }
    expect(found).toEqual([]);
  });

  it(`no function is over ${MAX_FUNCTION_LINES} lines unless a "// Long:" comment above it says why`, () => {
    const found = SOURCES.flatMap((file) => longFunctions(file, readFileSync(join(ROOT, file), 'utf8')));
    expect(found).toEqual([]);
  });
});
