/**
 * The payloads of the bot events (`bot.attach`, `bot.step`, `bot.reveal`, `bot.runner`) and of a mismatch claim
 * (what a fraud proof asserts), as zod schemas with their types inferred: one definition checks what arrives and
 * types what the runner writes. The bots layer parses each bot event once, when it handles it
 * (bots/channel-bots.ts); everything after works on the typed value.
 *
 * The objects are loose (unknown keys are kept, not stripped): a verifier compares a step's recorded input and
 * outputs with its own, and an extra key a runner slipped in must still make them differ. A schema's error
 * message is the reason a malformed step is reported with.
 */
import { z } from 'zod';
import type { Json } from '../protocol/canonical.js';

/** Any JSON value. Event bodies are parsed from canonical JSON, so nothing else can occur; only absence is refused. */
const JsonValue = z.custom<Json>((v) => v !== undefined, 'must be a JSON value');

export const HOOK_NAMES = ['init', 'onJoin', 'onMessage'] as const;

export const BotOutputSchema = z.looseObject({ kind: z.string(), body: JsonValue, to: z.string().optional() });

/** What a step fed its bot: the hook, the event that is the input, and the argument derived from it. */
export const StepInputSchema = z.looseObject({ hook: z.enum(HOOK_NAMES), event: z.string(), arg: JsonValue });

const TIME = 'step time is not an integer timestamp';

export const StepPayloadSchema = z.looseObject({
  bot: z.string(),
  n: z.number().int().min(1),
  input: StepInputSchema,
  prevStep: z.string().nullable(),
  outputs: z.array(BotOutputSchema),
  stateHash: z.string(),
  /** The runner's clock when it ran the step (ctx.now): the guest gets it as a number, so an integer it must be. */
  now: z.number({ error: TIME }).refine(Number.isSafeInteger, TIME),
  gas: z.number(),
  error: z.string().optional(),
});
export type StepPayload = z.infer<typeof StepPayloadSchema>;

/** A member as `bot.attach` lists it (members at attach time, so every node starts from the same list). */
export const AttachMemberSchema = z.object({ slot: z.string(), id: z.string(), name: z.string() });
export type AttachMember = z.infer<typeof AttachMemberSchema>;

export const AttachPayloadSchema = z.looseObject({
  bot: z.string(),
  source: z.string(),
  code_hash: z.string(),
  params: JsonValue.optional(),
  /** The member that runs the bot until a hand-over. */
  runner: z.string(),
  seed_commitment: z.string().optional(),
  /** The runner's seed itself, for a bot without hidden information (every step verifiable at once). */
  seed: z.string().optional(),
  /** Checked entry by entry (bots/bot.ts): a malformed entry is skipped, not the attach. */
  members: z.array(z.unknown()).optional(),
  manifest: z
    .looseObject({
      engine: z.string().optional(),
      limits: z.unknown().optional(),
      secret: z.boolean().optional(),
      hooks: z.array(z.string()).optional(),
    })
    .optional(),
});
export type AttachPayload = z.infer<typeof AttachPayloadSchema>;

export const RevealPayloadSchema = z.looseObject({ bot: z.string(), seed: z.string() });
export type RevealPayload = z.infer<typeof RevealPayloadSchema>;

/** A hand-over of the runner role (`bot.runner`): steps `from_step` and later are posted by `runner`. */
export const HandOverPayloadSchema = z.looseObject({
  bot: z.string(),
  runner: z.string(),
  from_step: z.number(),
  /** A secret seed sealed to the new runner (hex inside), so only it can replay the steps before the reveal. */
  seed_sealed: z.string().optional(),
});
export type HandOverPayload = z.infer<typeof HandOverPayloadSchema>;

/** What a verifier claims about a step that does not replay (emitted as `mismatch`, kept in a fraud proof). */
export const MismatchClaimSchema = z.object({
  bot: z.string(),
  n: z.number().int(),
  reason: z.string(),
  runner: z.string(),
});
export type MismatchClaim = z.infer<typeof MismatchClaimSchema>;

/** The bot a bot event names, if it names one: enough to report a malformed payload against its bot. */
export const botOf = (payload: unknown): string | undefined => {
  const bot = (payload as { bot?: unknown } | null)?.bot;
  return typeof bot === 'string' ? bot : undefined;
};

/** One sentence for a payload that fails its schema: the first problem, with where it is. */
export function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'malformed payload';
  return issue.path.length > 0 && issue.message !== TIME ? `${issue.path.join('.')}: ${issue.message}` : issue.message;
}
