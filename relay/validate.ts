/** The relay's validator is the one nodes use too: protocol/log-update.ts (pure; shared so there is one copy). */
export * from '../protocol/log-update.js';
