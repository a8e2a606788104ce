/**
 * RFC 6455, the WebSocket protocol, over any connection: the handshake's
 * accept key, frames encoded and written (7, 16 and 64-bit lengths, masking
 * with batched random keys), close codes and payloads, and the typed errors.
 * Reading frames is `ws_reader.ts`. Our own rather than Deno's: its
 * `WebSocket` client cannot run over a connection we dialed (TLS with pins,
 * Unix sockets, PROXY headers), and `Deno.upgradeWebSocket` needs
 * `Deno.serve`, not sockecho's accept loop.
 *
 * @example
 * ```ts
 * import { encodeClose, encodeFrame, OPCODE, websocketAccept } from "./websocket.ts";
 *
 * await websocketAccept("dGhlIHNhbXBsZSBub25jZQ=="); // "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
 * encodeFrame(OPCODE.text, new TextEncoder().encode("hi"), { mask: true }); // 81 82, key, masked "hi"
 * encodeFrame(OPCODE.close, encodeClose(1000)); // 88 02 03 e8
 * ```
 *
 * @module
 */

import { SockechoError } from "../errors.ts";
import { writeAll } from "../io.ts";

/** The key the handshake appends to `Sec-WebSocket-Key` before hashing (RFC 6455 §1.3). */
export const WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** Frame opcodes (RFC 6455 §5.2); 3-7 and 11-15 are reserved. */
export const OPCODE = {
  continuation: 0x0,
  text: 0x1,
  binary: 0x2,
  close: 0x8,
  ping: 0x9,
  pong: 0xa,
} as const;

/** Close codes sockecho sends or reports (RFC 6455 §7.4.1). */
export const CLOSE = {
  normal: 1000,
  protocolError: 1002,
  /** Never sent: a close frame without a code. */
  noStatus: 1005,
  /** Never sent: the connection ended without a close frame. */
  abnormal: 1006,
  invalidData: 1007,
  tooBig: 1009,
} as const;

/** The default bound on one message, fragments added up: 16 MiB. */
export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
/** The largest control frame payload (ping, pong, close). */
export const MAX_CONTROL_BYTES = 125;

/**
 * The peer broke the protocol; `closeCode` is what to close with: 1002 for
 * framing, 1007 for bad UTF-8, 1009 for a message over the bound, 1006 (never
 * sent) when the connection ended inside a frame or a fragmented message.
 */
export class WebSocketProtocolError extends SockechoError {
  /** Creates the error with the close code it calls for. */
  constructor(message: string, readonly closeCode: number) {
    super(message);
  }
}

/** The opening handshake failed: not a 101, a wrong accept key, a malformed key or head. */
export class WebSocketHandshakeError extends SockechoError {}

/** The peer closed the WebSocket (`code` 1006 when it ended without a close frame). */
export class WebSocketClosedError extends SockechoError {
  /** Creates the error with the peer's close code and reason. */
  constructor(message: string, readonly code: number, readonly reason = "") {
    super(message);
  }
}

/**
 * `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`: base64 of the SHA-1 of
 * the key and {@linkcode WEBSOCKET_GUID}.
 *
 * @example
 * ```ts
 * import { websocketAccept } from "./websocket.ts";
 *
 * await websocketAccept("dGhlIHNhbXBsZSBub25jZQ=="); // "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
 * ```
 */
export async function websocketAccept(key: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-1",
    new TextEncoder().encode(key + WEBSOCKET_GUID),
  );
  return btoa(String.fromCharCode(...new Uint8Array(digest)));
}

/**
 * Whether `key` is a valid `Sec-WebSocket-Key`: 16 bytes in base64 (RFC 6455 §4.1).
 *
 * @example
 * ```ts
 * import { isWebSocketKey } from "./websocket.ts";
 *
 * isWebSocketKey("dGhlIHNhbXBsZSBub25jZQ=="); // true
 * ```
 */
export function isWebSocketKey(key: string): boolean {
  return /^[A-Za-z0-9+/]{22}==$/.test(key);
}

/**
 * HTTP header lines (`Name: value\r\n` each) for a head; throws a TypeError
 * on a CR or LF, which would let a value inject its own headers.
 *
 * @example
 * ```ts
 * import { headerLines } from "./websocket.ts";
 *
 * headerLines({ "X-Echo-Instance": "web-1" }); // "X-Echo-Instance: web-1\r\n"
 * ```
 */
export function headerLines(headers: Record<string, string> | [string, string][]): string {
  const entries = Array.isArray(headers) ? headers : Object.entries(headers);
  return entries.map(([name, value]) => {
    if (/[\r\n]/.test(name + value)) throw new TypeError(`header ${name} contains CR or LF`);
    return `${name}: ${value}\r\n`;
  }).join("");
}

