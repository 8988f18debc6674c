/**
 * The open thread (see node/opener.ts): opens each batch it is sent with node/open-batch.ts and posts the result
 * back, in the order received.
 */
import { parentPort } from 'node:worker_threads';
import { ready } from '../protocol/sodium.js';
import { openBatch } from './open-batch.js';
import { decodeRequest, encodeResponse, type OpenRequest } from './opener.js';

const port = parentPort!;
const sodiumReady = ready();

// Handlers queue on one promise, so batches are opened in the order they came. openBatch does not throw on hostile
// bytes; anything else that throws is a bug, and the unhandled rejection ends the thread (the node then opens inline).
port.on('message', (m: OpenRequest) => {
  void sodiumReady.then(() => {
    const { entries, epoch } = decodeRequest(m);
    const { message, transfer } = encodeResponse(m.id, openBatch(entries, epoch));
    port.postMessage(message, transfer);
  });
});
