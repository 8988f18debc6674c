/** A tool failure an agent can act on: one sentence, returned as `isError: true`, never a stack trace. */
export class ToolError extends Error {
  override name = 'ToolError';
}

const what = (type: string) =>
  type === 'message' ? 'message' : type === 'bot.attach' ? 'bot (its source and parameters)' : `${type} event`;

/** An event of ours that relays would refuse for its size: refused before it is signed into our chain. */
export class EventTooLargeError extends ToolError {
  constructor(
    type: string,
    readonly bytes: number,
    readonly limit = 64 * 1024,
  ) {
    super(
      `This ${what(type)} would be ${bytes.toLocaleString('en-US')} bytes once signed and encrypted; relays ` +
        `accept at most ${limit.toLocaleString('en-US')} bytes per event (body, meta, kind and addressee all count, ` +
        `JSON escaping included). Shorten it or split it.`,
    );
  }
}
