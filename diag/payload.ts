/**
 * What a probe sends: a {@linkcode Payload} is a source of fresh chunks that
 * can be read again for each probe (a message, a generated pattern, a file) or
 * only once (standard input), with its size when known in advance.
 *
 * @example
 * ```ts
 * import { patternPayload } from "./payload.ts";
 *
 * const payload = patternPayload(1024 * 1024);
 * for await (const chunk of payload.chunks()) console.log(chunk.length);
 * ```
 *
 * @module
 */

/** A probe's bytes. Every chunk yielded is a fresh array the caller may keep. */
export interface Payload {
  /** Its length in bytes, or undefined when only the end of the stream tells (stdin). */
  readonly size: number | undefined;
  /** False when the bytes can be read only once (stdin): then only one probe can send them. */
  readonly repeatable: boolean;
  /** The bytes, in chunks. */
  chunks(): AsyncIterable<Uint8Array>;
}

const CHUNK_BYTES = 64 * 1024;
/**
 * The generated pattern repeats every 251 bytes, a prime: a shifted, repeated
 * or dropped stretch of the echo never lines up with the pattern again.
 */
const PATTERN_PERIOD = 251;

/**
 * A payload of fixed bytes.
 *
 * @example
 * ```ts
 * import { bytesPayload } from "./payload.ts";
 *
 * bytesPayload(new TextEncoder().encode("ping\n")).size; // 5
 * ```
 */
export function bytesPayload(bytes: Uint8Array): Payload {
  return {
    size: bytes.length,
    repeatable: true,
    async *chunks() {
      yield bytes.slice();
    },
  };
}

/**
 * `size` bytes of a pattern with a prime period (0, 1, … 250, 0, 1, …),
 * generated chunk by chunk so any size costs one chunk of memory at a time.
 *
 * @example
 * ```ts
 * import { patternPayload } from "./payload.ts";
 *
 * patternPayload(300).size; // 300
 * ```
 */
export function patternPayload(size: number): Payload {
  return {
    size,
    repeatable: true,
    async *chunks() {
      for (let offset = 0; offset < size; offset += CHUNK_BYTES) {
        yield patternBytes(offset, Math.min(CHUNK_BYTES, size - offset));
      }
    },
  };
}

/**
 * The pattern's bytes from `offset`, `length` of them.
 *
 * @example
 * ```ts
 * import { patternBytes } from "./payload.ts";
 *
 * patternBytes(250, 3); // Uint8Array [250, 0, 1]
 * ```
 */
export function patternBytes(offset: number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (offset + i) % PATTERN_PERIOD;
  return bytes;
}

/**
 * A file's contents, read afresh for each probe. Its size is taken now; a
 * file that changes size while it is sent makes that probe fail.
 *
 * @example
 * ```ts
 * import { filePayload } from "./payload.ts";
 *
 * const payload = await filePayload("testdata/seed_server.c");
 * ```
 */
export async function filePayload(path: string): Promise<Payload> {
  const { size } = await Deno.stat(path);
  return {
    size,
    repeatable: true,
    async *chunks() {
      // The readable closes the file at its end, or when the probe stops early.
      yield* (await Deno.open(path)).readable;
    },
  };
}

/**
 * A stream read once, e.g. standard input: binary-safe, of any size, and
 * never held in memory whole.
 *
 * @example
 * ```ts
 * import { streamPayload } from "./payload.ts";
 *
 * const payload = streamPayload(Deno.stdin.readable);
 * ```
 */
export function streamPayload(stream: ReadableStream<Uint8Array>): Payload {
  return { size: undefined, repeatable: false, chunks: () => stream };
}
