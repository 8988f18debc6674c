import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalStore } from '../../node/store.js';
import { until } from '../helpers/until.js';

const dirs: string[] = [];
const home = () => {
  const d = mkdtempSync(join(tmpdir(), 'parley-store-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const row = (over: Partial<{ ch: string; id: string; author: string; seq: number }> = {}) => ({
  ch: 'ch1',
  ep: 0,
  id: 'id1',
  type: 'message',
  author: 'alice',
  seq: 1,
  lamport: 1,
  ts: 0,
  body: '{}',
  sig: new Uint8Array(64),
  ...over,
});

describe('LocalStore deliveries', () => {
  it('records an event once, whichever process delivers it', () => {
    const dir = home();
    const a = new LocalStore(dir);
    const b = new LocalStore(dir);
    expect(a.deliver(row())).toBe(1);
    expect(b.deliver(row())).toBeNull();
    expect(a.deliver(row({ id: 'id2', seq: 2 }))).not.toBeNull();
    a.close();
    b.close();
  });

  it('keeps one event per (channel, author, seq): a second one is the other half of an equivocation', () => {
    const s = new LocalStore(home());
    expect(s.deliver(row())).not.toBeNull();
    expect(s.deliver(row({ id: 'forked' }))).toBeNull();
    expect(s.deliver(row({ id: 'bob1', author: 'bob' }))).not.toBeNull();
    expect(s.deliver(row({ id: 'other', ch: 'ch2' }))).not.toBeNull();
    expect(s.deliveredAll('ch1').map((r) => [r.id, r.seq])).toEqual([
      ['id1', 1],
      ['bob1', 1],
    ]);
    s.close();
  });

  it('migrates a store made before deliveries carried seq, keeping its rows and its unique ids', () => {
    const dir = home();
    const old = new Database(join(dir, 'node.sqlite'));
    old.exec(`CREATE TABLE delivered (dnum INTEGER PRIMARY KEY AUTOINCREMENT, ch TEXT NOT NULL, ep INTEGER NOT NULL,
      id TEXT NOT NULL, type TEXT NOT NULL, author TEXT NOT NULL, lamport INTEGER NOT NULL, ts INTEGER NOT NULL,
      body TEXT NOT NULL, sig BLOB NOT NULL, UNIQUE (id))`);
    old
      .prepare(
        `INSERT INTO delivered (ch, ep, id, type, author, lamport, ts, body, sig) VALUES ('ch1', 0, 'id1', ` +
          `'message', 'alice', 1, 0, '{}', x'00')`,
      )
      .run();
    old.close();
    const s = new LocalStore(dir);
    expect(s.deliveredAll('ch1').map((r) => [r.id, r.seq])).toEqual([['id1', null]]);
    expect(s.deliver(row())).toBeNull();
    expect(s.deliver(row({ id: 'id2', seq: 2 }))).not.toBeNull();
    expect(s.deliver(row({ id: 'id3', seq: 2 }))).toBeNull();
    s.close();
    const again = new LocalStore(dir);
    expect(again.deliveredCount('ch1')).toBe(2);
    again.close();
  });
});

describe('LocalStore checkpoints', () => {
  it('checkpoints the log from a worker thread after commits', async () => {
    const s = new LocalStore(home());
    s.transaction(() => s.deliver(row()));
    await until(() => s.checkpointer.done > 0, { what: 'a checkpoint' });
    expect(s.db.pragma('wal_autocheckpoint', { simple: true })).toBe(65_536);
    s.close();
  });
});
