/**
 * Probes of a server process's sockets for the tests: how many descriptors it
 * holds (silent TLS clients must give theirs back) and the TCP_NODELAY of
 * one of its connections, which neither Deno nor `ss` shows.
 *
 * @example
 * ```ts
 * import { openDescriptors } from "./test_util_socket.ts";
 *
 * console.log(await openDescriptors(Deno.pid));
 * ```
 *
 * @module
 */

import assert from "node:assert/strict";
import { outputOf } from "./test_util.ts";
import { canRun } from "./test_util_process.ts";

/** How many descriptors process `pid` holds (`ls /proc/PID/fd`: Deno reads /proc only with -A). */
export async function openDescriptors(pid: number): Promise<number> {
  const { stdout, success } = await outputOf("ls", { args: [`/proc/${pid}/fd`] });
  assert.ok(success, `cannot list the descriptors of process ${pid}`);
  return new TextDecoder().decode(stdout).split("\n").filter(Boolean).length;
}

/**
 * Polls {@linkcode openDescriptors} of `pid` every 50 ms until `ok` says yes
 * to the count, and returns it; fails after `ms` with the last count (a
 * count is no event to await: the poll is bounded instead).
 */
export async function untilDescriptors(
  pid: number,
  ok: (count: number) => boolean,
  ms: number,
  what: string,
): Promise<number> {
  const deadline = performance.now() + ms;
  for (;;) {
    const count = await openDescriptors(pid);
    if (ok(count)) return count;
    if (performance.now() > deadline) {
      throw new Error(`process ${pid} holds ${count} descriptors after ${ms} ms, not ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The Debian Python (ctypes, `os.pidfd_open`), for {@linkcode noDelayOf}. */
const PYTHON = "/usr/bin/python3";

/**
 * Reads TCP_NODELAY off the socket process `pid` holds for a TCP peer at
 * local port `peerPort`: Python takes a copy of the descriptor with
 * pidfd_getfd(2) and asks getsockopt(2). Deno shows the option nowhere, nor
 * does `ss`. Exits 2 when the kernel refuses the copy (no ptrace right).
 */
const NODELAY_PROBE = `
import ctypes, os, socket, sys
pid, port = int(sys.argv[1]), int(sys.argv[2])
libc = ctypes.CDLL(None, use_errno=True)
pidfd = os.pidfd_open(pid)
for name in os.listdir(f"/proc/{pid}/fd"):
    try:
        if not os.readlink(f"/proc/{pid}/fd/{name}").startswith("socket:"): continue
    except OSError: continue
    fd = libc.syscall(438, pidfd, int(name), 0)  # pidfd_getfd
    if fd < 0: sys.exit(2)
    s = socket.socket(fileno=fd)
    try:
        if s.family in (socket.AF_INET, socket.AF_INET6) and s.getpeername()[1] == port:
            print(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)); sys.exit(0)
    except OSError: pass
    finally: s.close()
sys.exit(3)
`;

/** TCP_NODELAY (0 or 1) of `pid`'s socket whose peer is at local port `peerPort` (see above). */
export async function noDelayOf(pid: number, peerPort: number): Promise<number> {
  const { stdout, code } = await outputOf(PYTHON, {
    args: ["-c", NODELAY_PROBE, String(pid), String(peerPort)],
  });
  assert.equal(code, 0, `no socket of process ${pid} has a peer at port ${peerPort} (${code})`);
  return Number(new TextDecoder().decode(stdout));
}

/** Why {@linkcode noDelayOf} cannot run here, or undefined when it can. */
export async function whyNoNoDelayProbe(): Promise<string | undefined> {
  if (!canRun || !await Deno.stat(PYTHON).then(() => true, () => false)) {
    return `needs ${PYTHON}`;
  }
  // A socket of our own: the kernel may refuse even that without the ptrace right.
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  using client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  using _accepted = await listener.accept();
  const { code } = await outputOf(PYTHON, {
    args: ["-c", NODELAY_PROBE, String(Deno.pid), String((client.localAddr as Deno.NetAddr).port)],
  });
  return code === 0 ? undefined : "needs pidfd_getfd(2) on its own process (ptrace right)";
}
