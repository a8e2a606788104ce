/**
 * deploy/serve.yaml: the Deployment and Service of sockecho's echo servers,
 * checked field by field (what the Service selects and reaches, the probes,
 * the pod name as the instance, the grace, the non-root pod), the containers'
 * arguments parsed by serve's own option table, and each container run the
 * way the kubelet would run it, as a local process: probed, then drained.
 * The image itself cannot be built here.
 */

import assert from "node:assert/strict";
import { parseCommand, parseSeconds } from "../cli/args.ts";
import { serveCommand } from "../cli/commands/serve.ts";
import { readExactly, readToEnd } from "../cli/test_util.ts";
import { skipped, spawn, type Spawned } from "../cli/test_util_process.ts";
import { expand, imageCommand, withOption } from "./container.ts";
import { parseYaml, parseYamlDocuments } from "./yaml.ts";

// deno-lint-ignore no-explicit-any
type Manifest = any; // walked field by field below, each asserted

const manifests: Manifest[] = parseYamlDocuments(
  await Deno.readTextFile(new URL("./serve.yaml", import.meta.url)),
);
const [deployment, service] = manifests;
const pod = deployment.spec.template.spec;
const containerNamed = (name: string): Manifest => {
  const found = pod.containers.find((container: Manifest) => container.name === name);
  assert.ok(found, `a container named ${name}`);
  return found;
};
const tcp = containerNamed("tcp");
const http = containerNamed("http");
const job: Manifest = parseYaml(await Deno.readTextFile(new URL("./job.yaml", import.meta.url)));

/** A pod name as the Downward API gives it: what `$(POD_NAME)` expands to. */
const POD_NAME = "echo-5d8f7b9c4-x2x7q";

/** `serve --http` is another helper's, still being built: until it is in, its checks are skipped. */
const noHttpYet = "http" in serveCommand.options
  ? undefined
  : "serve has no --http in this build yet";

/** A container's args as serve parses them (a flag that serve has not fails here). */
function serveArgs(container: Manifest) {
  const args: string[] = container.args;
  assert.ok(args.every((arg) => typeof arg === "string"), "args are strings");
  assert.equal(args[0], "serve");
  const parsed = parseCommand(expand(args.slice(1), { POD_NAME }), serveCommand.options);
  assert.notEqual(parsed, "help");
  if (parsed === "help") throw new Error("unreachable");
  assert.deepEqual(parsed.positionals, [], "the port is given as -p");
  return parsed.values;
}

/** The container's one port: its name and number. */
function portOf(container: Manifest): { name: string; containerPort: number } {
  assert.equal(container.ports.length, 1, `${container.name} listens on one port`);
  const [port] = container.ports;
  assert.equal(port.protocol, "TCP");
  return port;
}

/** A container's args checked against its ports and the pod's termination grace. */
function checkServeArgs(container: Manifest) {
  const values = serveArgs(container);
  assert.equal(Number(values.port), portOf(container).containerPort, `${container.name}: -p`);
  const graceMs = parseSeconds(values.grace, "--grace", 0);
  assert.ok(
    pod.terminationGracePeriodSeconds * 1000 > graceMs,
    `terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} covers --grace ${values.grace}`,
  );
  return values;
}

Deno.test("deploy/serve.yaml is a Deployment of 3 pods and the Service echo that selects them", () => {
  assert.equal(manifests.length, 2);
  assert.deepEqual([deployment.apiVersion, deployment.kind], ["apps/v1", "Deployment"]);
  assert.deepEqual([service.apiVersion, service.kind], ["v1", "Service"]);
  assert.equal(deployment.spec.replicas, 3);
  const labels = deployment.spec.template.metadata.labels;
  const selects = (selector: Record<string, string>) =>
    Object.keys(selector).length > 0 &&
    Object.entries(selector).every(([key, value]) => labels[key] === value);
  assert.ok(selects(deployment.spec.selector.matchLabels), "the Deployment selects its pods");
  assert.ok(selects(service.spec.selector), "the Service selects the Deployment's pods");
  // deploy/job.yaml's load goes to this Service, on its TCP echo port.
  const [host, port] = job.spec.template.spec.containers[0].args[1].split(":");
  assert.equal(host, `${service.metadata.name}.default.svc.cluster.local`);
  assert.ok(service.spec.ports.some((p: Manifest) => p.port === Number(port) && p.name === "echo"));
});

