/**
 * Reading a WebSocket connection: frames off any byte source (bytes already
 * read past the HTTP head first), checked against RFC 6455, and messages
 * reassembled from their fragments with control frames passed through as
 * they come. Every failure is a {@linkcode WebSocketProtocolError} with the
 * close code it calls for.
 *
 * @example
 * ```ts
 * import { FrameReader } from "./ws_reader.ts";
 * import { encodeFrame, OPCODE } from "./websocket.ts";
 *
 * const wire = encodeFrame(OPCODE.text, new TextEncoder().encode("hi"), { mask: true });
 * const source = { read: (_: Uint8Array) => Promise.resolve(null) };
 * const reader = new FrameReader(source, { pending: wire, expectMasked: true });
 * const message = await reader.readMessage(); // { opcode: 1, data: "hi" as bytes }
 * ```
 *
 * @module
 */

import { concatBytes } from "../io.ts";
import {
  applyMask,
  CLOSE,
  type CloseInfo,
  DEFAULT_MAX_MESSAGE_BYTES,
  isUtf8,
  MAX_CONTROL_BYTES,
  OPCODE,
  parseClose,
  protocolError,
  WebSocketProtocolError,
} from "./websocket.ts";

/** One frame as read, payload unmasked. */
export interface Frame {
  /** Whether this is the last fragment of its message (always true for control frames). */
  readonly fin: boolean;
  /** Its opcode, one of {@linkcode OPCODE}. */
  readonly opcode: number;
  /** Whether the peer masked it (clients must, servers must not). */
  readonly masked: boolean;
  /** The payload, unmasked. */
  readonly payload: Uint8Array;
}

/** A whole message: a data message reassembled from its fragments, or a control frame. */
export interface Message {
  /** `text`, `binary`, `close`, `ping` or `pong`. */
  readonly opcode: number;
  /** The payload (text messages hold valid UTF-8). */
  readonly data: Uint8Array;
  /** For `close`: its code (1005 when it had none) and reason. */
  readonly close?: CloseInfo;
}

/** Anything `read` can be called on: a `Deno.Conn`, or a test's scripted source. */
export interface ByteSource {
  /** Reads into `buffer`; resolves with how many bytes, or null at the end. */
  read(buffer: Uint8Array): Promise<number | null>;
}

/** Options for a {@linkcode FrameReader}. */
export interface FrameReaderOptions {
  /** Bytes already read past the HTTP head: read before the source. @default {empty} */
  pending?: Uint8Array;
  /**
   * The bound on one message (fragments added up); beyond it, close 1009.
   * At most 2 GiB - 1 (a larger bound is that).
   * @default {16 MiB}
   */
  maxMessageBytes?: number;
  /**
   * `true` for a server reading a client (every frame must be masked),
   * `false` for a client reading a server (none may be); either is accepted
   * when undefined. A wrong one is close 1002.
   * @default {undefined}
   */
  expectMasked?: boolean;
  /** Counts every byte read (an idle sweeper watches it). @default {undefined} */
  progress?: { bytes: number };
}

const INITIAL_READ_BYTES = 1024;
const MAX_READ_BYTES = 64 * 1024;
/** The largest bound: a hostile 64-bit length must meet a bound, not the array size limit. */
const MAX_MESSAGE_BYTES = 2 ** 31 - 1;

/**
 * Reads frames and messages off a connection. Every failure is a
 * {@linkcode WebSocketProtocolError}; a payload is never allocated before its
 * length has passed the bound.
 *
 * @example
 * ```ts
 * import { FrameReader } from "./ws_reader.ts";
 *
 * const conn = await Deno.connect({ port: 8080 }); // after the handshake
 * const reader = new FrameReader(conn, { expectMasked: false });
 * for (let message; (message = await reader.readMessage()) !== null;) console.log(message.opcode);
 * ```
 */
export class FrameReader {
  #source: ByteSource;
  #buffer: Uint8Array;
  #start = 0;
  #end = 0;
  #max: number;
  #expectMasked: boolean | undefined;
  #progress: { bytes: number } | undefined;
  /** Whether a fragmented message is under way, and its bytes so far. */
  #continuing = false;
  #messageBytes = 0;
  #fragments: Uint8Array[] = [];
  /** The opcode of the first of `#fragments`. */
  #fragmentsOpcode = 0;

  /** Reads from `source`, after `options.pending`. */
  constructor(source: ByteSource, options: FrameReaderOptions = {}) {
    const { pending = new Uint8Array(), maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES } = options;
    this.#source = source;
    this.#max = Math.min(maxMessageBytes, MAX_MESSAGE_BYTES);
    this.#expectMasked = options.expectMasked;
    this.#progress = options.progress;
    this.#buffer = new Uint8Array(Math.max(INITIAL_READ_BYTES, pending.length));
    this.#buffer.set(pending);
    this.#end = pending.length;
  }

