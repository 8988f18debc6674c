/** `npm start` is the demo: a relay, two real MCP nodes playing guess, export and offline verification. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('npm start', () => {
  it('runs the demo green: both nodes and the offline verifier agree on every bot step', async () => {
    const t0 = Date.now();
    let firstOutputMs = -1;
    let out = '';
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn('npm', ['start', '--silent'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      const take = (d: Buffer) => {
        if (firstOutputMs < 0) firstOutputMs = Date.now() - t0;
        out += d;
      };
      child.stdout.on('data', take);
      child.stderr.on('data', take);
      child.on('exit', resolve);
    });
    console.log(`demo: first output after ${firstOutputMs} ms, finished in ${Date.now() - t0} ms`);
    expect(out, out).toMatch(/Bob guesses \d+ → bot says "correct"/);
    expect(out).toMatch(
      /Alice's node: \d+ events authenticated; bot steps (\d+): \1 verified, 0 pending, 0 mismatches; problems: none/,
    );
    expect(out).toMatch(
      /Bob's node: \d+ events authenticated; bot steps (\d+): \1 verified, 0 pending, 0 mismatches; problems: none/,
    );
    expect(out).toMatch(/OK: everything verifies/);
    expect(out).not.toMatch(/\n\s+at /);
    expect(code).toBe(0);
  });
});
