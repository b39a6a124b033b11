// CPU of a process tree, for the benches' browser drivers (call.mjs, loss.mjs, share.mjs).
import { readFileSync, readdirSync } from "node:fs";

// utime + stime of a process and all its descendants, in clock ticks.
export function treeTicks(root) {
  const parent = new Map();
  const ticks = new Map();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      parent.set(Number(name), Number(fields[1]));
      ticks.set(Number(name), Number(fields[11]) + Number(fields[12]));
    } catch { /* it exited meanwhile */ }
  }
  let total = 0;
  for (const [pid, t] of ticks) {
    for (let p = pid; p > 1; p = parent.get(p) ?? 0) {
      if (p === root) { total += t; break; }
    }
  }
  return total;
}
