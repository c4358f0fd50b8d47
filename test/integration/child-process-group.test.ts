import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { ChildProcess } from '../../src/process/child-process.js';
import { groupLauncher } from '../../src/process/process-group.js';
import { isAlive, waitGone } from '../helpers/processes.js';

// Like `npx some-server`: the real server is a grandchild, in the same group.
const FORKING_SERVER = [
  "const c = require('node:child_process').spawn('sleep', ['600'], { stdio: 'ignore' });",
  "c.once('spawn', () => process.stderr.write('grandchild ' + c.pid + '\\n'));",
  'setInterval(() => {}, 1 << 30);',
].join('\n');

/** Process group and session of `pid`, from /proc (fields 5 and 6, counted after the name). */
function groupAndSession(pid: number): { pgrp: number; session: number } {
  const line = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = line.slice(line.lastIndexOf(')') + 2).split(' ');
  return { pgrp: Number(fields[2]), session: Number(fields[3]) };
}

async function grandchildOf(child: ChildProcess): Promise<number> {
  let text = '';
  return new Promise((resolve) => {
    child.stderr.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const match = /grandchild (\d+)/.exec(text);
      if (match) resolve(Number(match[1]));
    });
  });
}

describe.skipIf(process.platform !== 'linux')('a child in a process group of its own', () => {
  const leftovers: number[] = [];
  afterEach(async () => {
    for (const pid of leftovers.splice(0)) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  });

  it('leads its own group, in the supervisor’s session where perl can set the group', async () => {
    const child = await ChildProcess.start({
      command: process.execPath,
      args: ['-e', FORKING_SERVER],
      cwd: process.cwd(),
      env: { PATH: process.env.PATH ?? '' },
    });
    const grandchild = await grandchildOf(child);
    leftovers.push(child.pid, grandchild);
    const own = groupAndSession(process.pid);
    const { pgrp, session } = groupAndSession(child.pid);
    expect(pgrp).toBe(child.pid);
    // No session (and so no scheduler autogroup) of its own, unless there is no perl.
    expect(session).toBe(groupLauncher() ? own.session : child.pid);
    expect(groupAndSession(grandchild).pgrp).toBe(child.pid);
    // The real program runs under the same pid: nothing stays behind in between.
    expect(readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0')[0]).toBe(
      process.execPath,
    );

    child.kill('SIGKILL');
    await child.exited;
    expect(await waitGone([child.pid, grandchild])).toEqual([]);
  });

  it('says why a program cannot run, with exit code 127', async () => {
    const child = await ChildProcess.start({
      command: '/nonexistent/server',
      args: [],
      cwd: process.cwd(),
      env: { PATH: process.env.PATH ?? '' },
    }).catch((error: unknown) => error);
    if (!(child instanceof ChildProcess)) {
      // Without perl, spawn itself fails with ENOENT.
      expect(String(child)).toMatch(/cannot start "\/nonexistent\/server"/);
      return;
    }
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    expect((await child.exited).code).toBe(127);
    expect(stderr).toContain('cannot run /nonexistent/server');
  });
});
