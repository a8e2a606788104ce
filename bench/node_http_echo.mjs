// The HTTP echo a Node.js user would write (what ealen/echo-server and kin do): each request
// answered with its method, URL, headers as received and body, as JSON; keep-alive is node:http's.
// Usage: node bench/node_http_echo.mjs [PORT]   (listens on 127.0.0.1; 0 picks a free port)
import http from "node:http";

const server = http.createServer((request, response) => {
  const chunks = [];
  request.on("data", (chunk) => chunks.push(chunk));
  request.on("end", () => {
    const body = JSON.stringify({
      method: request.method,
      url: request.url,
      headers: request.rawHeaders,
      peer: { address: request.socket.remoteAddress, port: request.socket.remotePort },
      body: Buffer.concat(chunks).toString(),
    });
    response.writeHead(200, { "Content-Type": "application/json" });
    response.end(body);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.argv[2] ?? 0), "127.0.0.1", () => {
  console.log(`Listening on 127.0.0.1:${server.address().port}`);
});
