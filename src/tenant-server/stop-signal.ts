/** Why the child is stopping. */
export type StopReason = 'stdin-end' | 'stdout-error' | 'SIGTERM' | 'SIGINT';

/**
 * Resolves once the child should stop: its supervisor closed our stdin (or
 * died, which closes it too), stdout broke, or a signal asked us to.
 */
export function waitForStopSignal(): Promise<StopReason> {
  return new Promise((resolve) => {
    const stop = (reason: StopReason) => {
      process.stdin.off('end', onEnd);
      process.stdin.off('error', onEnd);
      process.stdout.off('error', onStdoutError);
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      resolve(reason);
    };
    // setImmediate: requests read just before EOF still reach their handlers;
    // the server's close then waits for the answers still being worked on.
    const onEnd = () => setImmediate(() => stop('stdin-end'));
    // EPIPE: nobody reads our answers any more.
    const onStdoutError = () => stop('stdout-error');
    const onTerm = () => stop('SIGTERM');
    const onInt = () => stop('SIGINT');
    process.stdin.once('end', onEnd);
    process.stdin.once('error', onEnd); // an unreadable stdin is as good as closed
    process.stdout.once('error', onStdoutError);
    process.once('SIGTERM', onTerm);
    process.once('SIGINT', onInt);
  });
}
