import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A plain TCP load balancer on 127.0.0.1: each new connection goes to the
 * next backend in turn (what haproxy's `balance roundrobin` does per
 * connection). A backend that refuses is skipped for that connection.
 */
export interface RoundRobin {
  url: string;
  /** Connections taken by each backend so far. */
  counts: number[];
  close(): Promise<void>;
}

export async function startRoundRobin(backends: () => readonly number[]): Promise<RoundRobin> {
  let next = 0;
  const sockets = new Set<Socket>();
  const counts: number[] = [];
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.once('close', () => sockets.delete(client));
    client.pause();
    const ports = backends();
    const tryFrom = (attempt: number): void => {
      if (attempt >= ports.length) {
        client.destroy();
        return;
      }
      const index = next++ % ports.length;
      const upstream = connect(ports[index] as number, '127.0.0.1');
      sockets.add(upstream);
      upstream.once('close', () => sockets.delete(upstream));
      upstream.once('error', () => {
        if (!upstream.readyState.includes('open')) tryFrom(attempt + 1);
        else client.destroy();
      });
      upstream.once('connect', () => {
        counts[index] = (counts[index] ?? 0) + 1;
        upstream.pipe(client);
        client.pipe(upstream);
        client.resume();
        client.once('error', () => upstream.destroy());
        upstream.once('close', () => client.destroy());
        client.once('close', () => upstream.destroy());
      });
    };
    tryFrom(0);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    counts,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
