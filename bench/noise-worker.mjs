// Worker thread: a noisy tenant. Opens `sessions` sessions and calls echo flat out
// until told to stop, on its own event loop so the quiet client is not slowed by it.
import { parentPort, workerData } from 'node:worker_threads';
import { closedLoop } from './drive.mjs';
import { HttpEndpoint, HttpSession } from './load-http.mjs';

const { url, token, sessions: count } = workerData;
const endpoint = new HttpEndpoint(url, { token, maxSockets: count });
const sessions = await Promise.all(
  Array.from({ length: count }, () => new HttpSession(endpoint).open()),
);
let stop;
const stopped = new Promise((resolve) => {
  stop = resolve;
});
parentPort.on('message', (message) => {
  if (message === 'stop') stop();
});
parentPort.postMessage({ ready: true });
const result = await closedLoop(
  sessions.map((session) => () => session.echo()),
  { warmupMs: 0, measureMs: 120_000, stopWhen: stopped },
);
await Promise.all(sessions.map((session) => session.close()));
endpoint.close();
parentPort.postMessage({
  calls: result.calls,
  callsPerSec: result.callsPerSec,
  errors: result.errors,
});
