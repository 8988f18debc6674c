/**
 * A throwaway PostgreSQL cluster for one test file or benchmark run: the machine's binaries (`pg_config --bindir`),
 * `initdb` into a temp dir, a free loopback port, the socket dir inside the temp dir. initdb and postgres refuse to
 * run as root, so when we are root both run as the `postgres` system user; the temp dir is handed to that user first.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export interface TestPostgres {
  /** URL of the `postgres` maintenance database (user `parley`, trust auth on loopback). */
  url: string;
  port: number;
  dir: string;
  /** Creates a fresh database and returns its URL. */
  createDatabase(name?: string): Promise<string>;
  /** Drops a database made by createDatabase (disconnecting its clients) and creates it again, empty. */
  wipeDatabase(url: string): Promise<void>;
  /** Stops the server (fast shutdown) and keeps its data. */
  stopServer(): Promise<void>;
  /** Starts the stopped server again on the same port. */
  startServer(): Promise<void>;
  /** Stops the server and removes the cluster; safe to call twice. */
  stop(): Promise<void>;
}

function binDir(): string {
  try {
    const dir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim();
    if (existsSync(join(dir, 'initdb'))) return dir;
  } catch {
    // pg_config missing: look where Debian's postgresql-N packages put their binaries.
  }
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) if (existsSync(join(root, v, 'bin', 'initdb'))) return join(root, v, 'bin');
  throw new Error('PostgreSQL binaries not found (install the postgresql package; .ci/run does)');
}

/** uid/gid to run PostgreSQL as: the `postgres` user when we are root, ourselves otherwise. */
function runAs(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

function run(cmd: string, args: string[], user: { uid: number; gid: number } | null): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(user ?? {}),
      env: { ...process.env, LC_ALL: 'C' },
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}: ${out.trim()}`)),
    );
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

let dbCounter = 0;

// Long: one closure over the cluster it starts: init, start, wait, and the handle that stops it.
export async function startPostgres(opts: { fsync?: boolean } = {}): Promise<TestPostgres> {
  const bin = binDir();
  const user = runAs();
  const dir = mkdtempSync(join(tmpdir(), 'parley-pg-'));
  chmodSync(dir, 0o700);
  if (user) chownSync(dir, user.uid, user.gid);
  const data = join(dir, 'data');
  await run(join(bin, 'initdb'), ['-D', data, '-U', 'parley', '-A', 'trust', '-E', 'UTF8', '--no-locale'], user);
  let port = 0;
  const start = async () => {
    const settings = [
      `-p ${port}`,
      `-k ${dir}`,
      '-c listen_addresses=127.0.0.1',
      ...(opts.fsync === false ? ['-c fsync=off'] : []),
    ];
    await run(
      join(bin, 'pg_ctl'),
      ['-D', data, '-l', join(dir, 'log'), '-w', '-t', '60', '-o', settings.join(' '), 'start'],
      user,
    );
  };
  // A free port can be taken between probing and binding: try a few.
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    try {
      await start();
      break;
    } catch (err) {
      if (attempt >= 2) {
        rmSync(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }
  const url = `postgres://parley@127.0.0.1:${port}/postgres`;
  const stopServer = async (mode = 'fast') => {
    await run(join(bin, 'pg_ctl'), ['-D', data, '-w', '-m', mode, 'stop'], user).catch(() => undefined);
    // pg_ctl gave up or the server ignored it: end the postmaster by its pid.
    const pidFile = join(data, 'postmaster.pid');
    if (existsSync(pidFile)) {
      const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
      try {
        if (pid > 0) process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  };
  let stopped = false;
  return {
    url,
    port,
    dir,
    async createDatabase(name = `parley_test_${process.pid}_${++dbCounter}`) {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return `postgres://parley@127.0.0.1:${port}/${name}`;
    },
    async wipeDatabase(dbUrl) {
      const name = new URL(dbUrl).pathname.slice(1);
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`DROP DATABASE ${name} WITH (FORCE)`);
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
    },
    stopServer: () => stopServer('fast'),
    startServer: start,
    async stop() {
      if (stopped) return;
      stopped = true;
      await stopServer('immediate');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
