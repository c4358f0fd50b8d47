import type { McpTenantsError } from '../core/errors.js';
import { authInvalid } from './auth-error.js';
import type { TenantContext } from './context.js';

/** Longest single timer Node keeps (about 24.8 days); a later expiry re-arms. */
const MAX_TIMER_MS = 2_147_483_647;

type End = (error: McpTenantsError) => void;

interface Binding {
  readonly jti: string | undefined;
  readonly end: End;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Everything held open on behalf of a token — an HTTP session, a GET or
 * listen stream, a stdio connection — is bound here, and ended with a clear
 * error when that token expires or is revoked. Requests check their token
 * themselves; this covers what stays open between requests.
 */
export class TokenBindings {
  private readonly bindings = new Set<Binding>();

  /** @param graceMs how long after `exp` the verifier still takes a token (its clock tolerance). */
  constructor(private readonly graceMs: number) {}

  get size(): number {
    return this.bindings.size;
  }

  /** Binds `end` to the token behind `context`; returns the unbind, to call when it closes first. */
  bind(context: TenantContext, end: End): () => void {
    const binding: Binding = { jti: context.jti, end, timer: undefined };
    this.bindings.add(binding);
    const arm = (): void => {
      const left = context.expiresAt * 1000 + this.graceMs - Date.now();
      if (left <= 0) {
        this.finish(binding, authInvalid('expired', 'token expired'));
        return;
      }
      binding.timer = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
      binding.timer.unref();
    };
    arm();
    return () => this.unbind(binding);
  }

  /** Ends everything bound to a token with this `jti`; returns how many. */
  revoked(jti: string): number {
    let ended = 0;
    for (const binding of [...this.bindings]) {
      if (binding.jti !== jti) continue;
      this.finish(binding, authInvalid('revoked', 'token has been revoked; ask for a new one'));
      ended++;
    }
    return ended;
  }

  private finish(binding: Binding, error: McpTenantsError): void {
    if (!this.bindings.has(binding)) return;
    this.unbind(binding);
    binding.end(error);
  }

  private unbind(binding: Binding): void {
    clearTimeout(binding.timer);
    this.bindings.delete(binding);
  }
}
