/** Reads a node profile's store from a test (the node may be running: SQLite WAL allows a concurrent reader). */
import Database from 'better-sqlite3';
import { join } from 'node:path';

export function epochKeysOf(home: string, ch: string): Map<number, Uint8Array> {
  const db = new Database(join(home, 'node.sqlite'), { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare('SELECT ep, key FROM epochs WHERE ch = ?').all(ch) as { ep: number; key: Buffer }[];
    return new Map(rows.map((r) => [r.ep, new Uint8Array(r.key)]));
  } finally {
    db.close();
  }
}
