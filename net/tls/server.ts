/**
 * The server side of TLS over a TCP connection the server accepted itself
 * (`Deno.listen`), so that it owns the socket: it sets `TCP_NODELAY` before
 * the handshake, and closing it on a timeout, a cap or a refusal frees the
 * descriptor at once. (`Deno.listenTls` keeps the socket of an unfinished
 * handshake until the client sends something, however often it is closed:
 * a few thousand silent clients used up the server's descriptors.)
 *
 * The handshake is `node:tls`'s, over a `node:stream` Duplex that reads and
 * writes the `Deno.Conn`; what it settles (version, cipher, the ALPN
 * protocol) is in {@linkcode TlsServerConn.tls}. Two faults of Deno 2.9's
 * `node:tls` over a JS stream are worked around here, each where it bites:
 * the client's end of data is lost if it comes while the TLS socket is
 * paused (so the reads of the TCP connection are held back instead), and a
 * close_notify or alert made after the client's own close or error is never
 * written (so it is taken from the TLS handle and written here).
 *
 * @example
 * ```ts
 * import { acceptTls } from "./server.ts";
 * import { selfSignedCertificate } from "./cert.ts";
 *
 * const { cert, key } = await selfSignedCertificate(["localhost"]);
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 4433 });
 * const options = { cert, key, alpnProtocols: ["h2", "http/1.1"] };
 * const conn = await acceptTls(await listener.accept(), options);
 * console.log(conn.tls); // { version: "TLSv1.3", cipher: "TLS_AES_256_GCM_SHA384", alpn: "h2" }
 * conn.close();
 * ```
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { Duplex } from "node:stream";
import tls from "node:tls";
import { TlsHandshakeError } from "../errors.ts";
import { closeQuietly, writeAll } from "../io.ts";
import { type FlowControl, TlsSocketConn } from "./socket_conn.ts";

/** How the server speaks TLS, for {@linkcode acceptTls}. */
export interface TlsServerOptions {
  /** The certificate chain, PEM, leaf first. */
  cert: string;
  /** Its private key, PEM. */
  key: string;
  /** ALPN protocols offered, in the server's order of preference (e.g. `h2`, `http/1.1`). @default {none} */
  alpnProtocols?: string[];
  /** Close a client that has not finished its handshake within this many ms. @default {10000} */
  handshakeTimeoutMs?: number;
}

/** What a handshake settled. */
export interface TlsFacts {
  /** E.g. `TLSv1.3`. */
  readonly version: string;
  /** The cipher suite's standard name, e.g. `TLS_AES_256_GCM_SHA384`. */
  readonly cipher: string;
  /** The ALPN protocol both sides chose, if the client offered one the server has. */
  readonly alpn?: string;
}

/** The default of {@linkcode TlsServerOptions.handshakeTimeoutMs}. */
const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

/** One secure context per options object: parsing the key for every client would cost more than its handshake. */
const contexts = new WeakMap<TlsServerOptions, tls.SecureContext>();

/**
 * Runs the server side of the handshake on `conn` and resolves with the
 * secure connection; closes `conn` and throws {@linkcode TlsHandshakeError}
 * (its message says why) when the client does not finish in time, does not
 * speak TLS, or leaves. Closing `conn` meanwhile ends the handshake too.
 * Pass the same `options` object for every client of a listener: its secure
 * context is made once.
 *
 * @example
 * ```ts
 * import { acceptTls } from "./server.ts";
 *
 * declare const listener: Deno.TcpListener;
 * declare const options: { cert: string; key: string };
 * const conn = await acceptTls(await listener.accept(), { ...options, handshakeTimeoutMs: 3000 });
 * ```
 */