Deno.test("each Service port reaches a container port by name: the TCP echo and the HTTP echo", () => {
  const named = new Map(pod.containers.map((c: Manifest) => [portOf(c).name, portOf(c)]));
  assert.deepEqual(service.spec.ports.map((p: Manifest) => p.targetPort), ["echo", "http"]);
  for (const port of service.spec.ports) {
    assert.ok(named.has(port.targetPort), `a container port named ${port.targetPort}`);
    assert.equal(port.protocol, "TCP");
  }
  assert.equal(portOf(tcp).name, "echo");
  assert.equal(portOf(http).name, "http");
});

Deno.test("the probes: /readyz and /healthz over HTTP, a TCP connect for the L4 echo", () => {
  assert.deepEqual(http.readinessProbe.httpGet, { path: "/readyz", port: "http" });
  assert.deepEqual(http.livenessProbe.httpGet, { path: "/healthz", port: "http" });
  // One failed readiness probe takes a draining pod out, within its period.
  assert.equal(http.readinessProbe.failureThreshold, 1);
  assert.ok(http.readinessProbe.periodSeconds <= 5);
  assert.deepEqual(tcp.readinessProbe.tcpSocket, { port: "echo" });
  assert.deepEqual(tcp.livenessProbe.tcpSocket, { port: "echo" });
  for (const container of [tcp, http]) {
    assert.ok(container.livenessProbe.failureThreshold > 1, "one slow answer kills no pod");
  }
});

Deno.test("the HTTP container is named after its pod, from the Downward API", () => {
  const env = http.env.find((e: Manifest) => e.name === "POD_NAME");
  assert.deepEqual(env.valueFrom, { fieldRef: { fieldPath: "metadata.name" } });
  const at = http.args.indexOf("--instance");
  assert.equal(http.args[at + 1], "$(POD_NAME)");
});

Deno.test("both containers run the Job's image as a non-root user, with requests and no privileges", () => {
  const image = job.spec.template.spec.containers[0].image;
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.ok(pod.securityContext.runAsUser > 0);
  assert.equal(pod.automountServiceAccountToken, false);
  for (const container of [tcp, http]) {
    assert.equal(container.image, image, `${container.name}: the image deploy/Dockerfile builds`);
    assert.deepEqual(container.securityContext, {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
    });
    assert.match(container.resources.requests.cpu, /^\d+m?$/);
    assert.match(container.resources.requests.memory, /^\d+[MG]i$/);
    assert.match(container.resources.limits.memory, /^\d+[MG]i$/);
  }
});

Deno.test("the TCP container's args are serve's own flags, its port, a grace the pod waits for", () => {
  const values: Record<string, unknown> = checkServeArgs(tcp);
  assert.ok(!values.http, "the L4 echo");
});

Deno.test({
  name:
    `the HTTP container's args are serve --http's own flags, its port, a grace the pod waits for${
      skipped(noHttpYet)
    }`,
  ignore: noHttpYet !== undefined,
  fn() {
    const values: Record<string, unknown> = checkServeArgs(http);
    assert.equal(values.http, true);
    assert.equal(values.instance, POD_NAME);
  },
});

/**
 * Starts `container` as the kubelet would (the image's entrypoint, its args
 * with `$(POD_NAME)` expanded), on 127.0.0.1 and any free port, with
 * `graceSeconds` for the drain; resolves once it listens, with its port.
 */
