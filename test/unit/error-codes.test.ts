import { ErrorCode as SdkV1ErrorCode } from '@modelcontextprotocol/sdk/types.js';
import { ProtocolErrorCode } from '@modelcontextprotocol/server';
import { describe, expect, it } from 'vitest';
import { ErrorCode, JsonRpcCode, McpTenantsError } from '../../src/core/errors.js';

/** Numeric values of a TypeScript enum (which also maps names back). */
function codesOf(enumeration: object): number[] {
  return Object.values(enumeration).filter((value): value is number => typeof value === 'number');
}

const OURS = [
  JsonRpcCode.FORBIDDEN,
  JsonRpcCode.QUOTA_EXCEEDED,
  JsonRpcCode.CHILD_UNAVAILABLE,
  JsonRpcCode.CHILD_TIMEOUT,
  JsonRpcCode.SESSION_UNKNOWN,
  JsonRpcCode.UNAUTHORIZED,
];

describe('JSON-RPC codes', () => {
  it('gives our own refusals codes that no official MCP SDK uses for something else', () => {
    const taken = new Set([...codesOf(SdkV1ErrorCode), ...codesOf(ProtocolErrorCode)]);
    expect(taken.size).toBeGreaterThan(5);
    for (const code of OURS) expect(taken.has(code), `code ${code}`).toBe(false);
  });

  it("keeps our own codes out of JSON-RPC's reserved range, one code each", () => {
    // MCP 2026-07-28: -32020..-32099 are the specification's, -32000..-32019 closed to new codes.
    for (const code of OURS) expect(code < -32768 || code > -32000, `code ${code}`).toBe(true);
    expect(new Set(OURS).size).toBe(OURS.length);
  });

  it('uses the SDKs own numbers where it means what they mean', () => {
    expect(JsonRpcCode.REQUEST_TIMEOUT).toBe(SdkV1ErrorCode.RequestTimeout);
    expect(JsonRpcCode.MISSING_REQUIRED_CLIENT_CAPABILITY).toBe(
      ProtocolErrorCode.MissingRequiredClientCapability,
    );
    expect(JsonRpcCode.UNSUPPORTED_PROTOCOL_VERSION).toBe(
      ProtocolErrorCode.UnsupportedProtocolVersion,
    );
  });

  it('maps every error code to a JSON-RPC code, an HTTP status and an exit code', () => {
    for (const code of Object.values(ErrorCode)) {
      const error = new McpTenantsError(code, 'x');
      expect(Number.isInteger(error.jsonRpcCode), code).toBe(true);
      expect(error.httpStatus, code).toBeGreaterThanOrEqual(400);
      expect(error.exitCode, code).toBeGreaterThan(0);
    }
  });
});
