/** A tool failure an agent can act on: one sentence, returned as `isError: true`, never a stack trace. */
export class ToolError extends Error {
  override name = 'ToolError';
}
