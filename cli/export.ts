import { chmodSync, writeFileSync } from 'node:fs';
import { parseOptions, UsageError, type Command } from './command.js';
import { channelView, openStoreReadonly } from '../node/offline.js';
import { buildTranscript } from '../node/transcript.js';

export const command: Command = {
  summary: 'export a channel as a signed, decrypted transcript (JSON) that parley verify checks offline',
  usage: 'usage: parley export <channel> [-o FILE]',
  async run(argv) {
    const { values, positionals } = parseOptions(argv, { output: { type: 'string', short: 'o' } });
    if (positionals.length !== 1) throw new UsageError('expected exactly one channel id or name');
    const store = openStoreReadonly();
    try {
      const view = channelView(store, positionals[0]);
      const text =
        JSON.stringify(buildTranscript(view.row.ch, view.row.name, view.rows, store.refusedAll(view.row.ch)), null, 1) +
        '\n';
      if (values.output) {
        // A decrypted transcript is as private as the channel: only its owner may read the file.
        writeFileSync(values.output, text, { mode: 0o600 });
        chmodSync(values.output, 0o600);
        console.error(`exported ${view.rows.length} events of "${view.row.name}" to ${values.output}`);
      } else process.stdout.write(text);
      return 0;
    } finally {
      store.close();
    }
  },
};