export function acceptTls(conn: Deno.Conn, options: TlsServerOptions): Promise<TlsServerConn> {
  const { handshakeTimeoutMs = DEFAULT_HANDSHAKE_TIMEOUT_MS, alpnProtocols } = options;
  let secureContext = contexts.get(options);
  if (secureContext === undefined) {
    secureContext = tls.createSecureContext({ cert: options.cert, key: options.key });
    contexts.set(options, secureContext);
  }
  const stream = new ConnStream(conn);
  const socket = new tls.TLSSocket(stream, {
    isServer: true,
    secureContext,
    ALPNProtocols: alpnProtocols,
  });
  return new Promise((resolve, reject) => {
    // Only these listeners are removed: the socket has its own on the same events.
    const settle = () => {
      clearTimeout(timer);
      socket.off("error", onError).off("end", onLeft).off("close", onLeft).off("secure", onSecure);
      socket.on("error", () => {}); // a late error of a socket given up on, or one for the reader
    };
    const fail = (why: string, cause?: unknown) => {
      settle();
      socket.destroy();
      stream.destroy();
      // Once `conn` is closed, so that an alert still to go is not cut off by the caller.
      const error = new TlsHandshakeError(`TLS handshake failed: ${why}`, { cause });
      stream.released.then(() => reject(error));
    };
    const timer = setTimeout(() => {
      closeQuietly(conn); // the descriptor goes now, whatever the TLS layer still waits for
      fail(`not finished within ${handshakeTimeoutMs / 1000} s`);
    }, handshakeTimeoutMs);
    const onError = (error: Error) => {
      const why = describeHandshakeError(error);
      // Nothing sent yet, so still plaintext: the alert rustls itself sends tells the client why.
      if (stream.silent) stream.sendLast(alert(why === NOT_TLS ? DECODE_ERROR : HANDSHAKE_FAILURE));
      fail(why, error);
    };
    // Ended or closed before "secure": the client left, or the server closed `conn`.
    const onLeft = () => fail("the client closed the connection");
    const onSecure = () => {
      settle();
      resolve(new TlsServerConn(socket, stream));
    };
    socket.once("error", onError).once("secure", onSecure);
    socket.once("end", onLeft).once("close", onLeft);
  });
}

/**
 * A TLS connection that {@linkcode acceptTls} made: read, write, closeWrite
 * and close, as on a `Deno.Conn`, and what the handshake settled. Closing it
 * closes the TCP connection under it (after a close_notify, when the client
 * has finished cleanly).
 *
 * @example
 * ```ts
 * import { acceptTls } from "./server.ts";
 *
 * declare const tcp: Deno.TcpConn;
 * declare const options: { cert: string; key: string };
 * const conn = await acceptTls(tcp, options);
 * if (conn.tls.alpn === "h2") console.log("HTTP/2");
 * conn.close();
 * ```
 */
export class TlsServerConn extends TlsSocketConn {
  /** What the handshake settled. */
  readonly tls: TlsFacts;
  readonly #stream: ConnStream;

  /** Adapts `socket`, whose handshake over `stream` is done. */
  constructor(socket: tls.TLSSocket, stream: ConnStream) {
    const { localAddr, remoteAddr } = stream.conn as Deno.TcpConn;
    super(socket, { localAddr, remoteAddr }, stream.gate);
    this.#stream = stream;
    const alpn = socket.alpnProtocol;
    this.tls = {
      version: socket.getProtocol() ?? "unknown",
      cipher: socket.getCipher()?.standardName ?? "unknown",
      ...alpn && { alpn },
    };
  }

  /** Settles once the TCP connection under it is closed. */
  get released(): Promise<void> {
    return this.#stream.released;
  }

  /**
   * Closes the connection, the TCP connection under it a turn later. After
   * the client's clean end, with every echo written, it first answers with
   * its own close_notify (one more write).
   */
  override close(): void {
    const { socket } = this;
    if (this.peerFinished && !socket.destroyed && socket.writableLength === 0) {
      socket.end(); // with nothing left to write, its close_notify is made at once
      this.#stream.sendLast(unsent(socket));
    }
    socket.destroy();
    this.#stream.destroy();
  }
}

const NOT_TLS = "the client does not speak TLS";
/** TLS alert descriptions (RFC 8446, section 6). */
const HANDSHAKE_FAILURE = 40;
const DECODE_ERROR = 50;

/** A fatal alert as a plaintext record (TLS 1.2's version number, as TLS 1.3 writes it). */
function alert(description: number): Uint8Array {
  return Uint8Array.of(0x15, 0x03, 0x03, 0x00, 0x02, 0x02, description);
}

/** Words for a failed handshake that a server log can show. */
function describeHandshakeError(error: Error): string {
  const code = (error as { code?: string }).code ?? "";
  // What a plain-text or random first byte gets from rustls (under node:tls).
  if (code === "ERR_SSL_WRONG_VERSION_NUMBER" || /InvalidContentType/.test(error.message)) {
    return NOT_TLS;
  }
  if (error instanceof Deno.errors.ConnectionReset) return "the client reset the connection";
  // rustls appends a link to its manual to some messages: the words are enough.
  return error.message.replace(/: https:\/\/\S+$/, "").replace(/ \(os error \d+\)$/, "");
}

