/** The bot tools: attach a bot, show one, hand its runner role on. Registered only on a node with bot support. */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { compactBot, renderCompactBot, type BotInfo } from '../compact.js';
import { SlotNameSchema } from '../payloads.js';
import type { ParleyNode } from '../service.js';
import { ChannelRef, Detail, isFull, toolOn } from './tool.js';

export const BotInput = z
  .object({
    preset: z.string().max(64).optional().describe('a built-in bot: echo, guess, blackjack, tictactoe, dice'),
    code: z
      .string()
      .max(256 * 1024)
      .optional()
      .describe('JavaScript module source of a custom bot (export default { init, onJoin, onMessage })'),
    params: z.record(z.string(), z.unknown()).optional().describe("parameters passed to the bot's init"),
  })
  .strict();
const BotLimitsInput = z
  .object({
    memory: z
      .number()
      .int()
      .positive()
      .optional()
      .describe(
        "bytes of memory the bot may use beyond the engine's own (default 32 MiB, at most 128 MiB; docs/bots.md)",
      ),
    gas: z
      .number()
      .int()
      .positive()
      .optional()
      .describe('gas per step, units of about 10k operations (default 400, at most 20000; docs/bots.md)'),
  })
  .strict()
  .optional();

export type BotHooks = {
  attachBot(args: {
    channel: string;
    slot: string;
    preset?: string;
    code?: string;
    params?: Record<string, unknown>;
    limits?: { memory?: number; gas?: number };
  }): { slot: string; code_hash: string };
  getBot(args: { channel: string; slot: string }): Record<string, unknown>;
  handOverBot(args: { channel: string; slot: string; to?: string }): {
    slot: string;
    runner: string;
    runner_slot: string;
    from_step: number;
  };
};

export function registerBotTools(server: McpServer, node: ParleyNode, bots: BotHooks): void {
  const tool = toolOn(server, node);

  tool(
    'attach_bot',
    'Owner or admin: attach a bot to a bot:<name> slot, from a preset or your own JavaScript. Every member replays ' +
      'it to verify its outputs.',
    {
      channel: ChannelRef,
      slot: SlotNameSchema,
      preset: z.string().max(64).optional(),
      code: z
        .string()
        .max(256 * 1024)
        .optional(),
      params: z.record(z.string(), z.unknown()).optional(),
      limits: BotLimitsInput,
    },
    { slot: z.string(), code_hash: z.string() },
    (args) => bots.attachBot(args),
  );
  tool(
    'get_bot',
    'Show a bot: state, runner, engine, code hash, and how many of its steps your node verified. detail "full" ' +
      'adds its source code (up to 256 KiB) and the full hash: ask for it only to read the code.',
    { channel: ChannelRef, slot: SlotNameSchema, detail: Detail },
    {
      slot: z.string(),
      code: z.string().optional().describe('full detail only'),
      code_hash: z.string().describe('sha256; shortened unless full'),
      runner: z.string().optional().describe('full detail only'),
      runner_slot: z.string(),
      runner_is_neutral: z.boolean(),
      secret: z.boolean(),
      engine: z.string(),
      state: z.enum(['running', 'paused']),
      waiting_inputs: z.number().int(),
      note: z.string(),
      steps: z.number().int(),
      verified: z.number().int(),
      pending: z.number().int(),
      mismatches: z.number().int(),
    },
    (args) => (isFull(args) ? bots.getBot(args) : compactBot(bots.getBot(args) as unknown as BotInfo)) as never,
    (out, args) => (isFull(args) ? JSON.stringify(out) : renderCompactBot(out as ReturnType<typeof compactBot>)),
  );
  tool(
    'hand_over_bot',
    "Move a bot's runner role to another member from its next step. The owner may hand any bot to any member (a " +
      'bot with a secret seed only by its current runner, who seals the seed to the new one); any member may claim a ' +
      'paused bot without a secret seed for itself (omit `to`).',
    {
      channel: ChannelRef,
      slot: SlotNameSchema,
      to: SlotNameSchema.optional().describe('the member slot that becomes the runner; default: yourself'),
    },
    { slot: z.string(), runner: z.string(), runner_slot: z.string(), from_step: z.number().int() },
    (args) => bots.handOverBot(args),
  );
}
