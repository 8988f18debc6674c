#!/usr/bin/env node
/** `parley`: dispatches to one module per subcommand, loaded lazily so `parley relay` never loads QuickJS. */
import { UsageError, type Command } from './command.js';

const commands: Record<string, () => Promise<{ command: Command }>> = {
  relay: () => import('./relay.js'),
  mcp: () => import('./mcp.js'),
  serve: () => import('./serve.js'),
  demo: () => import('./demo.js'),
  channels: () => import('./channels.js'),
  show: () => import('./show.js'),
  export: () => import('./export.js'),
  verify: () => import('./verify.js'),
  audit: () => import('./audit.js'),
  identity: () => import('./identity.js'),
};

function usage(): string {
  return [
    'usage: parley <command> [options]',
    '',
    'commands:',
    ...Object.keys(commands).map((name) => `  ${name}`),
    '',
    'Run `parley <command> --help` for the options of one command.',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    const lines = [usage().split('\n')[0], '', 'commands:'];
    for (const [cmd, load] of Object.entries(commands))
      lines.push(`  ${cmd.padEnd(10)} ${(await load()).command.summary}`);
    lines.push('', 'Run `parley <command> --help` for the options of one command.');
    console.log(lines.join('\n'));
    return name ? 0 : 2;
  }
  const load = commands[name];
  if (!load) {
    console.error(`parley: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  const { command } = await load();
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(`${command.usage}\n\n${command.summary}`);
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`parley ${name}: ${err.message}\n\n${command.usage}`);
      return 2;
    }
    throw err;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`parley: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
