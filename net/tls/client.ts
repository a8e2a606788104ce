/**
 * The client side of TLS, through `node:tls` because `Deno.connectTls` can
 * neither skip verification nor show the peer's certificate (both needed
 * for `--insecure` and `--pin`). The socket is adapted to the small
 * read/write/closeWrite/close surface the client's exchange uses, so
 * `send` has one path whatever the transport.
 *
 * @example
 * ```ts
 * import { connectTls } from "./client.ts";
 *
 * const { conn, session } = await connectTls({
 *   hostname: "localhost",
 *   address: "127.0.0.1",
 *   port: 4433,
 *   tls: { pin: "AB:CD:…" },
 * });
 * console.log(session.protocol, session.cipher);
 * conn.close();
 * ```
 *
 * @module
 */

import { isIP } from "node:net";
import tls from "node:tls";
import { ConnectError, NotTlsError, TlsVerifyError } from "../errors.ts";
import { formatAddress } from "../format.ts";
import type { StreamConn } from "../io.ts";
import { denoError, TlsSocketConn } from "./socket_conn.ts";

/** How the client trusts a TLS server. */
export interface TlsClientOptions {
  /** More trusted certificates (PEM) beside the system's roots. */
  ca?: string[];
  /**
   * Accept exactly the leaf certificate with this SHA-256 fingerprint
   * (upper-case hex pairs joined by colons) instead of verifying it.
   */
  pin?: string;
  /** Skip verification altogether. @default {false} */
  insecure?: boolean;
  /** The name to send as SNI and to verify; defaults to the host name asked for, if not an address. */
  servername?: string;
  /** Protocols to offer by ALPN, in order of preference (`http/1.1`). @default {none} */
  alpn?: string[];
}

/** What the handshake settled. */
export interface TlsSession {
  /** E.g. `TLSv1.3`. */
  protocol: string;
  /** E.g. `TLS_AES_256_GCM_SHA384`. */
  cipher: string;
  /** From TCP connected to handshake done, in ms. */
  handshakeMs: number;
  /** SHA-256 of the server's leaf certificate, hex pairs joined by colons. */
  fingerprint: string;
  /** The leaf certificate, DER. */
  certificate: Uint8Array;
  /** The protocol the server chose by ALPN, when one was offered and chosen. */
  alpn?: string;
}

/** Where to connect and how to trust it, for {@linkcode connectTls}. */
export interface TlsConnectOptions {
  /** The host name as the user gave it: the name verified when it is not an address. */
  hostname: string;
  /** The address to connect to (one of the host name's). */
  address: string;
  /** The port. */
  port: number;
  /** Trust settings. */
  tls: TlsClientOptions;
  /** Aborting it gives up (the caller's deadline). */
  signal?: AbortSignal;
}

/**
 * Connects and completes the handshake. Throws {@linkcode TlsVerifyError}
 * when the certificate is not accepted, {@linkcode NotTlsError} when the
 * server does not speak TLS, and for a refused connection the underlying
 * error as a `Deno.errors` class (for the caller's try-the-next-address).
 *
 * @example
 * ```ts
 * import { connectTls } from "./client.ts";
 *
 * const { conn } = await connectTls({
 *   hostname: "127.0.0.1",
 *   address: "127.0.0.1",
 *   port: 4433,
 *   tls: { insecure: true },
 * });
 * conn.close();
 * ```
 */
export function connectTls(
  options: TlsConnectOptions,
): Promise<{ conn: StreamConn; session: TlsSession }> {
  const { hostname, address, port, tls: trust, signal } = options;
  const where = formatAddress({ hostname: address, port });
  const servername = trust.servername ?? (isIP(hostname) ? undefined : hostname);
  const verify = trust.pin === undefined && !trust.insecure;
  return new Promise((resolve, reject) => {
    let connectedAt = 0;
    // Verification is judged below, once the certificate is in hand: Deno's
    // node:tls reports every refusal as one code, which names no reason.
    const socket = tls.connect({
      host: address,
      port,
      servername,
      ca: trust.ca,
      ALPNProtocols: trust.alpn,
      rejectUnauthorized: false,
    });
    const fail = (error: Error) => {
      socket.destroy();
      reject(error);
    };
    const onAbort = () => fail(new DOMException("aborted", "AbortError"));
    signal?.addEventListener("abort", onAbort, { once: true });
    socket.once("connect", () => connectedAt = performance.now());
    socket.once("error", (error) => fail(handshakeError(error, where, connectedAt > 0)));
    socket.once("secureConnect", () => {
      signal?.removeEventListener("abort", onAbort);
      socket.removeAllListeners("error");
      const peer = socket.getPeerCertificate();
      const session: TlsSession = {
        protocol: socket.getProtocol() ?? "unknown",
        cipher: socket.getCipher()?.standardName ?? "unknown",
        handshakeMs: performance.now() - connectedAt,
        fingerprint: peer.fingerprint256,
        certificate: new Uint8Array(peer.raw),
        ...socket.alpnProtocol && { alpn: socket.alpnProtocol },
      };
      if (trust.pin !== undefined && session.fingerprint !== trust.pin) {
        return fail(
          new TlsVerifyError(
            `the certificate of ${where} does not match --pin (pin mismatch): ` +
              `its SHA-256 is ${session.fingerprint}`,
          ),
        );
      }
      const refusal = verify && whyRefused(socket.authorized, peer, servername ?? address);
      if (refusal) {
        return fail(
          new TlsVerifyError(`cannot verify the TLS certificate of ${where}: ${refusal}`),
        );
      }
      const addr = (hostname = "", port = 0): Deno.NetAddr => ({
        transport: "tcp",
        hostname,
        port,
      });
      resolve({
        conn: new TlsSocketConn(socket, {
          localAddr: addr(socket.localAddress, socket.localPort),
          remoteAddr: addr(socket.remoteAddress, socket.remotePort),
        }),
        session,
      });
    });
  });
}

/**
 * Why a certificate is refused, in words a user can act on, or "" when it
 * is accepted: it must chain to a trusted root (`authorized`) and be for
 * `name`. When the chain fails, the dates and the name say more than that.
 */
function whyRefused(authorized: boolean, cert: tls.PeerCertificate, name: string): string {
  const now = Date.now();
  if (!authorized && now > Date.parse(cert.valid_to)) return `expired (on ${cert.valid_to})`;
  if (!authorized && now < Date.parse(cert.valid_from)) {
    return `not yet valid (from ${cert.valid_from})`;
  }
  const mismatch = tls.checkServerIdentity(name, cert);
  if (mismatch) {
    return `name mismatch (${mismatch.message}; --servername sets the name to verify)`;
  }
  return authorized ? "" : "unknown issuer (trust it with --ca FILE, or --pin its fingerprint)";
}

function handshakeError(error: Error, where: string, connected: boolean): Error {
  const code = (error as { code?: string }).code ?? "";
  if (!connected) return denoError(error);
  // A plain server echoes our ClientHello back, answers in plain text, or hangs up.
  if (/ClientHello|WRONG_VERSION|corrupt message/i.test(`${code} ${error.message}`)) {
    return new NotTlsError(`${where} does not speak TLS (drop --tls?)`, { cause: error });
  }
  if (code === "ECONNRESET") {
    return new NotTlsError(
      `${where} closed the connection during the TLS handshake: the server does not speak TLS`,
      { cause: error },
    );
  }
  return new ConnectError(`TLS handshake with ${where} failed: ${error.message}`, {
    cause: error,
  });
}
