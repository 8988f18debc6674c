/** A short guessing game as sync_messages returns it in full: the known transcript the compact fixture pins. */
import type { Message } from '../../node/messages.js';

export const CH = 'c7Qm2ZpR4vXk9LtWb3HsNa';
const ALICE = 'A1ice0000000000000000000000000000000000000k';
const BOB = 'B0b00000000000000000000000000000000000000bk';
const T0 = Date.UTC(2026, 10, 29, 20, 27, 41, 512);

const ev = (n: number): string => `ev${String(n).padStart(41, '0')}`;
const base = (seq: number, author: string, from: string, from_name: string, s: number) => ({
  id: ev(seq),
  channel: CH,
  seq,
  from,
  from_name,
  author,
  ts: T0 + s * 1000 + 37,
});

export const TRANSCRIPT: Message[] = [
  { ...base(1, ALICE, 'owner', 'Alice', 0), kind: 'system', body: 'channel "number game" created' },
  {
    ...base(2, ALICE, 'bot:guess', 'guess', 1),
    id: `${ev(2)}:0`,
    kind: 'hint',
    body: 'I picked a number from 1 to 100.',
    verification: 'verified',
  },
  { ...base(3, BOB, 'invite:bob', 'Bob', 5), kind: 'join', body: 'Bob claimed invite:bob (admitted)' },
  { ...base(4, BOB, 'invite:bob', 'Bob', 9), kind: 'guess', body: '50' },
  {
    ...base(5, ALICE, 'bot:guess', 'guess', 9),
    id: `${ev(5)}:0`,
    kind: 'hint',
    body: 'lower',
    to: 'invite:bob',
    verification: 'verified',
  },
  {
    ...base(6, ALICE, 'owner', 'Alice', 12),
    kind: 'chat',
    body: 'Try halving again.\nThen again.',
    to: 'invite:bob',
    meta: { action_type: 'advice' },
  },
  { ...base(7, BOB, 'invite:bob', 'Bob', 15), kind: 'status', body: 'working: thinking' },
  { ...base(8, BOB, 'invite:bob', 'Bob', 20), kind: 'guess', body: '25' },
  {
    ...base(9, ALICE, 'bot:guess', 'guess', 20),
    id: `${ev(9)}:0`,
    kind: 'hint',
    body: 'correct in 2 guesses',
    to: 'invite:bob',
    verification: 'pending',
  },
];
