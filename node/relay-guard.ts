/**
 * The node's check of an update a relay sent, before it touches the node's Y.Doc: the relay's own validator
 * (protocol/log-update.ts) with the node's document as the room. A relay that could make a node apply a delete set
 * or an overwrite would cut it off the honest relays, which refuse every later sync step 2 carrying it.
 *
 * Only the validated new entries are applied, re-encoded (`encodeEntries`), never the relay's bytes: nothing the
 * validator skipped (items the node already has, items after a clock gap, whose hash and key were not checked) can
 * reach the document. A gap is not an attack (a relay may forward a client's items the node missed): the entries
 * past it are dropped and the caller asks that relay for what is missing with a sync step 1, as the relay does.
 * An update with any bad part is dropped whole; its valid entries come again through an honest relay.
 */
import * as Y from 'yjs';
import { MAX_SEALED_BYTES } from '../protocol/event.js';
import { encodeEntries, validateUpdate, type RefusalReason, type RoomView } from '../protocol/log-update.js';

export type RelayCheck =
  | {
      ok: true;
      /** The new entries as one update to apply, or null if the update held nothing new. */
      apply: Uint8Array | null;
      /** Items past a clock gap were dropped: ask the relay for what is missing. */
      gap: boolean;
    }
  | { ok: false; reason: RefusalReason };

/** The node's own document as the validator's room: next clock per Yjs client, and the keys its `log` holds. */
export function docView(doc: Y.Doc, log: Pick<Y.Map<unknown>, 'has'>): RoomView {
  return { clock: (client) => Y.getState(doc.store, client), hasKey: (key) => log.has(key) };
}

/** Checks an update from a relay against the document it would be applied to; does not change the document. */
export function checkRelayUpdate(update: Uint8Array, view: RoomView): RelayCheck {
  const verdict = validateUpdate(update, view, MAX_SEALED_BYTES);
  if (!verdict.ok) return verdict;
  return { ok: true, apply: verdict.entries.length > 0 ? encodeEntries(verdict.entries) : null, gap: verdict.gap };
}

/** One line for `verify_channel` and `who`. */
export const describeRefusal = (relay: string, reason: RefusalReason): string =>
  `relay update refused (${reason}) from ${relay}`;
