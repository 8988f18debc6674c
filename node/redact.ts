/**
 * Secret redaction, applied to a message before it is signed and encrypted: once a secret is sealed into the channel
 * every member (and every export) has it forever, so the only safe place to stop it is the posting node.
 * Each rule replaces only the secret part and names what it removed; the names are returned to the agent.
 */
import type { Json } from '../protocol/canonical.js';

interface Rule {
  name: string;
  pattern: RegExp;
  /** Replacement; `$1` etc. keep the non-secret context (a key name, a URL's user). */
  replace: string;
}

const mark = (name: string) => `[REDACTED:${name}]`;

/** Names under which a value is a secret when assigned (`password=…`, `"api_key": "…"`). */
const SECRET_NAMES = 'password|passwd|pwd|secret|api[_-]?key|apikey|access[_-]?token|auth[_-]?token|client[_-]?secret';

// Order matters: specific formats first, so a `password=ghp_...` is named for the token it holds.
const RULES: Rule[] = [
  {
    name: 'private-key',
    pattern: /-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?)-----[\s\S]*?(?:-----END \1-----|$)/g,
    replace: mark('private-key'),
  },
  { name: 'aws-access-key', pattern: /\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b/g, replace: mark('aws-access-key') },
  {
    name: 'aws-secret-key',
    pattern: /(aws_?secret_?(?:access_?)?key["']?\s*[:=]\s*["']?)[A-Za-z0-9/+=]{40}/gi,
    replace: `$1${mark('aws-secret-key')}`,
  },
  {
    name: 'github-token',
    pattern: /\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b/g,
    replace: mark('github-token'),
  },
  { name: 'api-key', pattern: /\bsk-(?:[A-Za-z0-9_-]{2,40}-)?[A-Za-z0-9_-]{20,}\b/g, replace: mark('api-key') },
  { name: 'slack-token', pattern: /\bxox[abprs]-[A-Za-z0-9-]{10,}\b/g, replace: mark('slack-token') },
  { name: 'bearer-token', pattern: /(\bBearer\s+)[A-Za-z0-9._~+/=-]{16,}/g, replace: `$1${mark('bearer-token')}` },
  {
    name: 'url-password',
    pattern: /(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@]+:)[^\s@/]+(@)/gi,
    replace: `$1${mark('url-password')}$2`,
  },
  {
    name: 'assigned-secret',
    pattern: new RegExp(`(\\b(?:${SECRET_NAMES})["']?\\s*[:=]\\s*["']?)(?!\\[REDACTED)[^\\s"',;&]{4,}`, 'gi'),
    replace: `$1${mark('assigned-secret')}`,
  },
];

export interface Redacted<T> {
  text: T;
  /** Names of the rules that fired, each once, in rule order. */
  redacted: string[];
}

export function redactSecrets(text: string): Redacted<string> {
  const redacted: string[] = [];
  let out = text;
  for (const rule of RULES) {
    const next = out.replace(rule.pattern, rule.replace);
    if (next !== out) redacted.push(rule.name);
    out = next;
  }
  return { text: out, redacted };
}

/** Redacts every string (and object key's value) inside a JSON value; keys themselves are kept. */
export function redactJson(value: unknown): { value: Json; redacted: string[] } {
  const found = new Set<string>();
  const walk = (v: unknown): Json => {
    if (typeof v === 'string') {
      const r = redactSecrets(v);
      for (const n of r.redacted) found.add(n);
      return r.text;
    }
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object') {
      const out: Record<string, Json> = {};
      for (const [k, inner] of Object.entries(v)) out[k] = walk(inner);
      return out;
    }
    return v as Json;
  };
  const result = walk(value);
  return { value: result, redacted: RULES.map((r) => r.name).filter((n) => found.has(n)) };
}
