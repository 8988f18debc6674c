import type { Command } from './command.js';
import { parseOptions, parsePort, UsageError } from './command.js';

/** The --allowed-host values, each a host name or name:port (an IPv6 address in brackets). */
function allowedHosts(hosts: string[]): string[] {
  for (const h of hosts)
    if (!/^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/.test(h))
      throw new UsageError(`--allowed-host must be a host name or name:port, got "${h}"`);
  return hosts;
}

/** Why the server could not listen, in words that say what to change. */
function listenFailure(e: NodeJS.ErrnoException, port: number): string {
  if (e.code === 'EADDRINUSE')
    return `port ${port} is already in use (pick another with --port, or 0 for any free port)`;
  if (e.code === 'EACCES') return `permission denied (${e.message})`;
  return e.message;
}

export const command: Command = {
  summary: 'run an always-on node: MCP over Streamable HTTP at /mcp and a live web page, on this profile',
  usage: [
    'usage: parley serve [--host 127.0.0.1] [--port 4456] [--allowed-host NAME]...',
    '',
    '  --host          interface to listen on (default 127.0.0.1)',
    '  --port          TCP port (default 4456; 0 picks a free port)',
    '  --allowed-host  a host name (or name:port) clients may use to reach this server, e.g. the name a TLS proxy',
    '                  serves; required when --host is not a loopback address',
    '',
    'Prints "parley serve listening on http://HOST:PORT" and the page\'s link (http://HOST:PORT/#token=…) when ready.',
    'Clients send "Authorization: Bearer <token>"; the token is in $PARLEY_HOME/serve.token (created on first start).',
    'GET /healthz answers without the token. SIGTERM or Ctrl-C closes sessions and the node cleanly.',
    'Environment: as for parley mcp (PARLEY_HOME, PARLEY_RELAY, …). Details: docs/serve.md.',
  ].join('\n'),
  async run(argv) {
    const { values } = parseOptions(
      argv,
      { host: { type: 'string' }, port: { type: 'string' }, 'allowed-host': { type: 'string', multiple: true } },
      false,
    );
    const host = values.host ?? '127.0.0.1';
    const port = parsePort(values.port, 4456);
    const extra = allowedHosts(values['allowed-host'] ?? []);
    const { isLoopback, loadOrCreateToken } = await import('../node/serve/auth.js');
    if (!isLoopback(host) && extra.length === 0) {
      throw new UsageError(
        `--host ${host} is not a loopback address: name the host clients will use with --allowed-host (and ` +
          `put TLS in front)`,
      );
    }
    const { ParleyNode } = await import('../node/service.js');
    const { attachBotSupport } = await import('../node/bots.js');
    const { startOpenThread } = await import('../node/opener.js');
    const { startServe } = await import('../node/serve/http.js');
    startOpenThread();
    const node = await ParleyNode.open();
    const token = loadOrCreateToken(node.home);
    let serve;
    try {
      serve = await startServe(node, attachBotSupport(node), { host, port, token, allowedHosts: extra });
    } catch (err) {
      node.close();
      console.error(`parley serve: ${listenFailure(err as NodeJS.ErrnoException, port)}`);
      return 1;
    }
    if (!isLoopback(host)) {
      console.error(
        `parley serve: listening on ${host}, beyond this machine: the token and every message cross the network in ` +
          `clear text unless a TLS proxy (https) is in front.`,
      );
    }
    console.log(`parley serve listening on ${serve.url}`);
    console.log(`page: ${serve.url}/#token=${token}`);
    console.error(
      `parley serve: node ${node.me.slice(0, 8)} ready (profile ${node.home}, ${node.channelRows().length} ` +
        `channel(s)); MCP at ${serve.url}/mcp`,
    );
    void node.started().then((line) => line && console.error(`parley serve: ${line}`));
    return new Promise<number>((resolve) => {
      const stop = () => {
        void serve.close().finally(() => {
          node.close();
          resolve(0);
          // The open thread and relay sockets would keep the process alive past a clean close.
          process.exit(0);
        });
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
  },
};
