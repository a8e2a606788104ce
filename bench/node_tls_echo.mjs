// The TLS echo server a Node.js user would write: the peer `sockecho serve --tls` is compared with.
// Usage: node bench/node_tls_echo.mjs [PORT] < key-and-cert.pem
// (listens on 127.0.0.1; 0 picks a free port; the private key and certificate, PEM, come on stdin
// so that no key is written to disk)
import { readFileSync } from "node:fs";
import tls from "node:tls";

const pem = readFileSync(0, "utf8");
const server = tls.createServer({ key: pem, cert: pem }, (socket) => socket.pipe(socket));
server.listen(Number(process.argv[2] ?? 0), "127.0.0.1", () => {
  console.log(`Listening on 127.0.0.1:${server.address().port}`);
});
