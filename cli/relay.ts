import type { Command } from './command.js';
import { parseOptions, parsePort } from './command.js';

/** Why the relay could not start, in words that say what to change. */
function startFailure(e: NodeJS.ErrnoException, opts: { port: number; dataDir?: string }): string {
  if (e.code === 'EADDRINUSE')
    return `port ${opts.port} is already in use (pick another with --port, or 0 for any free port)`;
  if (e.code === 'EACCES' || e.code === 'EPERM') return `permission denied (${e.message})`;
  if (e.code === 'SQLITE_CANTOPEN') return `cannot open the database in ${opts.dataDir}`;
  return e.message;
}

export const command: Command = {
  summary: 'run a Parley relay: a dumb, self-hostable WebSocket relay that only sees ciphertext',
  usage: [
    'usage: parley relay [--host 127.0.0.1] [--port 4455] [--data DIR | --store postgres://USER@HOST:PORT/DB]',
    '                    [--room-quota BYTES] [--disk-quota BYTES] [--max-connections-per-ip N] [--max-rooms N]',
    '                    [--max-rooms-per-connection N]',
    '',
    '  --host   interface to listen on (default 127.0.0.1; 0.0.0.0 for all)',
    '  --port   TCP port (default 4455; 0 picks a free port)',
    '  --data   directory for relay.sqlite (default $PARLEY_HOME/relay)',
    '  --store  a PostgreSQL URL instead of SQLite (also $PARLEY_RELAY_STORE): every relay started with the same',
    '           URL serves the same rooms, so several can run behind one load balancer',
    '  --room-quota  bytes of entries one room may hold (default 1GiB; suffixes KiB, MiB, GiB, TiB)',
    '  --disk-quota  bytes of entries the whole store may hold (default 64GiB)',
    '  --max-connections-per-ip  open WebSocket connections per remote address (default 256; a Parley node holds one',
    '           per relay whatever its number of channels; stock y-websocket clients hold one per room)',
    '  --max-rooms  rooms loaded in memory at once (default 10000; idle ones are unloaded first)',
    '  --max-rooms-per-connection  rooms one multiplexed connection may have open (default 10000)',
    '',
    'Prints "parley relay listening on ws://HOST:PORT" when ready. GET /healthz and /metrics on the same port.',
    'SIGTERM or Ctrl-C closes connections and the database cleanly. Details: docs/relay.md.',
  ].join('\n'),
  async run(argv) {
    const { values } = parseOptions(
      argv,
      {
        host: { type: 'string' },
        port: { type: 'string' },
        data: { type: 'string' },
        store: { type: 'string' },
        'room-quota': { type: 'string' },
        'disk-quota': { type: 'string' },
        'max-connections-per-ip': { type: 'string' },
        'max-rooms': { type: 'string' },
        'max-rooms-per-connection': { type: 'string' },
      },
      false,
    );
    const { startRelay } = await import('../relay/server.js');
    const { relayOptions, parseBytes, parseCount } = await import('../relay/options.js');
    const port = parsePort(values.port, 4455);
    const store = values.store ?? process.env.PARLEY_RELAY_STORE ?? '';
    let opts;
    try {
      opts = relayOptions({
        host: values.host ?? '127.0.0.1',
        port,
        store,
        ...(values.data ? { dataDir: values.data } : {}),
        roomQuotaBytes:
          values['room-quota'] === undefined ? undefined : parseBytes('--room-quota', values['room-quota']),
        diskQuotaBytes:
          values['disk-quota'] === undefined ? undefined : parseBytes('--disk-quota', values['disk-quota']),
        maxConnectionsPerIp:
          values['max-connections-per-ip'] === undefined
            ? undefined
            : parseCount('--max-connections-per-ip', values['max-connections-per-ip']),
        maxRooms: values['max-rooms'] === undefined ? undefined : parseCount('--max-rooms', values['max-rooms']),
        maxRoomsPerConnection:
          values['max-rooms-per-connection'] === undefined
            ? undefined
            : parseCount('--max-rooms-per-connection', values['max-rooms-per-connection']),
      });
    } catch (err) {
      console.error(`parley relay: ${(err as Error).message}`);
      return 2;
    }
    let relay;
    try {
      relay = await startRelay(opts);
    } catch (err) {
      console.error(`parley relay: ${startFailure(err as NodeJS.ErrnoException, opts)}`);
      return 1;
    }
    console.log(`parley relay listening on ${relay.url}`);
    return new Promise<number>((resolve) => {
      const stop = () => void relay.close().then(() => resolve(0));
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
  },
};
