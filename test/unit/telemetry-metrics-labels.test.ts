import { describe, expect, it } from 'vitest';
import { MAX_LABEL_LENGTH, TelemetryMetrics } from '../../src/telemetry/metrics.js';

describe('metrics labels', () => {
  it("keep a caller's made-up long names out of /metrics", () => {
    const metrics = new TelemetryMetrics();
    for (const letter of 'abcde') {
      metrics.request('acme', letter.repeat(100_000), 'rpc_error', 1, null);
    }
    metrics.request('acme', 'tools/call', 'tool_error', 1, 'T'.repeat(100_000));
    metrics.request('acme', 'tools/call', 'ok', 1, 't'.repeat(MAX_LABEL_LENGTH));
    const text = metrics.render(() => true, []);
    expect(text.length).toBeLessThan(20_000);
    expect(text).toContain('method="other"');
    expect(text).toContain('tool="other"');
    expect(text).toContain(`tool="${'t'.repeat(MAX_LABEL_LENGTH)}"`);
  });
});