/** A close frame's payload, parsed. */
export interface CloseInfo {
  /** The status code; {@linkcode CLOSE.noStatus} when the frame had none. */
  readonly code: number;
  /** The reason text (often empty). */
  readonly reason: string;
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** A 1002 error: the peer broke the framing. */
export function protocolError(message: string): WebSocketProtocolError {
  return new WebSocketProtocolError(message, CLOSE.protocolError);
}

/** Whether `bytes` are valid UTF-8. */
export function isUtf8(bytes: Uint8Array): boolean {
  try {
    utf8.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/**
 * XORs `bytes` in place with the 4-byte masking `key` (RFC 6455 §5.3),
 * a 32-bit word at a time where it is aligned; masking twice unmasks.
 *
 * @example
 * ```ts
 * import { applyMask } from "./websocket.ts";
 *
 * const bytes = new TextEncoder().encode("Hello");
 * applyMask(bytes, new Uint8Array([0x37, 0xfa, 0x21, 0x3d])); // 7f 9f 4d 51 58
 * ```
 */
export function applyMask(bytes: Uint8Array, key: Uint8Array): void {
  const lead = Math.min(bytes.length, (4 - (bytes.byteOffset & 3)) & 3);
  for (let i = 0; i < lead; i++) bytes[i] ^= key[i & 3];
  const words = (bytes.length - lead) >>> 2;
  if (words > 0) {
    const rotated = new Uint8Array(4);
    for (let j = 0; j < 4; j++) rotated[j] = key[(lead + j) & 3];
    const word = new Uint32Array(rotated.buffer)[0];
    const view = new Uint32Array(bytes.buffer, bytes.byteOffset + lead, words);
    for (let i = 0; i < words; i++) view[i] ^= word;
  }
  for (let i = lead + words * 4; i < bytes.length; i++) bytes[i] ^= key[i & 3];
}

/** Masking keys, drawn from the system's random source a thousand at a time. */
const keyPool = new Uint8Array(4096);
let keyPoolUsed = keyPool.length;

function nextMaskKey(): Uint8Array {
  if (keyPoolUsed === keyPool.length) {
    crypto.getRandomValues(keyPool);
    keyPoolUsed = 0;
  }
  return keyPool.subarray(keyPoolUsed, keyPoolUsed += 4);
}

/** Options for {@linkcode encodeFrame}. */
export interface EncodeOptions {
  /** Mask the payload (a client must) with a fresh random key. @default {false} */
  mask?: boolean;
  /** The masking key to use instead of a random one (tests, reproducible bytes). @default {undefined} */
  maskKey?: Uint8Array;
  /** Whether this is the last fragment of its message. @default {true} */
  fin?: boolean;
}

/**
 * A frame's header: the shortest length form (7, 16 or 64 bits), then the
 * masking key when given.
 *
 * @example
 * ```ts
 * import { encodeFrameHeader, OPCODE } from "./websocket.ts";
 *
 * encodeFrameHeader(OPCODE.binary, 70_000); // 82 7f 00 00 00 00 00 01 11 70
 * ```
 */
export function encodeFrameHeader(
  opcode: number,
  length: number,
  { fin = true, maskKey }: { fin?: boolean; maskKey?: Uint8Array } = {},
): Uint8Array {
  const extended = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const header = new Uint8Array(2 + extended + (maskKey ? 4 : 0));
  header[0] = (fin ? 0x80 : 0) | opcode;
  header[1] = (maskKey ? 0x80 : 0) | (extended === 0 ? length : extended === 2 ? 126 : 127);
  const view = new DataView(header.buffer);
  if (extended === 2) view.setUint16(2, length);
  if (extended === 8) {
    view.setUint32(2, Math.floor(length / 2 ** 32));
    view.setUint32(6, length >>> 0);
  }
  if (maskKey) header.set(maskKey.subarray(0, 4), 2 + extended);
  return header;
}

/**
 * One frame, header and payload in one array (the payload masked in the
 * copy when asked; the caller's bytes are never changed).
 *
 * @example
 * ```ts
 * import { encodeFrame, OPCODE } from "./websocket.ts";
 *
 * encodeFrame(OPCODE.text, new TextEncoder().encode("Hello")); // 81 05 48 65 6c 6c 6f
 * encodeFrame(OPCODE.ping, new Uint8Array(), { mask: true }); // 89 80 and a random key
 * ```
 */
export function encodeFrame(
  opcode: number,
  payload: Uint8Array,
  { mask = false, maskKey, fin = true }: EncodeOptions = {},
): Uint8Array {
  const key = maskKey ?? (mask ? nextMaskKey() : undefined);
  const header = encodeFrameHeader(opcode, payload.length, { fin, maskKey: key });
  const frame = new Uint8Array(header.length + payload.length);
  frame.set(header);
  frame.set(payload, header.length);
  if (key) applyMask(frame.subarray(header.length), key);
  return frame;
}

/**
 * Whether a close frame may carry `code`: 1000-1003, 1007-1014 and 3000-4999
 * (1004-1006 and 1015 are never sent, the rest unassigned; RFC 6455 §7.4).
 *
 * @example
 * ```ts
 * import { isValidCloseCode } from "./websocket.ts";
 *
 * isValidCloseCode(1000); // true
 * isValidCloseCode(1006); // false
 * ```
 */
export function isValidCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
    (code >= 3000 && code <= 4999);
}

/**
 * A close frame's payload: empty is {@linkcode CLOSE.noStatus}; one byte or a
 * code no endpoint may send is 1002; a reason that is not UTF-8 is 1007.
 *
 * @example
 * ```ts
 * import { parseClose } from "./websocket.ts";
 *
 * parseClose(new Uint8Array([0x03, 0xe8, 0x62, 0x79, 0x65])); // { code: 1000, reason: "bye" }
 * ```
 */
export function parseClose(payload: Uint8Array): CloseInfo {
  if (payload.length === 0) return { code: CLOSE.noStatus, reason: "" };
  if (payload.length === 1) throw protocolError("close frame with a 1-byte payload");
  const code = (payload[0] << 8) | payload[1];
  if (!isValidCloseCode(code)) throw protocolError(`close code ${code} may not be sent`);
  const reason = payload.subarray(2);
  if (!isUtf8(reason)) {
    throw new WebSocketProtocolError("close reason that is not UTF-8", CLOSE.invalidData);
  }
  return { code, reason: utf8.decode(reason) };
}

/**
 * A close frame's payload: the code (none for {@linkcode CLOSE.noStatus})
 * and the reason; throws a RangeError for a code no endpoint may send or a
 * reason over 123 bytes.
 *
 * @example
 * ```ts
 * import { encodeClose } from "./websocket.ts";
 *
 * encodeClose(1000, "bye"); // 03 e8 62 79 65
 * ```
 */
export function encodeClose(code: number = CLOSE.noStatus, reason = ""): Uint8Array {
  if (code === CLOSE.noStatus && reason === "") return new Uint8Array();
  if (!isValidCloseCode(code)) throw new RangeError(`close code ${code} may not be sent`);
  const text = new TextEncoder().encode(reason);
  if (text.length > MAX_CONTROL_BYTES - 2) throw new RangeError("close reason over 123 bytes");
  const payload = new Uint8Array(2 + text.length);
  payload[0] = code >> 8;
  payload[1] = code & 0xff;
  payload.set(text, 2);
  return payload;
}

/** Above this, an unmasked frame goes out as two writes rather than be copied behind its header. */
const COPY_LIMIT_BYTES = 64 * 1024;

/**
 * Writes frames to a connection one after another: concurrent calls (an echo
 * and a timer's ping, a receive's pong and a send) queue, so frames never
 * interleave on the wire.
 *
 * @example
 * ```ts
 * import { FrameWriter, OPCODE } from "./websocket.ts";
 *
 * const conn = await Deno.connect({ port: 8080 }); // after the handshake
 * const writer = new FrameWriter(conn, { mask: true });
 * await writer.write(OPCODE.text, new TextEncoder().encode("hello"));
 * ```
 */
export class FrameWriter {
  #conn: Pick<Deno.Conn, "write">;
  #mask: boolean;
  #queue: Promise<void> = Promise.resolve();
  /** Frames handed to `write` and not yet written. */
  #queued = 0;

  /** Writes to `conn`; `mask` for a client, whose frames must be masked. */
  constructor(conn: Pick<Deno.Conn, "write">, { mask = false }: { mask?: boolean } = {}) {
    this.#conn = conn;
    this.#mask = mask;
  }

  /** Writes one frame once those before it are written; rejects when its write fails. */
  write(opcode: number, payload: Uint8Array, fin = true): Promise<void> {
    // Alone in the queue (an echo's usual case), the frame goes out without waiting a turn.
    const written = this.#queued++ === 0
      ? this.#send(opcode, payload, fin)
      : this.#queue.then(() => this.#send(opcode, payload, fin));
    this.#queue = written.then(() => void this.#queued--, () => void this.#queued--);
    return written;
  }

  async #send(opcode: number, payload: Uint8Array, fin: boolean): Promise<void> {
    if (this.#mask || payload.length <= COPY_LIMIT_BYTES) {
      await writeAll(this.#conn, encodeFrame(opcode, payload, { mask: this.#mask, fin }));
    } else {
      await writeAll(this.#conn, encodeFrameHeader(opcode, payload.length, { fin }));
      await writeAll(this.#conn, payload);
    }
  }
}
