/**
 * node/membership.ts: the authority rules, and the property that owner, holders, roles, removals and which key
 * hand-outs count are a function of the set of delivered events, whatever causal order they arrive in.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { ready } from '../../protocol/sodium.js';
import { CausalBuffer } from '../../protocol/causal.js';
import { toB64u } from '../../protocol/bytes.js';
import { memberId, newChannelId, newIdentity, randomBytes } from '../../protocol/keys.js';
import { Membership, type EventLike } from '../../node/membership.js';
import { signSlotClaim } from '../../node/payloads.js';
import { mulberry32 } from '../helpers/random.js';

interface Ev extends EventLike {
  id: string;
  prev: string | null;
}

/** A hand-built event DAG: each event names the events its author had seen; lamport and prev follow the rules. */
class Dag {
  readonly events: Ev[] = [];
  private readonly last = new Map<string, Ev>();

  constructor(readonly ch: string) {}

  add(author: string, type: string, payload: Record<string, unknown>, seen: Ev[] = []): Ev {
    const prev = this.last.get(author) ?? null;
    const deps = [...new Set(seen.map((e) => e.id))].filter((d) => d !== prev?.id).sort();
    let lamport = 1;
    for (const e of [...seen, ...(prev ? [prev] : [])]) lamport = Math.max(lamport, e.lamport + 1);
    const id = toB64u(randomBytes(32));
    const ev: Ev = { id, ep: 0, type, author, lamport, deps, payload, prev: prev?.id ?? null };
    this.last.set(author, ev);
    this.events.push(ev);
    return ev;
  }
}

const ids = () => {
  const kp = newIdentity();
  return memberId(kp.publicKey);
};

/** A channel with slots whose secrets the test holds, so it can claim them as anyone. */
function channel() {
  const owner = ids();
  const { ch, salt } = newChannelId(owner);
  const slotNames = ['admin:a1', 'admin:a2', 'invite:b', 'invite:c', 'invite:d', 'observer:o'];
  const secrets = new Map(slotNames.map((s) => [s, newIdentity(randomBytes(32))]));
  const dag = new Dag(ch);
  const create = dag.add(owner, 'channel.create', {
    name: 'prop',
    slots: slotNames.map((slot) => ({ slot, pubkey: toB64u(secrets.get(slot)!.publicKey) })),
    relays: [],
    expires_at: null,
    salt,
  });
  const claim = (who: string, slot: string, seen: Ev[]) =>
    dag.add(
      who,
      'member.join',
      {
        slot,
        name: `${slot.split(':')[1]}-${who.slice(0, 4)}`,
        slot_sig: toB64u(signSlotClaim(ch, slot, who, secrets.get(slot)!.secretKey)),
        entropy: toB64u(randomBytes(32)),
      },
      seen,
    );
  const admit = (by: string, c: Ev, seen: Ev[]) =>
    dag.add(by, 'member.admit', { slot: c.payload.slot, member: c.author, claim: c.id }, [c, ...seen]);
  return { owner, ch, dag, create, claim, admit };
}

/** Delivers `events` to a fresh Membership in the given arrival order, causally, as node/ingest.ts does. */
function deliver(ch: string, events: Ev[]): Membership {
  const m = new Membership(ch);
  const buffer = new CausalBuffer<Ev>((ev) => {
    const r = m.refusal(ev.id, ev);
    if (r === 'defer') return 'defer';
    if (r) return false;
    m.apply(ev.id, ev);
    return true;
  });
  for (const ev of events) if (buffer.add([ev]).length > 0 && buffer.deferredCount() > 0) buffer.retryDeferred();
  return m;
}

function snapshot(m: Membership, events: Ev[]) {
  const people = [...new Set(events.map((e) => e.author))].sort();
  return {
    owner: m.owner,
    members: m
      .members()
      .map((x) => `${x.slot}=${x.id}:${x.role}`)
      .sort(),
    removed: people.filter((p) => m.isRemoved(p)),
    effective: events
      .filter((e) => m.isEffective(e.id))
      .map((e) => e.id)
      .sort(),
    problems: [...m.problems()].sort(),
    closed: ['invite:b', 'invite:c', 'invite:d'].filter((s) => m.isClosed(s)),
  };
}

