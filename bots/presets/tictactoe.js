// tictactoe: two players. The first member to move plays X, the next different member O. A move is kind "move"
// with body 0-8 (cells numbered row by row from the top left). Illegal moves get an "illegal" reply to the mover.
// After a win or draw, kind "new" starts another game with the same players (O moves first).
const LINES = [[0, 1, 2], [3, 4, 5], [6, 7, 8], [0, 3, 6], [1, 4, 7], [2, 5, 8], [0, 4, 8], [2, 4, 6]];

function winner(board) {
  for (const [a, b, c] of LINES) if (board[a] !== '.' && board[a] === board[b] && board[b] === board[c]) return board[a];
  return board.includes('.') ? null : 'draw';
}

export default {
  init(ctx) {
    ctx.state = { board: '.........', players: [], turn: 0, over: false, games: 0 };
  },
  onMessage(ctx, msg) {
    const s = ctx.state;
    if (msg.kind === 'new') {
      if (!s.over) return ctx.post('illegal', 'The current game is not over yet.', { to: msg.from });
      s.board = '.........';
      s.over = false;
      s.turn = (s.games % 2 === 1) ? 1 : 0;
      return ctx.post('board', { board: s.board, next: s.players[s.turn] || null });
    }
    if (msg.kind !== 'move') return;
    if (s.over) return ctx.post('illegal', 'The game is over; post kind "new" to play again.', { to: msg.from });
    let seat = s.players.indexOf(msg.from);
    if (seat === -1) {
      if (s.players.length === 2) return ctx.post('illegal', 'Two players are already playing.', { to: msg.from });
      s.players.push(msg.from);
      seat = s.players.length - 1;
    }
    if (seat !== s.turn) return ctx.post('illegal', 'It is not your turn.', { to: msg.from });
    const cell = Number(String(msg.body).trim());
    if (!Number.isInteger(cell) || cell < 0 || cell > 8) return ctx.post('illegal', 'A move is a cell number 0-8.', { to: msg.from });
    if (s.board[cell] !== '.') return ctx.post('illegal', `Cell ${cell} is taken.`, { to: msg.from });
    const mark = seat === 0 ? 'X' : 'O';
    s.board = s.board.slice(0, cell) + mark + s.board.slice(cell + 1);
    s.turn = 1 - s.turn;
    const result = winner(s.board);
    ctx.post('board', { board: s.board, next: result ? null : s.players[s.turn] || 'anyone' });
    if (result) {
      s.over = true;
      s.games += 1;
      ctx.post('result', result === 'draw' ? 'Draw.' : `${msg.name} (${mark}) wins.`);
    }
  },
};