/**
 * The encrypted bytes the TLS layer made but never wrote: Deno 2.9 leaves a
 * close_notify sent after the client's in the TLS handle's buffer when the
 * transport is a JS stream (its fix for a close_notify sent first,
 * denoland/deno#35582, does not cover it). Empty once a Deno writes it itself.
 */
function unsent(socket: tls.TLSSocket): Uint8Array | undefined {
  const handle = (socket as unknown as { _handle?: { drainEncOut?(): Uint8Array | undefined } })
    ._handle;
  const bytes = handle?.drainEncOut?.();
  return bytes?.length ? bytes : undefined;
}

/**
 * `conn` as the Duplex stream `node:tls` runs over. Each read is a fresh copy
 * (the TLS layer may keep a chunk); a write batch (a handshake flight) goes
 * out as one TCP write. Destroying the stream closes `conn` (a turn later),
 * after the last bytes given to {@linkcode ConnStream.sendLast}.
 *
 * Back-pressure is its {@linkcode ConnStream.gate}'s: held, it stops reading
 * TCP, so the TLS socket never needs to pause (Deno 2.9's loses the client's
 * end of data that comes while it is paused, and the connection hangs).
 */
class ConnStream extends Duplex {
  /** Holds back the reads of `conn` while the reader has a chunk unread. */
  readonly gate: FlowControl = {
    pause: () => this.#held = true,
    resume: () => {
      this.#held = false;
      if (this.#wanted) this.#start();
    },
  };
  #reading = false; // a read loop runs
  #wanted = false; // the TLS layer asked for more
  #held = false;
  #last?: Uint8Array;
  #silent = true;
  #close!: () => void;
  /** Settles once `conn` is closed. */
  readonly released = new Promise<void>((resolve) => this.#close = resolve);
  readonly #buffer = new Uint8Array(16 * 1024);

  /** Wraps `conn`. */
  constructor(readonly conn: Deno.Conn) {
    super();
  }

  /** Whether nothing has been written to `conn` yet. */
  get silent(): boolean {
    return this.#silent;
  }

  /** Writes `bytes` (if any) before `conn` closes. */
  sendLast(bytes: Uint8Array | undefined): void {
    this.#last = bytes;
  }

  override _read(): void {
    this.#wanted = true;
    this.#start();
  }

  override _write(chunk: Uint8Array, _encoding: string, done: (error?: Error | null) => void) {
    this.#silent = false;
    writeAll(this.conn, chunk).then(() => done(), done);
  }

  override _writev(
    chunks: { chunk: Uint8Array }[],
    done: (error?: Error | null) => void,
  ): void {
    const batch = chunks.length === 1
      ? chunks[0].chunk
      : Buffer.concat(chunks.map(({ chunk }) => chunk));
    this.#silent = false;
    writeAll(this.conn, batch).then(() => done(), done);
  }

  // Ending and closing wait a turn: the TLS socket ends and destroys this stream
  // before it emits its "error", whose listener may still give last words (an alert).

  override _final(done: (error?: Error | null) => void): void {
    setTimeout(() => this.#sendLast().then(() => this.conn.closeWrite()).then(() => done(), done));
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    setTimeout(() =>
      this.#sendLast().catch(() => {}).finally(() => {
        closeQuietly(this.conn);
        this.#close();
      })
    );
    done(error);
  }

  /** Writes the last words, once. */
  async #sendLast(): Promise<void> {
    const last = this.#last;
    this.#last = undefined;
    if (last) await writeAll(this.conn, last);
  }

  #start(): void {
    if (this.#reading) return; // the loop goes on by itself
    this.#reading = true;
    this.#pump();
  }

  /**
   * Reads until the TLS layer wants no more or the gate is held. `#reading`
   * is cleared in the turn the loop stops: a `_read` after that starts it again.
   */
  async #pump(): Promise<void> {
    for (;;) {
      if (this.#held) return void (this.#reading = false);
      let n: number | null;
      try {
        n = await this.conn.read(this.#buffer);
      } catch (error) {
        this.#reading = false;
        return void this.destroy(error as Error);
      }
      this.#wanted = this.push(n === null ? null : this.#buffer.slice(0, n));
      if (n === null || !this.#wanted) return void (this.#reading = false);
    }
  }
}
