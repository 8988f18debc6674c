// dice: public rolls from the channel's seeded randomness. Body "NdS" (e.g. "2d6", default "1d6"), N ≤ 20, S ≤ 1000.
export default {
  init(ctx) {
    ctx.state = { rolls: 0 };
  },
  onMessage(ctx, msg) {
    if (msg.kind !== 'roll') return;
    const m = /^\s*(\d{1,2})?d(\d{1,4})\s*$/i.exec(String(msg.body || 'd6'));
    const count = m ? Number(m[1] || 1) : 0;
    const sides = m ? Number(m[2]) : 0;
    if (!m || count < 1 || count > 20 || sides < 2 || sides > 1000) {
      ctx.post('error', 'Roll like "2d6": up to 20 dice of 2 to 1000 sides.', { to: msg.from });
      return;
    }
    const dice = [];
    for (let i = 0; i < count; i++) dice.push(1 + Math.floor(ctx.random() * sides));
    ctx.state.rolls += 1;
    ctx.post('rolled', { by: msg.from, roll: `${count}d${sides}`, dice, total: dice.reduce((a, b) => a + b, 0) });
  },
};
