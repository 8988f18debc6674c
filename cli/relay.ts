import type { Command } from './command.js';
export const command: Command = {
  summary: 'run a Parley relay (placeholder until relay lands)',
  usage: 'usage: parley relay [--host 127.0.0.1] [--port 4455] [--data DIR]',
  async run() {
    return 1;
  },
};
