/**
 * Permission globs, as written in tokens (`tools:data_*`) and in the
 * manifest's allow/deny lists: `*` matches any run of characters, `/`
 * included (so `tenant://acme/*` covers every resource below it), `?`
 * exactly one character; everything else is literal and case-sensitive.
 * A pattern matches the whole name, never a part of it. There is no escape:
 * `*` and `?` are always wildcards (a `?` also matches a literal `?`).
 *
 * Matching walks both strings once, remembering the last `*` to back off to,
 * so a hostile pattern costs O(pattern × name) at worst, never exponential
 * time as a regular expression could.
 */
export function globMatches(pattern: string, name: string): boolean {
  const p = [...pattern];
  const t = [...name];
  let i = 0;
  let j = 0;
  let star = -1;
  let resume = 0;
  while (j < t.length) {
    const c = p[i];
    if (c === '*') {
      star = i++;
      resume = j;
    } else if (c !== undefined && (c === '?' || c === t[j])) {
      i++;
      j++;
    } else if (star !== -1) {
      i = star + 1;
      j = ++resume;
    } else {
      return false;
    }
  }
  while (p[i] === '*') i++;
  return i === p.length;
}

const MAX_OVERLAP_CELLS = 1_000_000;

/**
 * Whether some string matches both patterns (both may hold `*` and `?`).
 * Used for resource templates: a template is shown when the caller could
 * read at least one URI it describes.
 *
 * The two patterns run side by side as automata: state (i, j) means some
 * string takes `a` to position i and `b` to position j. Every step moves i
 * or j forward, so one pass over the states in order finds every reachable
 * one: O(|a| × |b|) time, two rows of memory, and no recursion.
 */
export function globsOverlap(a: string, b: string): boolean {
  const x = [...a];
  const y = [...b];
  // Fail closed on absurd inputs rather than spend unbounded time on them.
  if (x.length * y.length > MAX_OVERLAP_CELLS) return false;
  let row = new Uint8Array(y.length + 1);
  row[0] = 1;
  for (let i = 0; i <= x.length; i++) {
    const next = new Uint8Array(y.length + 1);
    const p = x[i];
    for (let j = 0; j <= y.length; j++) {
      if (row[j] !== 1) continue;
      const q = y[j];
      // A star may also match nothing.
      if (p === '*') next[j] = 1;
      if (q === '*') row[j + 1] = 1;
      if (p === undefined || q === undefined) continue;
      // One character both accept: each pattern keeps its star or moves past what it used.
      if (p !== '*' && q !== '*' && p !== '?' && q !== '?' && p !== q) continue;
      const toJ = q === '*' ? j : j + 1;
      if (p === '*') row[toJ] = 1;
      else next[toJ] = 1;
    }
    if (i === x.length) return row[y.length] === 1;
    row = next;
  }
  return false;
}

/** A URI template (RFC 6570) as a glob: every `{expression}` may expand to anything. */
export function templateAsGlob(uriTemplate: string): string {
  return uriTemplate.replace(/\{[^}]*\}/g, '*');
}