beforeAll(ready);

describe('membership rules', () => {
  it('a claim grants nothing until an admission names it; the first admission settles the slot', () => {
    const { ch, dag, create, claim, admit, owner } = channel();
    const bob = ids();
    const c = claim(bob, 'invite:b', [create]);
    let m = deliver(ch, dag.events);
    expect(m.canPost(bob)).toBe(false);
    expect(m.pendingClaims().map((x) => x.id)).toEqual([c.id]);
    admit(owner, c, []);
    m = deliver(ch, dag.events);
    expect(m.slotOf(bob)).toBe('invite:b');
    expect(m.roleOf(bob)).toBe('member');
    // A later claim with no deps (lamport 1) and a self-admission change nothing.
    const thief = ids();
    const late = claim(thief, 'invite:b', []);
    dag.add(thief, 'member.admit', { slot: 'invite:b', member: thief, claim: late.id }, [late]);
    m = deliver(ch, dag.events);
    expect(m.slotOf(bob)).toBe('invite:b');
    expect(m.slotOf(thief)).toBeUndefined();
  });

  it('an admission must list its claim among its deps and come from the owner or an admin', () => {
    const { ch, dag, create, claim, owner } = channel();
    const bob = ids();
    const c = claim(bob, 'invite:b', [create]);
    const bare = dag.add(owner, 'member.admit', { slot: 'invite:b', member: bob, claim: c.id }, []);
    const m = deliver(ch, dag.events);
    expect(m.isEffective(bare.id)).toBe(false);
    expect(m.problems().join('\n')).toMatch(/the claim is not among its dependencies/);
  });

  it('kick and leave close the slot: nobody is admitted to it again, and the removed identity to no slot', () => {
    const { ch, dag, create, claim, admit, owner } = channel();
    const bob = ids();
    const cb = claim(bob, 'invite:b', [create]);
    const ab = admit(owner, cb, []);
    const kick = dag.add(owner, 'member.kick', { slot: 'invite:b' }, [ab]);
    const again = claim(ids(), 'invite:b', [kick]);
    admit(owner, again, [kick]);
    const back = claim(bob, 'invite:c', [kick]);
    admit(owner, back, [kick]);
    const m = deliver(ch, dag.events);
    expect(m.isRemoved(bob)).toBe(true);
    expect(m.isClosed('invite:b')).toBe(true);
    expect(m.members().map((x) => x.slot)).toEqual(['owner']);
    expect(m.problems().join('\n')).toMatch(/claim on invite:b, which is closed/);
    expect(m.problems().join('\n')).toMatch(/a removed member claimed invite:c/);
  });

  it('a closed channel admits nobody, and a kick of an unused slot revokes its invite', () => {
    const { ch, dag, create, claim, admit, owner } = channel();
    const revoke = dag.add(owner, 'member.kick', { slot: 'invite:d' }, [create]);
    const lateD = claim(ids(), 'invite:d', [revoke]);
    admit(owner, lateD, [revoke]);
    const close = dag.add(owner, 'channel.close', {}, [lateD]);
    const c = claim(ids(), 'invite:c', [close]);
    const a = admit(owner, c, [close]);
    const m = deliver(ch, dag.events);
    expect(m.isClosed('invite:d')).toBe(true);
    expect(m.holder('invite:d')).toBeUndefined();
    expect(m.isEffective(a.id)).toBe(false);
    expect(m.problems().join('\n')).toMatch(/the channel is closed/);
    expect(m.pendingClaims()).toEqual([]);
  });

  it('roles: an observer may not post, an admin may admit and kick members but not admins, ownership moves', () => {
    const { ch, dag, create, claim, admit, owner } = channel();
    const [a1, a2, o, b] = [ids(), ids(), ids(), ids()];
    const ca1 = admit(owner, claim(a1, 'admin:a1', [create]), []);
    const ca2 = admit(owner, claim(a2, 'admin:a2', [create]), [ca1]);
    const co = admit(a1, claim(o, 'observer:o', [ca1]), [ca1]);
    const cb = admit(a1, claim(b, 'invite:b', [ca1]), [co]);
    const kickAdmin = dag.add(a1, 'member.kick', { slot: 'admin:a2' }, [cb, ca2]);
    const hand = dag.add(owner, 'member.role', { slot: 'invite:b', role: 'owner' }, [kickAdmin]);
    const m = deliver(ch, dag.events);
    expect(m.roleOf(o)).toBe('observer');
    expect(m.canPost(o)).toBe(false);
    expect(
      m.refusal('x'.repeat(43), {
        ep: 0,
        type: 'message',
        author: o,
        lamport: 9,
        deps: [],
        payload: { kind: 'chat', body: 'hi' },
      }),
    ).toMatch(/observer/);
    expect(m.isEffective(kickAdmin.id)).toBe(false);
    expect(m.isEffective(hand.id)).toBe(true);
    expect(m.owner).toBe(b);
    expect(m.roleOf(owner)).toBe('admin');
    expect(m.slotOf(owner)).toBe('invite:b');
  });
});

