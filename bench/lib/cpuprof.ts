/**
 * Summarises a V8 .cpuprofile (written by `node --cpu-prof`): self time per function and per source module, so a
 * bench can say where a node spends its time without opening a profiler UI.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fmt } from '../util.js';
import { printTable } from './table.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface Profile {
  startTime: number;
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Shortens a script URL to what identifies it: the package (node_modules) or the path under dist/. */
function moduleOf(url: string): string {
  if (!url) return '(native/vm)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  const dist = url.lastIndexOf('/dist/');
  if (dist >= 0) return url.slice(dist + '/dist/'.length);
  return url.replace(/^file:\/\//, '');
}

/**
 * A window of the profiled process's life, in microseconds of CLOCK_MONOTONIC: V8 stamps samples with it, and on
 * Linux `process.hrtime.bigint()` reads the same clock, so another process can say "from here to there".
 */
export interface Window {
  label: string;
  fromUs: number;
  toUs: number;
}

export const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);

export function summarizeProfileDir(dir: string, top = 20, window?: Window): void {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  if (files.length === 0) {
    console.log(`(no .cpuprofile written to ${dir})`);
    return;
  }
  for (const f of files) summarizeProfile(join(dir, f), top, window);
}

export function summarizeProfile(file: string, top = 20, window?: Window): void {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  let totalUs = 0;
  let at = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i] ?? 0;
    at += dt;
    if (window && (at < window.fromUs || at > window.toUs)) continue;
    selfUs.set(p.samples[i], (selfUs.get(p.samples[i]) ?? 0) + dt);
    totalUs += dt;
  }
  const fns = new Map<string, number>();
  const mods = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const cf = byId.get(id)!.callFrame;
    const mod = moduleOf(cf.url);
    const fn = `${cf.functionName || '(anonymous)'}  ${mod}${cf.url ? `:${cf.lineNumber + 1}` : ''}`;
    fns.set(fn, (fns.get(fn) ?? 0) + us);
    mods.set(mod, (mods.get(mod) ?? 0) + us);
  }
  const rows = (m: Map<string, number>) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => [name, fmt(us / 1000, 0), `${fmt((100 * us) / totalUs, 1)}%`]);
  console.log(`\nCPU profile ${file}${window ? `, ${window.label}` : ''}: ${fmt(totalUs / 1000, 0)} ms sampled`);
  console.log('self time by module:');
  printTable([['  module', 'ms', 'share'], ...rows(mods).map((r) => [`  ${r[0]}`, r[1], r[2]])]);
  console.log('self time by function:');
  printTable([['  function', 'ms', 'share'], ...rows(fns).map((r) => [`  ${r[0]}`, r[1], r[2]])]);
}