  /**
   * The next frame, or null when the source ended between frames. Checks what
   * one frame can break: reserved bits and opcodes, masking, control frames
   * fragmented or over 125 bytes, fragments out of sequence, the size bound.
   */
  async readFrame(): Promise<Frame | null> {
    // Awaited only when bytes are missing: a frame already buffered costs no turn of the loop.
    if (this.#end - this.#start < 2 && !await this.#fill(2)) {
      if (this.#end === this.#start) return null;
      throw cutShort();
    }
    const first = this.#buffer[this.#start];
    const second = this.#buffer[this.#start + 1];
    const fin = (first & 0x80) !== 0;
    const opcode = first & 0x0f;
    const masked = (second & 0x80) !== 0;
    let length = second & 0x7f;
    if (first & 0x70) throw protocolError("reserved bits set without an extension");
    if (!(opcode <= 2 || (opcode >= 8 && opcode <= 10))) {
      throw protocolError(`reserved opcode ${opcode}`);
    }
    const control = opcode >= 8;
    if (control && !fin) throw protocolError("fragmented control frame");
    if (control && length > MAX_CONTROL_BYTES) throw protocolError("control frame over 125 bytes");
    if (this.#expectMasked !== undefined && masked !== this.#expectMasked) {
      throw protocolError(masked ? "masked frame from a server" : "unmasked frame from a client");
    }
    if (opcode === OPCODE.continuation && !this.#continuing) {
      throw protocolError("continuation frame without a message to continue");
    }
    if (!control && opcode !== OPCODE.continuation && this.#continuing) {
      throw protocolError("new data frame inside a fragmented message");
    }
    const extended = length === 126 ? 2 : length === 127 ? 8 : 0;
    const headerBytes = 2 + extended + (masked ? 4 : 0);
    if (this.#end - this.#start < headerBytes && !await this.#fill(headerBytes)) throw cutShort();
    const at = this.#start + 2;
    if (extended === 2) length = (this.#buffer[at] << 8) | this.#buffer[at + 1];
    if (extended === 8) {
      const high = this.#uint32(at);
      if (high & 0x80000000) throw protocolError("64-bit length with its top bit set");
      length = high * 2 ** 32 + this.#uint32(at + 4);
    }
    if (!control && this.#messageBytes + length > this.#max) {
      throw new WebSocketProtocolError(
        `message over ${this.#max} bytes (${this.#messageBytes + length} so far)`,
        CLOSE.tooBig,
      );
    }
    const key = masked
      ? this.#buffer.slice(this.#start + headerBytes - 4, this.#start + headerBytes)
      : undefined;
    this.#start += headerBytes;
    const payload = await this.#readPayload(length);
    if (key) applyMask(payload, key);
    if (!control) {
      this.#continuing = !fin;
      this.#messageBytes = fin ? 0 : this.#messageBytes + length;
    }
    return { fin, opcode, masked, payload };
  }

  /**
   * The next whole message: a data message with its fragments joined (text
   * checked to be UTF-8, else 1007), or a control frame as it comes, also
   * between the fragments of a message; a close frame's payload is checked
   * and parsed. Null when the source ended between messages.
   */
  async readMessage(): Promise<Message | null> {
    for (;;) {
      const frame = await this.readFrame();
      if (frame === null) {
        if (this.#fragments.length) throw cutShort();
        return null;
      }
      const { opcode, payload } = frame;
      if (opcode === OPCODE.close) return { opcode, data: payload, close: parseClose(payload) };
      if (opcode >= 8) return { opcode, data: payload };
      if (frame.fin && opcode !== OPCODE.continuation) return this.#checked(opcode, payload);
      if (opcode !== OPCODE.continuation) this.#fragmentsOpcode = opcode;
      this.#fragments.push(payload);
      if (!frame.fin) continue;
      const data = concatBytes(this.#fragments);
      this.#fragments = [];
      return this.#checked(this.#fragmentsOpcode, data);
    }
  }

  /** A data message, once text has been found to be UTF-8. */
  #checked(opcode: number, data: Uint8Array): Message {
    if (opcode === OPCODE.text && !isUtf8(data)) {
      throw new WebSocketProtocolError("text message that is not UTF-8", CLOSE.invalidData);
    }
    return { opcode, data };
  }

  /** The big-endian 32-bit number at `at` in the buffer. */
  #uint32(at: number): number {
    const b = this.#buffer;
    return ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
  }

  /** Makes `count` bytes available from `#start`; false when the source ends first. */
  async #fill(count: number): Promise<boolean> {
    while (this.#end - this.#start < count) {
      if (this.#start + count > this.#buffer.length) {
        this.#buffer.copyWithin(0, this.#start, this.#end);
        this.#end -= this.#start;
        this.#start = 0;
      }
      const n = await this.#source.read(this.#buffer.subarray(this.#end));
      if (n === null) return false;
      this.#end += n;
      if (this.#progress) this.#progress.bytes += n;
      // A read that fills half the buffer says more is waiting: fewer reads for a busy peer.
      if (n >= this.#buffer.length / 2 && this.#buffer.length < MAX_READ_BYTES) {
        const bigger = new Uint8Array(Math.min(this.#buffer.length * 16, MAX_READ_BYTES));
        bigger.set(this.#buffer.subarray(this.#start, this.#end));
        this.#end -= this.#start;
        this.#start = 0;
        this.#buffer = bigger;
      }
    }
    return true;
  }

  /** A payload in a fresh array: through the buffer when small, read straight into it when large. */
  async #readPayload(length: number): Promise<Uint8Array> {
    if (length <= this.#buffer.length / 2) {
      if (this.#end - this.#start < length && !await this.#fill(length)) throw cutShort();
      const payload = this.#buffer.slice(this.#start, this.#start + length);
      this.#start += length;
      return payload;
    }
    const payload = new Uint8Array(length);
    let got = Math.min(length, this.#end - this.#start);
    payload.set(this.#buffer.subarray(this.#start, this.#start + got));
    this.#start += got;
    while (got < length) {
      const n = await this.#source.read(payload.subarray(got));
      if (n === null) throw cutShort();
      got += n;
      if (this.#progress) this.#progress.bytes += n;
    }
    return payload;
  }
}

function cutShort(): WebSocketProtocolError {
  return new WebSocketProtocolError("connection ended inside a message", CLOSE.abnormal);
}