async function runContainer(
  container: Manifest,
  graceSeconds: string,
): Promise<Spawned & { port: number }> {
  const [, ...flags] = await imageCommand();
  let args = withOption(expand(container.args, { POD_NAME }), "-p", "0");
  args = withOption(args, "--grace", graceSeconds);
  const server = spawn(Deno.execPath(), [...flags, ...args, "-H", "127.0.0.1"]);
  const [, port] = await server.out.match(/^Listening on 127\.0\.0\.1:(\d+)\b/);
  return { ...server, port: Number(port) };
}

/** Ends `server` if a failed test left it running, and waits for it and its output. */
async function stop(server: Spawned): Promise<void> {
  try {
    server.child.kill("SIGKILL");
  } catch {
    // It has exited already: the test got to its end.
  }
  await server.finish().catch(() => {});
}

Deno.test("the TCP container, run as a local process, echoes, and on SIGTERM lets an open connection finish", async () => {
  const server = await runContainer(tcp, "10");
  try {
    // What the kubelet's tcpSocket probe does: connect, close.
    (await Deno.connect({ hostname: "127.0.0.1", port: server.port })).close();
    await server.out.match(/ closed: 0 bytes echoed/);
    const open = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    try {
      const before = new TextEncoder().encode("before\n");
      await open.write(before);
      assert.deepEqual(await readExactly(open, before.length), before);
      server.child.kill("SIGTERM");
      await server.err.match(/^sockecho: stopping: no new connections; 1 open, 10 s to finish/);
      const during = new TextEncoder().encode("still served while draining\n");
      await open.write(during);
      await open.closeWrite();
      assert.deepEqual(await readToEnd(open), during);
    } finally {
      open.close();
    }
    // With nothing left open it exits at once, not at the end of the grace.
    assert.equal(await server.finish(5000), 0);
    assert.ok(server.err.lines.some((line) => /^sockecho: stopped: 2 connections/.test(line)));
  } finally {
    await stop(server);
  }
});

/** `GET path` on a fresh connection, as the kubelet's httpGet probe asks. */
async function probe(port: number, path: string) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(
      new TextEncoder().encode(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
          "User-Agent: kube-probe/1.30\r\nConnection: close\r\n\r\n",
      ),
    );
    const response = new TextDecoder().decode(await readToEnd(conn));
    const [head, body] = response.split("\r\n\r\n", 2);
    const [statusLine, ...headers] = head.split("\r\n");
    const header = (name: string) =>
      headers.find((line) => line.toLowerCase().startsWith(`${name.toLowerCase()}:`))
        ?.slice(name.length + 1).trim();
    return { status: Number(statusLine.split(" ")[1]), header, body };
  } finally {
    conn.close();
  }
}

Deno.test({
  name:
    `the HTTP container, run as a local process, answers its probes as its pod, and /readyz 503 once SIGTERMed${
      skipped(noHttpYet)
    }`,
  ignore: noHttpYet !== undefined,
  async fn() {
    const server = await runContainer(http, "5");
    try {
      const healthz = await probe(server.port, "/healthz");
      assert.deepEqual([healthz.status, healthz.body], [200, "ok\n"]);
      assert.equal(healthz.header("X-Echo-Instance"), POD_NAME);
      const readyz = await probe(server.port, "/readyz");
      assert.deepEqual([readyz.status, readyz.body], [200, "ready\n"]);
      server.child.kill("SIGTERM");
      // As the kubelet does: probe again until the answer changes (bounded).
      let draining;
      for (
        let tries = 0;
        tries < 50 && (draining = await probe(server.port, "/readyz")).status === 200;
        tries++
      ) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.deepEqual([draining?.status, draining?.body], [503, "draining\n"]);
      assert.equal((await probe(server.port, "/healthz")).status, 200, "alive while draining");
      assert.equal(await server.finish(15_000), 0);
    } finally {
      await stop(server);
    }
  },
});
