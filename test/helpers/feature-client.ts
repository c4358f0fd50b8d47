import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';

/** What one client saw arrive, unasked, from the server. */
export interface Inbox {
  logs: { level: string; data: unknown }[];
  updates: string[];
  toolListChanges: number;
  samplingRequests: number;
  /** Every `_meta` key seen on a server request or log, to check nothing internal leaks. */
  metaKeys: string[];
}

/**
 * An SDK client that answers sampling, elicitation and roots with its own
 * name, so a test can tell which session a server request reached.
 */
export function featureClient(name: string): { client: Client; inbox: Inbox } {
  const client = new Client(
    { name, version: '1.0.0' },
    { capabilities: { sampling: {}, elicitation: {}, roots: { listChanged: true } } },
  );
  const inbox: Inbox = {
    logs: [],
    updates: [],
    toolListChanges: 0,
    samplingRequests: 0,
    metaKeys: [],
  };
  const noteMeta = (params: { _meta?: object } | undefined) =>
    inbox.metaKeys.push(...Object.keys(params?._meta ?? {}));
  client.setRequestHandler(CreateMessageRequestSchema, async (request) => {
    inbox.samplingRequests += 1;
    noteMeta(request.params);
    const first = request.params.messages[0]?.content;
    const prompt = first && 'text' in first ? first.text : '';
    return {
      role: 'assistant',
      model: 'test-model',
      content: { type: 'text', text: `${name} answers ${prompt}` },
    };
  });
  client.setRequestHandler(ElicitRequestSchema, async (request) => {
    noteMeta(request.params);
    return { action: 'accept', content: { name } };
  });
  client.setRequestHandler(ListRootsRequestSchema, async () => ({
    roots: [{ uri: `file:///${name}`, name }],
  }));
  client.setNotificationHandler(LoggingMessageNotificationSchema, (notification) => {
    noteMeta(notification.params);
    inbox.logs.push({ level: notification.params.level, data: notification.params.data });
  });
  client.setNotificationHandler(ResourceUpdatedNotificationSchema, (notification) => {
    inbox.updates.push(notification.params.uri);
  });
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
    inbox.toolListChanges += 1;
  });
  return { client, inbox };
}
