// The echo server a Node.js user would write: the peer sockecho is compared with.
// Usage: node bench/node_echo.mjs [PORT]   (listens on 127.0.0.1; 0 picks a free port)
import net from "node:net";

const server = net.createServer((socket) => socket.pipe(socket));
server.listen(Number(process.argv[2] ?? 0), "127.0.0.1", () => {
  console.log(`Listening on 127.0.0.1:${server.address().port}`);
});
