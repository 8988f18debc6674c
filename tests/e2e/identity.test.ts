/** `parley identity` export/import through the real CLI, and the node refusing an unsafe identity file. */
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, removeHome, startNode, tempHome } from '../helpers/mcp.js';

const homes: string[] = [];
afterAll(() => homes.forEach(removeHome));

function home(): string {
  const h = tempHome();
  homes.push(h);
  return h;
}

function parley(h: string, args: string[], passphrase?: string) {
  const env: NodeJS.ProcessEnv = { ...process.env, PARLEY_HOME: h };
  delete env.PARLEY_PASSPHRASE;
  if (passphrase !== undefined) env.PARLEY_PASSPHRASE = passphrase;
  const r = spawnSync(process.execPath, [CLI, 'identity', ...args], { env, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout.trim(), stderr: r.stderr.trim() };
}

describe('parley identity', () => {
  it('round-trips an identity through a passphrase-protected file', () => {
    const a = home();
    const b = home();
    const id = parley(a, ['show']).stdout;
    expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const file = join(a, 'backup.json');
    expect(parley(a, ['export', '-o', file], 'correct horse').code).toBe(0);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).not.toContain(
      readFileSync(join(a, 'identity.json'), 'utf8').match(/"seed":"([^"]+)"/)![1],
    );

    expect(parley(b, ['import', file], 'correct horse').code).toBe(0);
    expect(parley(b, ['show']).stdout).toBe(id);
    expect(statSync(join(b, 'identity.json')).mode & 0o777).toBe(0o600);
  });

  it('rejects a wrong passphrase, a tampered file and an existing identity with one clear line', () => {
    const a = home();
    const file = join(a, 'backup.json');
    expect(parley(a, ['export', '-o', file], 'right passphrase').code).toBe(0);

    const c = home();
    const wrong = parley(c, ['import', file], 'wrong passphrase');
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/passphrase/i);
    expect(wrong.stderr).not.toMatch(/\n\s+at /);

    const bad = join(a, 'bad.json');
    writeFileSync(bad, '{"format":"parley-identity","v":1,"garbage":true}');
    const tampered = parley(home(), ['import', bad], 'right passphrase');
    expect(tampered.code).toBe(1);
    expect(tampered.stderr).not.toMatch(/\n\s+at /);

    parley(c, ['show']);
    const exists = parley(c, ['import', file], 'right passphrase');
    expect(exists.code).toBe(1);
    expect(exists.stderr).toMatch(/already exists; pass --force/);
    expect(parley(c, ['import', file, '--force'], 'right passphrase').code).toBe(0);

    const short = parley(home(), ['export', '-o', join(a, 'short.json')], 'short');
    expect(short.code).toBe(1);
    expect(short.stderr).toMatch(/at least 8 characters/);
  });

  it('unknown actions print usage and exit 2', () => {
    const r = parley(home(), ['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/usage: parley identity/);
  });
});

describe('parley mcp and the identity file', () => {
  it('refuses a world-readable identity file with a clear message', async () => {
    const h = home();
    parley(h, ['show']);
    chmodSync(join(h, 'identity.json'), 0o644);
    const r = spawnSync(process.execPath, [CLI, 'mcp'], {
      env: { ...process.env, PARLEY_HOME: h },
      encoding: 'utf8',
      input: '',
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/readable by other users.*chmod 600/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('refuses a corrupt identity file', () => {
    const h = home();
    writeFileSync(join(h, 'identity.json'), '{not json', { mode: 0o600 });
    const r = spawnSync(process.execPath, [CLI, 'mcp'], {
      env: { ...process.env, PARLEY_HOME: h },
      encoding: 'utf8',
      input: '',
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/corrupt/);
  });

  it('a node started on an imported identity has the same member id', async () => {
    const a = home();
    const file = join(a, 'backup.json');
    const id = parley(a, ['show']).stdout;
    expect(parley(a, ['export', '-o', file], 'pass phrase').code).toBe(0);
    const b = home();
    expect(parley(b, ['import', file], 'pass phrase').code).toBe(0);
    const n = await startNode({ home: b, relays: ['ws://127.0.0.1:9'] });
    try {
      const list = await n.call('list_channels', {});
      expect(list.channels).toEqual([]);
      expect(readFileSync(join(b, 'identity.json'), 'utf8')).toBe(readFileSync(join(a, 'identity.json'), 'utf8'));
      expect(parley(b, ['show']).stdout).toBe(id);
    } finally {
      await n.close();
    }
  });
});
