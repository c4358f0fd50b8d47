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
 */
export function globsOverlap(a: string, b: string): boolean {
  const x = [...a];
  const y = [...b];
  // Fail closed on absurd inputs rather than spend unbounded memory on them.
  if (x.length * y.length > MAX_OVERLAP_CELLS) return false;
  const seen = new Map<number, boolean>();
  const width = y.length + 1;
  const overlap = (i: number, j: number): boolean => {
    const key = i * width + j;
    const known = seen.get(key);
    if (known !== undefined) return known;
    let result = false;
    if (i === x.length && j === y.length) result = true;
    else if (x[i] === '*' && (overlap(i + 1, j) || (j < y.length && overlap(i, j + 1))))
      result = true;
    else if (y[j] === '*' && (overlap(i, j + 1) || (i < x.length && overlap(i + 1, j))))
      result = true;
    else if (i < x.length && j < y.length && x[i] !== '*' && y[j] !== '*') {
      const same = x[i] === '?' || y[j] === '?' || x[i] === y[j];
      result = same && overlap(i + 1, j + 1);
    }
    seen.set(key, result);
    return result;
  };
  return overlap(0, 0);
}

/** A URI template (RFC 6570) as a glob: every `{expression}` may expand to anything. */
export function templateAsGlob(uriTemplate: string): string {
  return uriTemplate.replace(/\{[^}]*\}/g, '*');
}
