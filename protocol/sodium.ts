/**
 * The one libsodium instance. Call `await ready()` once at start-up; every other protocol function is synchronous
 * and throws if used before that.
 */
import _sodium from 'libsodium-wrappers';

let loaded = false;

export async function ready(): Promise<void> {
  await _sodium.ready;
  loaded = true;
}

export function sodium(): typeof _sodium {
  if (!loaded) throw new Error('libsodium not ready: await ready() from protocol/sodium.js first');
  return _sodium;
}
