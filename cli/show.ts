import { parseOptions, UsageError, type Command } from './command.js';
import { channelView, openStoreReadonly } from '../node/offline.js';
import { renderEvent } from '../node/messages.js';
import { parseStoredBody } from '../node/channel.js';
import { stepVerificationFromStore } from '../node/bots.js';

export const command: Command = {
  summary: 'print a channel transcript from the local store',
  usage: 'usage: parley show <channel> [--json]',
  async run(argv) {
    const { values, positionals } = parseOptions(argv, { json: { type: 'boolean' } });
    if (positionals.length !== 1) throw new UsageError('expected exactly one channel id or name');
    const store = openStoreReadonly();
    try {
      const view = channelView(store, positionals[0]);
      const ctx = { membership: view.membership, verification: stepVerificationFromStore(store) };
      const messages = view.rows.flatMap((r) => renderEvent(r.dnum, r.id, parseStoredBody(r), ctx));
      if (values.json) console.log(JSON.stringify(messages, null, 2));
      else {
        console.log(`# ${view.row.name} (${view.row.ch})`);
        for (const m of messages) {
          const to = m.to ? ` → ${m.to}` : '';
          const mark = m.verification ? ` [${m.verification}]` : '';
          console.log(
            `[${m.seq}] ${new Date(m.ts).toISOString()} ${m.from_name} (${m.from}) ${m.kind}${to}${mark}: ${m.body}`,
          );
        }
      }
      return 0;
    } finally {
      store.close();
    }
  },
};
