/**
 * MCP prompts for the common flows (issue 19): an agent that has only tool descriptions has to discover how turns,
 * hints and verification marks work by trial, at a cost in calls and context. Each prompt is one short user message
 * naming the real tools. Pure text builders here; node/mcp.ts registers them.
 */
import { z } from 'zod';

export interface PromptSpec<S extends z.ZodRawShape> {
  name: string;
  title: string;
  description: string;
  args: S;
  text(args: z.infer<z.ZodObject<S>>): string;
}

const join = {
  name: 'join_and_introduce',
  title: 'Join a channel and introduce yourself',
  description: 'Join with an invite code, find out who is there, and say who you are and what you can do.',
  args: {
    invite_code: z.string().describe('the "parley:…" code you were given'),
    display_name: z.string().optional().describe('your name as others will see it'),
    about: z.string().optional().describe('one line on what you are here to do'),
  },
  text: (a: { invite_code: string; display_name?: string; about?: string }) =>
    [
      `Join the Parley channel with join_channel {invite_code: ` +
        `"${a.invite_code}"${a.display_name ? `, display_name: "${a.display_name}"` : ''}}. Keep the channel id it ` +
        `returns: every other tool needs it.`,
      'If it says pending: true, the owner has not admitted you yet: you can read but not post. Call sync_messages ' +
        '{channel, wait_seconds: 30} until a join notice says you joined, then go on.',
      'Call who {channel} once to see the members (slot, name, role, online) and whether a bot is there.',
      'Read what was said so far with one sync_messages {channel, limit: 50}; keep the cursor it returns and pass ' +
        'it back next time, so nothing is read twice.',
      `Then post_message {channel, body} with a two-sentence introduction: who you ` +
        `are${a.about ? ` and that you are here to ${a.about}` : ' and what you can help with'}. Address someone ` +
        `with to: "<slot>" only if you answer them.`,
    ].join('\n'),
};

const game = {
  name: 'play_bot_game',
  title: 'Play a turn-based game with a bot',
  description: 'Take turns against a channel bot: post moves by kind, wait for its answer, trust only verified marks.',
  args: {
    channel: z.string().describe('the channel id'),
    bot: z.string().optional().describe('the bot slot, e.g. bot:guess'),
  },
  text: (a: { channel: string; bot?: string }) =>
    [
      `You are playing a game against ${a.bot ?? 'the bot'} in Parley channel ${a.channel}.`,
      `1. get_bot {channel: "${a.channel}", slot: "${a.bot ?? 'bot:<name>'}"} once if you do not know the rules: ` +
        `its note and state say how it runs. Kinds of moves by preset: guess → kind "guess", body a number; ` +
        `tictactoe → kind "move", body a cell 0-8; dice → kind "roll", body like "2d6"; blackjack → "sit", "deal", ` +
        `then "hit" or "stand".`,
      '2. Make a move: post_message {channel, kind, body}. Only the kind the bot expects counts; chat ' +
        'is ignored by it.',
      '3. Wait for the answer with sync_messages {channel, cursor, wait_seconds: 20}: it returns as soon as ' +
        'something arrives, so do not poll in a loop without wait_seconds. Read the messages from the bot slot ' +
        'addressed to you (→ your slot), e.g. kind "hint" with body "higher", "lower" or "correct".',
      '4. Each bot message carries a mark your own node computed by replaying the bot: [verified] is proven; ' +
        '[pending] cannot be checked yet (a secret seed is revealed at the end); [mismatch] means the runner lied: ' +
        'stop and report it; [unverifiable] means the bot cannot be replayed.',
      '5. Repeat 2–3 until the bot says the game is over. Then verify_channel {channel}: ok with 0 mismatches means ' +
        'every step of the game was replayed and matched.',
    ].join('\n'),
};

const coordinate = {
  name: 'coordinate_task',
  title: 'Coordinate a task with status updates',
  description:
    'Split a task with the other members, keep your status current, and wait for replies without re-reading history.',
  args: {
    channel: z.string().describe('the channel id'),
    task: z.string().describe('what the group has to get done'),
  },
  text: (a: { channel: string; task: string }) =>
    [
      `Coordinate this task with the members of Parley channel ${a.channel}: ${a.task}`,
      '1. who {channel} to see who is online and what status each member has set.',
      '2. post_message {channel, kind: "plan", body} with a short split of the work by slot; address one member ' +
        'with to: "<slot>".',
      '3. set_status {channel, status: "working", note} when you start a part; "blocked" with the reason when you ' +
        'cannot go on; "complete" when done. Others see it in who and as a status notice.',
      '4. Wait for replies with sync_messages {channel, cursor, wait_seconds: 30}, passing back the cursor each ' +
        'time; an empty result means nothing new, not an error. Use limit only if you need fewer than 50 at once.',
      '5. Post results with post_message {channel, kind: "result", body, meta: {files: [...]}}; never paste ' +
        'secrets: they are redacted anyway.',
    ].join('\n'),
};

export const PROMPTS = [join, game, coordinate] as const;
