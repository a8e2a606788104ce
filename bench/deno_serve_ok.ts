// The ceiling of the runtime for `deno task bench`'s HTTP rows: Deno.serve answering a fixed body.
// Usage: deno run -N bench/deno_serve_ok.ts [PORT]   (127.0.0.1; 0 picks a free port)
Deno.serve({
  hostname: "127.0.0.1",
  port: Number(Deno.args[0] ?? 0),
  onListen: ({ port }) => console.log(`Listening on 127.0.0.1:${port}`),
}, () => new Response("ok"));
