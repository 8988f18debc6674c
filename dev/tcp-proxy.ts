/**
 * A tiny TCP load balancer for tests: each new connection goes to the next target in turn (or to the pinned one),
 * skipping targets that refuse, and is piped both ways. It knows nothing of WebSockets, like a plain L4 balancer.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  url: string;
  port: number;
  /** Send new connections only to target i (null: round-robin). */
  pin(i: number | null): void;
  /** Connections routed to each target so far. */
  routed: number[];
  close(): Promise<void>;
}

export async function startTcpProxy(targets: number[]): Promise<TcpProxy> {
  let next = 0;
  let pinned: number | null = null;
  const routed = targets.map(() => 0);
  const open = new Set<Socket>();

  /** Tries targets from `first` on until one accepts. */
  const route = (client: Socket, tried = 0, first = pinned ?? next++ % targets.length) => {
    const i = (first + tried) % targets.length;
    if (tried >= targets.length || client.destroyed) return client.destroy();
    const upstream = connect(targets[i], '127.0.0.1');
    let connected = false;
    open.add(upstream);
    upstream.once('connect', () => {
      connected = true;
      routed[i]++;
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
    upstream.on('error', () => undefined);
    upstream.once('close', () => {
      open.delete(upstream);
      // Refused (a dead instance): try the next one; dropped later: the client sees its connection end.
      if (connected) client.destroy();
      else route(client, tried + 1, first);
    });
    client.once('close', () => upstream.destroy());
  };

  const server: Server = createServer((client) => {
    open.add(client);
    client.pause();
    client.on('error', () => undefined);
    client.once('close', () => open.delete(client));
    route(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `ws://127.0.0.1:${port}`,
    port,
    routed,
    pin(i) {
      pinned = i;
    },
    close() {
      for (const s of open) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
