import type { IncomingMessage } from 'node:http';

/** A request header's value; the first of several (Node joins only some of them). */
export function headerValue(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
