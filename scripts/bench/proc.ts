import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

// What a benchmark reads of its processes from /proc (Linux): peak resident memory and CPU
// time. CPU times are in clock ticks of USER_HZ, 100 on every Linux the benchmarks run on.
const TICKS_PER_SECOND = 100;

/** Peak resident set size (VmHWM) of a process in MB, or null when it is gone. */
export function peakRssMb(pid: number, field: 'VmHWM' | 'VmRSS' = 'VmHWM'): number | null {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : null;
  } catch {
    return null;
  }
}

/**
 * Resets a process's peak resident set size to its current size (Linux 4.0+, writing 5 to
 * /proc/<pid>/clear_refs), so that VmHWM read later is the peak of what came after: the
 * worker's start (bundling the workflow code) is not what a phase measures. False when not allowed.
 */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

interface ProcStat {
  pid: number;
  ppid: number;
  comm: string;
  /** utime + stime, seconds. */
  cpuSeconds: number;
}

function statOf(pid: number): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // comm is in parentheses and may hold spaces: the fields after it are split from its end.
  const close = text.lastIndexOf(')');
  const comm = text.slice(text.indexOf('(') + 1, close);
  const f = text.slice(close + 2).split(' ');
  // After comm: state(0) ppid(1) … utime(11) stime(12).
  return { pid, ppid: Number(f[1]), comm, cpuSeconds: (Number(f[11]) + Number(f[12])) / TICKS_PER_SECOND };
}

/** CPU seconds (user + system) a process has used so far; 0 when it is gone. */
export function cpuSeconds(pid: number): number {
  return statOf(pid)?.cpuSeconds ?? 0;
}

/** CPU seconds used so far by each live descendant of `root`, with its command name. */
export function descendantCpu(root: number): Map<number, { comm: string; cpuSeconds: number }> {
  const all: ProcStat[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = statOf(Number(name));
    if (s) all.push(s);
  }
  const children = new Map<number, ProcStat[]>();
  for (const s of all) children.set(s.ppid, [...(children.get(s.ppid) ?? []), s]);
  const out = new Map<number, { comm: string; cpuSeconds: number }>();
  const walk = (pid: number) => {
    for (const c of children.get(pid) ?? []) {
      out.set(c.pid, { comm: c.comm, cpuSeconds: c.cpuSeconds });
      walk(c.pid);
    }
  };
  walk(root);
  return out;
}

/**
 * CPU seconds each command (postgres, temporal…) of `root`'s descendants spent between two
 * readings of descendantCpu: per process alive at the second reading, what it used since the
 * first (all of it when it started in between). Processes that exited in between are not
 * counted (e.g. a Postgres backend of a closed connection): read as a lower bound.
 */
export function cpuSpentByCommand(
  before: Map<number, { comm: string; cpuSeconds: number }>,
  after: Map<number, { comm: string; cpuSeconds: number }>,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [pid, a] of after) {
    const spent = a.cpuSeconds - (before.get(pid)?.cpuSeconds ?? 0);
    out[a.comm] = (out[a.comm] ?? 0) + spent;
  }
  return out;
}
