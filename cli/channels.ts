import { parseOptions, type Command } from './command.js';
import { openStoreReadonly } from '../node/offline.js';

export const command: Command = {
  summary: 'list the channels in this profile ($PARLEY_HOME)',
  usage: 'usage: parley channels [--json]',
  async run(argv) {
    const { values } = parseOptions(argv, { json: { type: 'boolean' } }, false);
    const store = openStoreReadonly();
    try {
      const rows = store.channels().map((c) => ({ ...c, events: store.deliveredCount(c.ch) }));
      if (values.json) console.log(JSON.stringify(rows, null, 2));
      else if (rows.length === 0) console.log('no channels');
      else
        for (const c of rows) {
          const state = `${c.closed ? ' closed' : ''}${c.status !== 'active' ? ` (${c.status})` : ''}`;
          console.log(`${c.ch}  ${c.name}  slot=${c.slot} epoch=${c.epoch} events=${c.events}${state}`);
        }
      return 0;
    } finally {
      store.close();
    }
  },
};
