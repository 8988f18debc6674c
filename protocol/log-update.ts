/**
 * Validation of the Yjs updates of a channel document, and the encoder of `log` entries as an update. One validator
 * for both sides: the relay checks what a client sends it (relay/batch.ts, RoomView = the room), and a node checks
 * what a relay sends it before the update touches its Y.Doc (node/replica.ts, RoomView = its own document).
 * Pure: bytes in, verdicts out; no sockets, no files.
 *
 * A channel document may only grow: its one root type is the map `log`, and every entry is a new key whose value is
 * a sealed event (binary) and whose key is contentId(value) = base64url(BLAKE2b-256(value)). The validator therefore
 * accepts exactly one shape of Yjs item. In the V1 update format (yjs 13.6 `Item.write`) that item is
 *
 *   info      uint8     0x23 = content ref 3 (ContentBinary) | BIT6 (parentSub present); BIT7/BIT8 (right origin /
 *                       origin) clear: a new map key has no neighbours; an overwrite carries the old item as origin
 *   parent    varuint 1 (parent is a root type named by string) + varstring "log"
 *   parentSub varstring the map key
 *   content   varuint8array the value
 *
 * An update is: varuint #clients, then per client: varuint #structs, varuint client, varuint first clock, the
 * structs (clocks are consecutive; a Skip struct, info 10 + varuint length, stands for a gap); then the delete set
 * (varuint #clients), which must be empty. Anything else is refused with a short reason; see docs/relay.md.
 *
 * Items the relay already holds (clock below its state for that client) are duplicates, dropped silently: clients
 * resend them after reconnects and nodes forward them between relays. Items after a gap in a client's clock are not
 * refused either: the caller drops them and answers with its state vector (sync step 1) so the client sends what is
 * missing. The relay's state per client is thus always a contiguous clock range starting at 0.
 *
 * This decoder is deliberately narrower than Y.decodeUpdate (which also builds a scratch Y.Doc per call): every
 * length is checked against the bytes left before it is used, and repeated client sections (which Yjs would
 * silently let the last one win) are refused.
 */
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import { contentId } from './hash.js';

export const LOG_MAP = 'log';
const ITEM_INFO = 0x23;
const SKIP_REF = 10;
const GC_REF = 0;
const BINARY_REF = 3;
const BIT6 = 0x20;
const BIT7 = 0x40;
const BIT8 = 0x80;
const BITS5 = 0x1f;
const KEY = /^[A-Za-z0-9_-]{43}$/;

/** One `log` entry with the Yjs id it was created under (needed to rebuild identical items for other clients). */
export interface LogEntry {
  client: number;
  clock: number;
  key: string;
  value: Uint8Array;
}

export type RefusalReason =
  | 'undecodable'
  | 'delete-set'
  | 'not-item'
  | 'not-log'
  | 'not-binary'
  | 'bad-key'
  | 'oversize'
  | 'overwrite';

export type Verdict =
  | {
      ok: true;
      /** New entries, in order, each with clock == the relay's next clock for its client. */
      entries: LogEntry[];
      /** Items the relay already had (dropped). */
      duplicates: number;
      /** Some items came after a clock gap (dropped): answer with sync step 1. */
      gap: boolean;
    }
  | { ok: false; reason: RefusalReason };

/** What the validator needs to know about the room (the relay's room, or a node's own document). */
export interface RoomView {
  /** The next expected clock for a Yjs client id (0 if unknown). */
  clock(client: number): number;
  /** Whether the room already holds an entry under this key. */
  hasKey(key: string): boolean;
}

type Parsed =
  | { ok: true; items: (LogEntry | { skip: true; client: number; clock: number; length: number })[] }
  | { ok: false; reason: RefusalReason };

const refuse = (reason: RefusalReason) => ({ ok: false as const, reason });

