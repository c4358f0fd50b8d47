import { findExecutable } from './find-executable.js';

/**
 * Puts the program in a process group of its own, then execs it (same pid):
 * what `detached` would give, without the new session — under the kernel's
 * scheduler autogroups (CONFIG_SCHED_AUTOGROUP, on by default in most
 * distributions) every session is a group the CPU is shared between, so a
 * child with a session of its own costs each relayed call a cross-group
 * wake-up. Node offers no setpgid(); perl's setpgrp is the smallest exec
 * wrapper found on a stock system. Argv is positional, never script text.
 * Exit code 126: the program cannot be run; 127: it is not there.
 *
 *   perl -e SCRIPT -- <argv...>
 */
export const GROUP_SCRIPT = [
  // Set for perl alone (a locale the host lacks would warn); the program does not inherit it.
  'delete $ENV{PERL_BADLANG};',
  'setpgrp(0, 0) or die "mcp-tenants-group: setpgrp: $!\\n";',
  'exec { $ARGV[0] } @ARGV;',
  'print STDERR "mcp-tenants-group: cannot run $ARGV[0]: $!\\n";',
  // As a shell says it: 126 found but not runnable, 127 not found.
  'exit($!{EACCES} || $!{ENOEXEC} ? 126 : 127);',
].join(' ');

const PERL_DIRS = ['/usr/bin', '/bin', '/usr/local/bin'];

let perl: string | null | undefined;

/** The perl that starts children in a group of their own, or undefined: they get a session of their own. */
export function groupLauncher(): string | undefined {
  perl ??= findExecutable('perl', PERL_DIRS) ?? null;
  return perl ?? undefined;
}

/** The argv that runs `command` with `args` in a process group of its own. */
export function inOwnGroup(
  launcher: string,
  command: string,
  args: readonly string[],
  env: Record<string, string>,
): { command: string; args: string[]; env: Record<string, string> } {
  return {
    command: launcher,
    args: ['-e', GROUP_SCRIPT, '--', command, ...args],
    env: { ...env, PERL_BADLANG: '0' },
  };
}
