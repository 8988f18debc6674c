import { parseOptions, type Command } from './command.js';
import { openStoreReadonly } from '../node/offline.js';

export const command: Command = {
  summary: 'print the audit log of tool calls (time, tool, channel, outcome; never message bodies)',
  usage: 'usage: parley audit [--limit N] [--json]',
  async run(argv) {
    const { values } = parseOptions(argv, { json: { type: 'boolean' }, limit: { type: 'string' } }, false);
    const limit = values.limit === undefined ? 200 : Number(values.limit);
    if (!Number.isInteger(limit) || limit < 1) {
      console.error('parley audit: --limit must be a positive integer');
      return 2;
    }
    const store = openStoreReadonly();
    try {
      const rows = store.auditLog(limit);
      if (values.json) console.log(JSON.stringify(rows, null, 2));
      else
        for (const r of rows)
          console.log(
            `${new Date(r.at).toISOString()}  ${r.tool.padEnd(15)} ${(r.channel ?? '-').padEnd(22)} ${r.outcome}`,
          );
      return 0;
    } finally {
      store.close();
    }
  },
};
