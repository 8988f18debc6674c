import { describe, expect, it } from 'vitest';
import { redactJson, redactSecrets } from '../../node/redact.js';

const cases: [string, string, string][] = [
  ['aws-access-key', 'key AKIAIOSFODNN7EXAMPLE here', 'AKIAIOSFODNN7EXAMPLE'],
  [
    'aws-secret-key',
    'aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  ],
  [
    'private-key',
    '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\nabc\n-----END RSA PRIVATE KEY-----',
    'MIIEowIBAAKCAQEA',
  ],
  ['private-key', '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAA', 'b3BlbnNzaC1rZXktdjEAAAA'],
  ['bearer-token', 'Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc', 'eyJhbGciOiJIUzI1NiJ9'],
  ['github-token', 'token ghp_' + 'a'.repeat(36), 'ghp_' + 'a'.repeat(36)],
  ['github-token', 'github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz', 'github_pat_11ABCDEFG'],
  ['api-key', 'OPENAI=sk-proj-abcdefghijklmnopqrstuvwxyz123456', 'abcdefghijklmnopqrstuvwxyz123456'],
  ['url-password', 'db at postgres://admin:hunter2secret@db.example.com/x', 'hunter2secret'],
  ['assigned-secret', 'password=correcthorsebattery', 'correcthorsebattery'],
  ['assigned-secret', '{"api_key": "abcd1234efgh"}', 'abcd1234efgh'],
];

describe('redactSecrets', () => {
  it.each(cases)('%s: removes the secret and names the rule', (name, input, secret) => {
    const out = redactSecrets(input);
    expect(out.text).not.toContain(secret);
    expect(out.redacted).toContain(name);
    expect(out.text).toContain(`[REDACTED:${name}]`);
  });

  it('leaves ordinary text alone', () => {
    const text = 'I guess 42. The password policy says use a manager; see https://example.com/a:b and sk-short.';
    expect(redactSecrets(text)).toEqual({ text, redacted: [] });
  });

  it('keeps the context around a secret', () => {
    expect(redactSecrets('postgres://admin:pw1234@host/db').text).toBe(
      'postgres://admin:[REDACTED:url-password]@host/db',
    );
    expect(redactSecrets('Bearer abcdefghijklmnopqrstuvwxyz').text).toBe('Bearer [REDACTED:bearer-token]');
  });

  it('is idempotent', () => {
    const once = redactSecrets('password=hunter22 and AKIAIOSFODNN7EXAMPLE').text;
    expect(redactSecrets(once)).toEqual({ text: once, redacted: [] });
  });
});

describe('redactJson', () => {
  it('redacts nested strings and keeps structure', () => {
    const out = redactJson({ a: ['x', { token: 'ghp_' + 'b'.repeat(40) }], n: 3, ok: true, nil: null });
    expect(out.value).toEqual({ a: ['x', { token: '[REDACTED:github-token]' }], n: 3, ok: true, nil: null });
    expect(out.redacted).toEqual(['github-token']);
  });
});
