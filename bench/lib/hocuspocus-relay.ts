/**
 * A real peer server for the relay bench: Hocuspocus (`@hocuspocus/server`, a dev dependency), as its documentation
 * starts it, with no extensions: no authentication hook, no persistence. It keeps one Y.Doc per document in memory
 * and merges the updates of one event-loop turn into one broadcast (its default `flushDelay: 0`), sent to every
 * connection of the document, the sender included; it acknowledges each update to its sender (a SyncStatus message).
 * Nothing is durable before it forwards. Its wire protocol prefixes each y-websocket message with the document name;
 * the bench's clients speak it through bench/lib/hocuspocus-socket.ts.
 */
import { Server } from '@hocuspocus/server';

export interface HocuspocusRelay {
  url: string;
  /** Entries in the `log` map of every document. */
  entryCount(): number;
  close(): Promise<void>;
}

export async function startHocuspocusRelay(): Promise<HocuspocusRelay> {
  const server = new Server({ port: 0, address: '127.0.0.1', quiet: true, stopOnSignals: false });
  await server.listen();
  const { address, port } = server.address;
  return {
    url: `ws://${address}:${port}`,
    entryCount() {
      let n = 0;
      for (const doc of server.hocuspocus.documents.values()) n += doc.getMap('log').size;
      return n;
    },
    close: () => server.destroy(),
  };
}