/** Decodes the log-entry subset of a V1 update; structural refusals only (no hashing, no room state). */
export function parseLogUpdate(update: Uint8Array): Parsed {
  try {
    const d = decoding.createDecoder(update);
    const left = () => d.arr.length - d.pos;
    const clients = decoding.readVarUint(d);
    if (clients > left()) return refuse('undecodable');
    const items: (LogEntry | { skip: true; client: number; clock: number; length: number })[] = [];
    const seenClients = new Set<number>();
    for (let c = 0; c < clients; c++) {
      const structs = decoding.readVarUint(d);
      if (structs > left()) return refuse('undecodable');
      const client = decoding.readVarUint(d);
      if (seenClients.has(client)) return refuse('undecodable');
      seenClients.add(client);
      let clock = decoding.readVarUint(d);
      for (let i = 0; i < structs; i++) {
        if (left() < 1) return refuse('undecodable');
        const info = decoding.readUint8(d);
        const ref = info & BITS5;
        if (ref === SKIP_REF) {
          const length = decoding.readVarUint(d);
          if (length < 1 || clock + length > Number.MAX_SAFE_INTEGER) return refuse('undecodable');
          items.push({ skip: true, client, clock, length });
          clock += length;
          continue;
        }
        if (ref === GC_REF) return refuse('not-item');
        if ((info & (BIT7 | BIT8)) !== 0 || (info & BIT6) === 0) return refuse('not-log');
        if (decoding.readVarUint(d) !== 1) return refuse('not-log');
        if (decoding.readVarString(d) !== LOG_MAP) return refuse('not-log');
        const key = decoding.readVarString(d);
        if (ref !== BINARY_REF) return refuse('not-binary');
        const length = decoding.readVarUint(d);
        if (length > left()) return refuse('undecodable');
        const value = decoding.readUint8Array(d, length);
        if (clock >= Number.MAX_SAFE_INTEGER) return refuse('undecodable');
        items.push({ client, clock, key, value });
        clock += 1;
      }
    }
    // Delete set: any entry at all means the update removes something.
    if (decoding.readVarUint(d) !== 0) return refuse('delete-set');
    return { ok: true, items };
  } catch {
    return refuse('undecodable');
  }
}

/**
 * Validates an update against the room: refuses anything that is not a new, well-formed, hash-keyed `log` entry;
 * separates new entries from duplicates and from items past a clock gap.
 */
export function validateUpdate(update: Uint8Array, room: RoomView, maxValueBytes: number): Verdict {
  const parsed = parseLogUpdate(update);
  if (!parsed.ok) return parsed;
  const next = new Map<number, number>();
  const keys = new Set<string>();
  const entries: LogEntry[] = [];
  let duplicates = 0;
  let gap = false;
  for (const item of parsed.items) {
    if ('skip' in item) continue;
    const { client, clock, key, value } = item;
    if (!KEY.test(key)) return refuse('bad-key');
    if (value.length > maxValueBytes) return refuse('oversize');
    if (keys.has(key)) return refuse('overwrite');
    keys.add(key);
    const have = room.clock(client);
    if (clock < have) {
      duplicates++;
      continue;
    }
    const expected = next.get(client) ?? have;
    if (clock !== expected) {
      gap = true;
      continue;
    }
    if (contentId(value) !== key) return refuse('bad-key');
    if (room.hasKey(key)) return refuse('overwrite');
    next.set(client, clock + 1);
    entries.push({ client, clock, key, value });
  }
  return { ok: true, entries, duplicates, gap };
}

/**
 * Encodes entries as one V1 update (the inverse of parseLogUpdate). Entries of one client must not repeat a clock;
 * clock gaps between them are written as Skip structs.
 */
export function encodeEntries(entries: readonly LogEntry[]): Uint8Array {
  const byClient = new Map<number, LogEntry[]>();
  for (const e of entries) {
    const list = byClient.get(e.client);
    if (list) list.push(e);
    else byClient.set(e.client, [e]);
  }
  const enc = encoding.createEncoder();
  encoding.writeVarUint(enc, byClient.size);
  for (const [client, list] of byClient) {
    list.sort((a, b) => a.clock - b.clock);
    let structs = list.length;
    for (let i = 1; i < list.length; i++) if (list[i].clock !== list[i - 1].clock + 1) structs++;
    encoding.writeVarUint(enc, structs);
    encoding.writeVarUint(enc, client);
    encoding.writeVarUint(enc, list[0].clock);
    let clock = list[0].clock;
    for (const e of list) {
      if (e.clock !== clock) {
        encoding.writeUint8(enc, SKIP_REF);
        encoding.writeVarUint(enc, e.clock - clock);
      }
      encoding.writeUint8(enc, ITEM_INFO);
      encoding.writeVarUint(enc, 1);
      encoding.writeVarString(enc, LOG_MAP);
      encoding.writeVarString(enc, e.key);
      encoding.writeVarUint8Array(enc, e.value);
      clock = e.clock + 1;
    }
  }
  encoding.writeVarUint(enc, 0);
  return encoding.toUint8Array(enc);
}
