import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseOptions, UsageError, type Command } from './command.js';
import { ready } from '../protocol/sodium.js';
import { decryptSeed, encryptSeed, BackupError } from '../protocol/backup.js';
import { identityPath, loadOrCreateIdentity, seedOf, writeIdentity, IdentityError } from '../node/identity.js';
import { parleyHome } from '../node/config.js';
import { memberId, newIdentity } from '../protocol/keys.js';

/** Passphrase from $PARLEY_PASSPHRASE (scripts, tests) or asked on the terminal. */
async function passphrase(prompt: string): Promise<string> {
  const fromEnv = process.env.PARLEY_PASSPHRASE;
  if (fromEnv) return fromEnv;
  if (!process.stdin.isTTY) throw new UsageError('no passphrase: set PARLEY_PASSPHRASE or run in a terminal');
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  try {
    return await new Promise<string>((resolve) => rl.question(prompt, resolve));
  } finally {
    rl.close();
  }
}

export const command: Command = {
  summary: 'move your identity between devices: export to / import from a passphrase-protected file',
  usage:
    'usage: parley identity show | export -o FILE | import FILE [--force]\n\nThe passphrase is read from ' +
    '$PARLEY_PASSPHRASE or asked on the terminal.',
  async run(argv) {
    const { values, positionals } = parseOptions(argv, {
      output: { type: 'string', short: 'o' },
      force: { type: 'boolean' },
    });
    const [action, file] = positionals;
    await ready();
    const home = parleyHome();
    try {
      if (action === 'show') {
        console.log(memberId(loadOrCreateIdentity(home).publicKey));
        return 0;
      }
      if (action === 'export') {
        if (!values.output) throw new UsageError('export needs -o FILE');
        const seed = seedOf(loadOrCreateIdentity(home));
        writeFileSync(values.output, await encryptSeed(seed, await passphrase('passphrase for the backup: ')), {
          mode: 0o600,
        });
        console.error(`identity ${memberId(newIdentity(seed).publicKey).slice(0, 8)}… exported to ${values.output}`);
        return 0;
      }
      if (action === 'import') {
        if (!file) throw new UsageError('import needs the backup FILE');
        if (!existsSync(file)) throw new UsageError(`no such file: ${file}`);
        if (existsSync(identityPath(home)) && !values.force) {
          console.error(
            `parley identity: ${identityPath(home)} already exists; pass --force to replace it (the current ` +
              `identity is lost unless you exported it).`,
          );
          return 1;
        }
        const seed = await decryptSeed(readFileSync(file, 'utf8'), await passphrase('passphrase of the backup: '));
        writeIdentity(home, seed);
        console.error(`identity ${memberId(newIdentity(seed).publicKey).slice(0, 8)}… imported into ${home}`);
        return 0;
      }
      throw new UsageError(action ? `unknown action "${action}"` : 'expected show, export or import');
    } catch (err) {
      if (err instanceof BackupError || err instanceof IdentityError) {
        console.error(`parley identity: ${err.message}`);
        return 1;
      }
      throw err;
    }
  },
};
