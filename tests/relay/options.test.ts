/** Relay limits: validated once, with one-line errors; refusal reasons map to their own close codes. */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import WebSocket from 'ws';
import { closeCodeFor, parseBytes, parseCount, relayOptions, RELAY_DEFAULTS } from '../../relay/options.js';
import { ready } from '../../protocol/sodium.js';
import { newEpochKey, relayAuthParams } from '../../protocol/keys.js';
import { spawnRelay } from '../helpers/relay.js';
import { CLI } from '../helpers/mcp.js';
import { storeFailureReason } from '../../relay/store.js';

describe('relay options', () => {
  it('has a positive default for every limit and refuses a bad one with a line naming it', () => {
    const o = relayOptions({ dataDir: '/tmp/x' });
    expect(o.roomQuotaBytes).toBe(1024 ** 3);
    expect(o.diskQuotaBytes).toBe(64 * 1024 ** 3);
    expect(o.maxBufferedBytes).toBe(RELAY_DEFAULTS.maxBufferedBytes);
    for (const k of [
      'maxBufferedBytes',
      'syncStep1PerSecond',
      'awarenessBurst',
      'maxAwarenessBytes',
      'roomQuotaBytes',
      'diskQuotaBytes',
    ] as const) {
      expect(() => relayOptions({ dataDir: '/tmp/x', [k]: 0 })).toThrow(
        new RegExp(`^relay option ${k} must be a positive number`),
      );
    }
    expect(() => relayOptions({ dataDir: '/tmp/x', maxBufferedBytes: 1024 })).toThrow(
      /maxBufferedBytes must be at least twice syncChunkBytes/,
    );
  });

  it('parses byte counts with binary suffixes, one line for anything else', () => {
    expect(parseBytes('--room-quota', '1048576')).toBe(1048576);
    expect(parseBytes('--room-quota', '64KiB')).toBe(65536);
    expect(parseBytes('--disk-quota', '2GiB')).toBe(2 * 1024 ** 3);
    expect(() => parseBytes('--disk-quota', '10GB')).toThrow(
      '--disk-quota must be a number of bytes (e.g. 1073741824 or 1GiB), got "10GB"',
    );
    expect(() => parseBytes('--room-quota', '0')).toThrow('--room-quota must be a positive number of bytes, got "0"');
    expect(() => parseBytes('--room-quota', '-5')).toThrow(/^--room-quota must be a number of bytes/);
  });

  it('gives each refusal its own close code', () => {
    expect(closeCodeFor('oversize')).toBe(4400);
    expect(closeCodeFor('sync-rate-limit')).toBe(4408);
    expect(closeCodeFor('awareness-oversize')).toBe(4413);
    expect(closeCodeFor('disk-full')).toBe(4507);
    expect(closeCodeFor('store-error')).toBe(4507);
    expect(closeCodeFor('room-quota')).toBe(4520);
    expect(closeCodeFor('disk-quota')).toBe(4521);
  });

  it('tells a full disk from other store errors', () => {
    expect(storeFailureReason(Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }))).toBe(
      'disk-full',
    );
    expect(storeFailureReason(Object.assign(new Error('write'), { code: 'ENOSPC' }))).toBe('disk-full');
    expect(storeFailureReason(Object.assign(new Error('could not extend file'), { code: '53100' }))).toBe('disk-full');
    expect(storeFailureReason(Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR' }))).toBe(
      'store-error',
    );
    expect(storeFailureReason('nonsense')).toBe('store-error');
  });
});

describe('parley relay connection and room limits', () => {
  it('--max-connections-per-ip is an option of the command: the connection over it is refused with 4429', async () => {
    await ready();
    const bad = spawnSync(process.execPath, [CLI, 'relay', '--port', '0', '--max-rooms', 'many'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toBe('parley relay: --max-rooms must be a positive whole number, got "many"\n');
    expect(parseCount('--max-rooms', '12')).toBe(12);

    const r = await spawnRelay({ args: ['--max-connections-per-ip', '1', '--max-rooms', '5'] });
    try {
      const open = (): Promise<{ ws: WebSocket; closed: Promise<number> }> => {
        const { room, ts, sig } = relayAuthParams(newEpochKey());
        const ws = new WebSocket(`${r.url}/${room}?ts=${ts}&sig=${sig}`);
        const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
        return new Promise((resolve) => ws.on('open', () => resolve({ ws, closed })));
      };
      const first = await open();
      const second = await open();
      expect(await second.closed).toBe(4429);
      first.ws.close();
      await first.closed;
    } finally {
      await r.stop();
    }
  });
});
