/**
 * `${VAR}` / `${VAR:-default}` expansion for manifest string values, so
 * secrets and per-host settings stay out of the file. `$${` is a literal `${`.
 */

export type ExpandResult =
  | { ok: true; value: string }
  | {
      ok: false;
      message: string /** Set when the only problem is an unset variable. */;
      unsetVariable?: string;
    };

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function expandEnv(text: string, env: NodeJS.ProcessEnv): ExpandResult {
  // Fast path: most values contain no `$` at all.
  if (!text.includes('${')) return { ok: true, value: text };
  let out = '';
  let i = 0;
  while (i < text.length) {
    if (text.startsWith('$${', i)) {
      out += '${';
      i += 3;
      continue;
    }
    if (!text.startsWith('${', i)) {
      out += text[i];
      i += 1;
      continue;
    }
    const close = text.indexOf('}', i + 2);
    if (close === -1) {
      return { ok: false, message: 'unclosed "${" (write "$${" for a literal "${")' };
    }
    const inner = text.slice(i + 2, close);
    const split = inner.indexOf(':-');
    const name = split === -1 ? inner : inner.slice(0, split);
    if (!NAME.test(name)) {
      return {
        ok: false,
        message: `invalid reference "\${${inner}}": use \${NAME} or \${NAME:-default}`,
      };
    }
    const value = env[name];
    if (split !== -1) {
      // Shell semantics: the default also replaces an empty value.
      out += value === undefined || value === '' ? inner.slice(split + 2) : value;
    } else if (value === undefined) {
      return {
        ok: false,
        message: `environment variable ${name} is not set`,
        unsetVariable: name,
      };
    } else {
      out += value;
    }
    i = close + 1;
  }
  return { ok: true, value: out };
}
