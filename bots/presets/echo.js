// echo: repeats every chat message. The smallest useful bot; handy for checking that replay works.
export default {
  init(ctx) {
    ctx.state = { echoed: 0 };
  },
  onMessage(ctx, msg) {
    if (msg.kind !== 'chat') return;
    ctx.state.echoed += 1;
    ctx.post('echo', `${msg.name} said: ${msg.body}`);
  },
};