describe('determinism', () => {
  it('owner, holders, roles, removals and key hand-outs are the same for 1,000 random causal delivery orders', () => {
    const { ch, dag, create, claim, admit, owner } = channel();
    const [a1, a2, b, c1, c2, d, x, y, o] = [ids(), ids(), ids(), ids(), ids(), ids(), ids(), ids(), ids()];
    const ca1 = admit(owner, claim(a1, 'admin:a1', [create]), []);
    const ca2 = admit(owner, claim(a2, 'admin:a2', [create]), [ca1]);
    const cb = admit(owner, claim(b, 'invite:b', [ca2]), [ca2]);
    // Two admins admit different claimants of one slot concurrently.
    const claimC1 = claim(c1, 'invite:c', [cb]);
    const claimC2 = claim(c2, 'invite:c', [cb]);
    admit(a1, claimC1, []);
    const byA2 = admit(a2, claimC2, []);
    // A kick concurrent with a claim of the kicked slot (x holds b's leaked code) and with its admission by an admin.
    const kick = dag.add(owner, 'member.kick', { slot: 'invite:b' }, [cb]);
    const claimX = claim(x, 'invite:b', [cb]);
    admit(a1, claimX, [cb]);
    // A claim with no deps at all, long after.
    claim(y, 'invite:d', []);
    // A rotation concurrent with a join: the key goes to the members the rotator knew.
    const claimD = claim(d, 'invite:d', [byA2]);
    const admitD = admit(a2, claimD, [byA2]);
    dag.add(
      owner,
      'epoch.rotate',
      { next_ep: 1, keys: Object.fromEntries([a1, a2, c1, c2].map((k) => [k, 'sealed'])) },
      [kick, byA2],
    );
    // The owner demotes an admin while that admin admits someone.
    dag.add(owner, 'member.role', { slot: 'admin:a2', role: 'member' }, [kick]);
    admit(a2, claim(o, 'observer:o', [admitD]), [admitD]);
    dag.add(c2, 'member.leave', {}, [byA2]);

    const rand = mulberry32(1234);
    const expected = snapshot(deliver(ch, dag.events), dag.events);
    // The scenario exercises what it claims to: rivals resolved, a removal, a refused admission.
    expect(expected.removed).toContain(b);
    expect(expected.problems.some((p) => /rival admission|rival claim/.test(p))).toBe(true);
    for (let i = 0; i < 1000; i++) {
      const order = [...dag.events];
      for (let j = order.length - 1; j > 0; j--) {
        const k = Math.floor(rand() * (j + 1));
        [order[j], order[k]] = [order[k], order[j]];
      }
      expect(snapshot(deliver(ch, order), dag.events)).toEqual(expected);
    }
  });
});
