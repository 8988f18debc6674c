/**
 * Whether a channel may go dormant now (node/dormant.ts unloads it and keeps only its epochs' state vectors):
 * nothing this node must still do or watch there.
 */
import * as Y from 'yjs';
import type { Membership } from '../membership.js';
import type { DormantEpoch } from '../store.js';
import type { Epochs } from './epochs.js';

export interface DormancyView {
  me: string;
  membership: Membership;
  epochs: Epochs;
  /** Received entries not yet admitted, or events waiting for their dependencies. */
  ingesting: boolean;
  withholding(): string[];
}

/**
 * The epochs to keep linked and their state vectors, if the channel may go dormant: every linked epoch synced and
 * needed, and nothing to do or watch — entries to ingest, events waiting for dependencies, claims to admit, a
 * rotation to make, a bot to run or verify, a peer online (unless the node is stopping), a withholding finding.
 * Null otherwise.
 */
export function dormantEpochs(v: DormancyView, stopping: boolean): DormantEpoch[] | null {
  const { membership: m, epochs } = v;
  const current = epochs.current;
  if (v.ingesting) return null;
  if (m.botSlots().length > 0 || m.needsRotation(current)) return null;
  if (m.manages(v.me) && m.pendingClaims().length > 0) return null;
  const out: DormantEpoch[] = [];
  for (const [ep, r] of epochs.linked()) {
    if (!r.isSynced() || (!stopping && r.hasPeers()) || (ep !== current && !epochs.needs(ep))) return null;
    out.push({ ep, sv: Y.encodeStateVector(r.doc) });
  }
  if (!out.some((e) => e.ep === current) || v.withholding().length > 0) return null;
  return out;
}
