/**
 * What the tool groups (node/tools/*.ts) share: `toolOn`, which registers one tool with its hints, its audit line
 * and its one-sentence errors, and the input schemas several groups use.
 */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { ToolError } from '../errors.js';
import type { ParleyNode } from '../service.js';
import { TOOL_HINTS } from '../tool-hints.js';

export const Detail = z
  .enum(['compact', 'full'])
  .optional()
  .describe(
    'compact (default): what you need to act, few tokens; full: every field (event ids, author keys, millisecond ' +
      'times)',
  );
export const isFull = (args: { detail?: 'compact' | 'full' }) => args.detail === 'full';
export const ChannelRef = z.string().min(1).max(200).describe('channel id (or exact channel name)');

/** Registers one tool (see `toolOn`). */
export type Tool = ReturnType<typeof toolOn>;

/** The `tool` function the groups register their tools with, on this server for this node. */
export function toolOn(mcp: McpServer, node: ParleyNode) {
  /** Registers a tool whose handler returns structured content; ToolError becomes a one-sentence isError result. */
  return function tool<I extends z.ZodRawShape, O extends z.ZodRawShape>(
    name: string,
    description: string,
    input: I,
    output: O,
    handler: (
      args: z.infer<z.ZodObject<I>>,
      signal: AbortSignal,
    ) => Promise<z.infer<z.ZodObject<O>>> | z.infer<z.ZodObject<O>>,
    render: (out: z.infer<z.ZodObject<O>>, args: z.infer<z.ZodObject<I>>) => string = (out) => JSON.stringify(out),
  ) {
    mcp.registerTool(name, { description, inputSchema: input, outputSchema: output, ...TOOL_HINTS[name] }, (async (
      args: z.infer<z.ZodObject<I>>,
      extra: { signal: AbortSignal },
    ) => {
      const channel =
        typeof (args as { channel?: unknown }).channel === 'string' ? (args as { channel: string }).channel : null;
      try {
        const out = await handler(args, extra.signal);
        node.audit(name, channel, 'ok');
        return {
          content: [{ type: 'text' as const, text: render(out, args) }],
          structuredContent: out as Record<string, unknown>,
        };
      } catch (err) {
        const message =
          err instanceof ToolError
            ? err.message
            : `Internal error in ${name}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`;
        node.audit(name, channel, `error: ${message}`);
        if (!(err instanceof ToolError)) console.error(`parley mcp: ${name} failed:`, err);
        return { content: [{ type: 'text' as const, text: message }], isError: true };
      }
    }) as never);
  };
}
