import type { Command } from './command.js';
import { parseOptions } from './command.js';

export const command: Command = {
  summary: 'run the stdio MCP node (started by an agent host: Claude Desktop, Claude Code, any MCP client)',
  usage: [
    'usage: parley mcp',
    '',
    'environment:',
    '  PARLEY_HOME                 profile directory (default ~/.parley)',
    '  PARLEY_RELAY                default relay URL(s), comma-separated, e.g. ws://127.0.0.1:4455',
    '  PARLEY_BODY_LIMIT_BYTES     largest message body in bytes (default 50000)',
    '  PARLEY_RATE_LIMIT_PER_MIN   posts per channel per minute (default 60)',
    '  PARLEY_BOT_PAUSED_MS        a bot whose input waits this long is shown as paused (default 30000)',
    '  PARLEY_WITHHOLD_GRACE_MS    how long claimed events may stay missing before relays are named as',
    '                              withholding (default 15000)',
    '  PARLEY_STORE_POLL_MS        how often to pick up what other parley mcp processes of this profile stored',
    '                              (default 200)',
    '  PARLEY_DORMANT_AFTER_MS     a channel with nothing to do for this long is unloaded until something',
    '                              arrives or a tool names it (default 120000)',
  ].join('\n'),
  async run(argv) {
    parseOptions(argv, {}, false);
    const { StdioServerTransport } = await import('@modelcontextprotocol/sdk/server/stdio.js');
    const { ParleyNode } = await import('../node/service.js');
    const { createMcpServer } = await import('../node/mcp.js');
    const { attachBotSupport } = await import('../node/bots.js');
    const { startOpenThread } = await import('../node/opener.js');
    // A long-lived node: start the open thread now, so the first large sync does not wait for it to boot.
    startOpenThread();
    const node = await ParleyNode.open();
    const server = createMcpServer(node, attachBotSupport(node));
    const transport = new StdioServerTransport();
    let closing = false;
    const shutdown = () => {
      if (closing) return;
      closing = true;
      node.close();
      void server.close().finally(() => process.exit(0));
    };
    process.on('SIGTERM', shutdown);
    process.on('SIGINT', shutdown);
    process.stdin.on('close', shutdown);
    await server.connect(transport);
    console.error(
      `parley mcp: node ${node.me.slice(0, 8)} ready (profile ${node.home}, ${node.channelRows().length} channel(s))`,
    );
    void node.started().then((line) => line && console.error(`parley mcp: ${line}`));
    return new Promise<number>(() => undefined);
  },
};
