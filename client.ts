/**
 * The client side of sockecho as a library: one verified echo over TCP, TLS
 * or a Unix domain socket ({@linkcode send}), over UDP ({@linkcode sendUdp}),
 * over HTTP ({@linkcode sendHttp}: the body, and which instance answered) or
 * over WebSocket ({@linkcode sendWs}). Each connects, sends, reads until the
 * whole echo is back and checks it byte for byte; none prints, each returns
 * a result or throws a typed error (`net/errors.ts`, `net/http/`). The path checks built on them
 * (probe series, `check`, idle discovery) live in `diag/`, the load tester
 * in `bench/`.
 *
 * @example
 * ```ts
 * import { send } from "./client.ts";
 *
 * const { echo } = await send({ hostname: "127.0.0.1", port: 4321 });
 * console.log(new TextDecoder().decode(echo));
 * ```
 *
 * @module
 */

export { C_CLIENT_MESSAGE, send, type SendOptions, type SendResult } from "./diag/send.ts";
export { sendUdp, type UdpSendOptions, type UdpSendResult } from "./diag/send_udp.ts";
export { sendHttp, type SendHttpOptions, type SendHttpResult } from "./diag/send_http.ts";
export { sendWs, type SendWsOptions, type SendWsResult } from "./diag/send_ws.ts";
