/**
 * Withholding detection (docs/DESIGN.md "Withholding"): every node publishes, in its signed and sealed presence, the
 * highest delivered `seq` per author (its frontier). When a peer's signed frontier claims events this node has not
 * delivered, and they are still missing after a grace period although relays are connected, those relays are reported
 * as withholding: between them they were asked for everything (sync step 1) and did not produce it.
 *
 * Pure: the caller feeds beacons and the local frontier; no sockets, no timers.
 */

export interface RelayState {
  url: string;
  connected: boolean;
}

export interface Withholding {
  /** Relays connected during the whole gap, none of which produced the claimed events. */
  relays: string[];
  /** Author whose events are missing. */
  author: string;
  /** Highest seq of `author` delivered here. */
  have: number;
  /** Highest seq of `author` that `claimedBy` signed as delivered. */
  claimed: number;
  claimedBy: string;
  /** Relay through which the beacon arrived, when known. */
  via: string | null;
  sinceMs: number;
}

interface Gap {
  claimed: number;
  claimedBy: string;
  via: string | null;
  since: number;
  /** Relays that have stayed connected since the gap opened. */
  relays: Set<string>;
}

/** At most this many authors are tracked from one beacon (a beacon is bounded in size anyway). */
const MAX_AUTHORS = 256;

export class FrontierWatch {
  /** Open gaps by author. */
  private readonly gaps = new Map<string, Gap>();

  constructor(private readonly graceMs: number) {}

  /**
   * Records a peer's signed frontier. `local(author)` is this node's delivered seq for that author (0 if none).
   * Only claims beyond the local frontier open a gap; a larger claim for an open gap raises it.
   */
  observe(
    peer: string,
    heads: Record<string, number>,
    via: string | null,
    local: (author: string) => number,
    relays: RelayState[],
    now: number,
  ): void {
    const connected = relays.filter((r) => r.connected).map((r) => r.url);
    for (const [author, claimed] of Object.entries(heads).slice(0, MAX_AUTHORS)) {
      if (!Number.isSafeInteger(claimed) || claimed <= local(author)) continue;
      const gap = this.gaps.get(author);
      if (gap) {
        if (claimed > gap.claimed) Object.assign(gap, { claimed, claimedBy: peer, via });
        continue;
      }
      this.gaps.set(author, { claimed, claimedBy: peer, via, since: now, relays: new Set(connected) });
    }
  }

  /**
   * Closes gaps the local frontier has caught up with, narrows each gap's relays to those still connected (a relay
   * that dropped out had no fair chance), and returns the gaps older than the grace period that some relay is to
   * blame for.
   */
  check(local: (author: string) => number, relays: RelayState[], now: number): Withholding[] {
    const connected = new Set(relays.filter((r) => r.connected).map((r) => r.url));
    const out: Withholding[] = [];
    for (const [author, gap] of this.gaps) {
      const have = local(author);
      if (have >= gap.claimed) {
        this.gaps.delete(author);
        continue;
      }
      for (const url of gap.relays) if (!connected.has(url)) gap.relays.delete(url);
      if (gap.relays.size === 0) {
        // Offline is not withholding: start over once a relay is back.
        gap.since = now;
        for (const url of connected) gap.relays.add(url);
        continue;
      }
      if (now - gap.since < this.graceMs) continue;
      out.push({
        relays: [...gap.relays].sort(),
        author,
        have,
        claimed: gap.claimed,
        claimedBy: gap.claimedBy,
        via: gap.via,
        sinceMs: now - gap.since,
      });
    }
    return out;
  }
}

/** One sentence per withholding finding, naming members by `name(id)`. */
export function describeWithholding(w: Withholding, name: (id: string) => string): string {
  const relays = w.relays.length === 1 ? `relay ${w.relays[0]} is` : `relays ${w.relays.join(', ')} are`;
  return (
    `${relays} withholding events: ${name(w.claimedBy)} signed that it has ${name(w.author)}'s events up to ` +
    `#${w.claimed}, ` +
    `but this node has only #${w.have} and could not get the rest for ${Math.round(w.sinceMs / 1000)} s`
  );
}
