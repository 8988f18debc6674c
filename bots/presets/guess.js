// guess: the reference game (DESIGN.md). init picks a secret 1..100 and posts a commitment to it; each message of
// kind "guess" with a number gets a "hint" (higher / lower / correct) to the guesser; "correct" ends the game and
// reveals the committed number, after which every node verifies every step.
export default {
  init(ctx, params) {
    const max = Number.isInteger(params && params.max) && params.max >= 2 && params.max <= 1000000 ? params.max : 100;
    const secret = 1 + Math.floor(ctx.random() * max);
    ctx.state = { max, guesses: 0, over: false };
    ctx.state.commitment = ctx.commit(secret);
    ctx.post('commitment', { hash: ctx.state.commitment, range: [1, max] });
  },
  onMessage(ctx, msg) {
    if (msg.kind !== 'guess') return;
    const s = ctx.state;
    if (s.over) {
      ctx.post('info', 'The game is over; the number was revealed.', { to: msg.from });
      return;
    }
    const n = Number(String(msg.body).trim());
    if (!Number.isInteger(n) || n < 1 || n > s.max) {
      ctx.post('info', `Guess a whole number from 1 to ${s.max}.`, { to: msg.from });
      return;
    }
    s.guesses += 1;
    const secret = s.__commits[s.commitment].value;
    if (n < secret) ctx.post('hint', 'higher', { to: msg.from });
    else if (n > secret) ctx.post('hint', 'lower', { to: msg.from });
    else {
      ctx.post('hint', 'correct', { to: msg.from });
      s.over = true;
      s.winner = msg.from;
      ctx.post('result', `${msg.name} guessed ${secret} after ${s.guesses} guesses.`);
      ctx.reveal(s.commitment);
    }
  },
};
