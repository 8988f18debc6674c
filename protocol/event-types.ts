/** Event types and the deps bound, shared by the zod schema (protocol/event.ts) and the fast body check. */
export const MAX_DEPS = 64;

export const EVENT_TYPES = [
  'channel.create',
  'member.join',
  'member.admit',
  'member.role',
  'member.leave',
  'member.kick',
  'member.status',
  'channel.update',
  'message',
  'bot.attach',
  'bot.step',
  'bot.reveal',
  'bot.oracle',
  'bot.runner',
  'epoch.rotate',
  'epoch.key',
  'channel.close',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];
