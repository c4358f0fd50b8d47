export type CheckStatus = 'ok' | 'warn' | 'fail';

/** One finding of `mcp-tenants doctor`: what was checked, how it went, and the fix. */
export interface CheckResult {
  check: string;
  status: CheckStatus;
  detail: string;
  fix?: string;
}
