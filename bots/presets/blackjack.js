// blackjack: players against the dealer, one round per bot. init shuffles a deck with the seeded randomness and
// commits to its order, so the runner cannot stack it later. Kinds: "sit" (take a seat, up to 5, before the deal),
// "deal" (start the round; the sender sits if nobody has), then "hit" / "stand" in seat order. When every player
// is done the dealer draws to 17, results are posted, and the deck is revealed: every node then verifies the round.
const RANKS = ['A', '2', '3', '4', '5', '6', '7', '8', '9', '10', 'J', 'Q', 'K'];
const SUITS = ['S', 'H', 'D', 'C'];

function total(hand) {
  let sum = 0;
  let aces = 0;
  for (const card of hand) {
    const rank = card.slice(0, -1);
    if (rank === 'A') { aces += 1; sum += 11; } else sum += ['J', 'Q', 'K'].includes(rank) ? 10 : Number(rank);
  }
  while (sum > 21 && aces > 0) { sum -= 10; aces -= 1; }
  return sum;
}

function draw(ctx) {
  const s = ctx.state;
  const card = s.__commits[s.deckHash].value[s.next];
  s.next += 1;
  return card;
}

function advance(ctx) {
  const s = ctx.state;
  while (s.turn < s.players.length && (s.players[s.turn].done)) s.turn += 1;
  if (s.turn < s.players.length) {
    ctx.post('turn', { player: s.players[s.turn].slot, hand: s.players[s.turn].hand, total: total(s.players[s.turn].hand) });
    return;
  }
  while (total(s.dealer) < 17) s.dealer.push(draw(ctx));
  const d = total(s.dealer);
  const results = s.players.map((p) => {
    const t = total(p.hand);
    const outcome = t > 21 ? 'bust' : d > 21 || t > d ? 'win' : t === d ? 'push' : 'lose';
    return { player: p.slot, hand: p.hand, total: t, outcome };
  });
  s.phase = 'over';
  ctx.post('result', { dealer: s.dealer, dealer_total: d, results });
  ctx.reveal(s.deckHash);
}

export default {
  init(ctx) {
    const deck = [];
    for (const suit of SUITS) for (const rank of RANKS) deck.push(rank + suit);
    for (let i = deck.length - 1; i > 0; i--) {
      const j = Math.floor(ctx.random() * (i + 1));
      [deck[i], deck[j]] = [deck[j], deck[i]];
    }
    ctx.state = { phase: 'seating', players: [], dealer: [], next: 0, turn: 0 };
    ctx.state.deckHash = ctx.commit(deck);
    ctx.post('shuffled', { commitment: ctx.state.deckHash });
  },
  onMessage(ctx, msg) {
    const s = ctx.state;
    const me = s.players.find((p) => p.slot === msg.from);
    if (msg.kind === 'sit') {
      if (s.phase !== 'seating') return ctx.post('info', 'The round has started; wait for the next table.', { to: msg.from });
      if (me) return ctx.post('info', 'You already have a seat.', { to: msg.from });
      if (s.players.length >= 5) return ctx.post('info', 'The table is full.', { to: msg.from });
      s.players.push({ slot: msg.from, name: msg.name, hand: [], done: false });
      return ctx.post('seated', { player: msg.from, seats: s.players.map((p) => p.slot) });
    }
    if (msg.kind === 'deal') {
      if (s.phase !== 'seating') return ctx.post('info', 'Cards are already dealt.', { to: msg.from });
      if (s.players.length === 0) s.players.push({ slot: msg.from, name: msg.name, hand: [], done: false });
      for (let round = 0; round < 2; round++) {
        for (const p of s.players) p.hand.push(draw(ctx));
        s.dealer.push(draw(ctx));
      }
      s.phase = 'playing';
      for (const p of s.players) if (total(p.hand) === 21) p.done = true;
      ctx.post('dealt', { dealer_shows: s.dealer[0], hands: s.players.map((p) => ({ player: p.slot, hand: p.hand, total: total(p.hand) })) });
      return advance(ctx);
    }
    if (msg.kind !== 'hit' && msg.kind !== 'stand') return;
    if (s.phase !== 'playing') return ctx.post('info', s.phase === 'over' ? 'The round is over.' : 'Nothing dealt yet: post kind "deal".', { to: msg.from });
    if (!me || s.players[s.turn] !== me) return ctx.post('info', 'It is not your turn.', { to: msg.from });
    if (msg.kind === 'hit') {
      me.hand.push(draw(ctx));
      const t = total(me.hand);
      ctx.post('card', { player: me.slot, hand: me.hand, total: t });
      if (t >= 21) me.done = true;
    } else me.done = true;
    if (me.done) advance(ctx);
  },
};
