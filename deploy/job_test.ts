/**
 * deploy/: the Indexed Job manifest is checked field by field, and then run
 * the way Kubernetes would run it, as N local processes (the image's
 * entrypoint, the manifest's arguments with `$(VAR)` expanded, each with its
 * own JOB_COMPLETION_INDEX) against a local server; their reports must merge
 * into exactly the one schedule. The image itself cannot be built here.
 */

import assert from "node:assert/strict";
import { decodeHistogram } from "../bench/histogram_codec.ts";
import { Histogram } from "../bench/histogram.ts";
import { parseCommand } from "../cli/args.ts";
import { benchCommand } from "../cli/commands/bench.ts";
import { EXIT } from "../main.ts";
import { outputOf, runMain, withServer } from "../cli/test_util.ts";
import { parseYaml } from "./yaml.ts";
import { expand, imageCommand, withOption } from "./container.ts";

const JOB = new URL("./job.yaml", import.meta.url);

// deno-lint-ignore no-explicit-any
type Manifest = any; // walked field by field below, each asserted

const job: Manifest = parseYaml(await Deno.readTextFile(JOB));
const container = job.spec.template.spec.containers[0];

Deno.test("deploy/job.yaml is an Indexed Job whose pods each run one shard of one load", () => {
  assert.deepEqual([job.apiVersion, job.kind], ["batch/v1", "Job"]);
  const { spec } = job;
  assert.equal(spec.completionMode, "Indexed");
  assert.ok(Number.isInteger(spec.completions) && spec.completions > 1, "completions");
  assert.equal(spec.parallelism, spec.completions, "all shards run at once");
  assert.equal(spec.backoffLimit, 0, "a failed shard is not rerun off its schedule");
  assert.equal(spec.template.spec.restartPolicy, "Never");
  assert.equal(spec.template.spec.containers.length, 1);
  assert.match(container.image, /^[\w./-]+:[\w.-]+$/);
  const args: string[] = container.args;
  assert.ok(args.every((arg) => typeof arg === "string"), "args are strings");
  assert.equal(args[0], "bench");
  // Each pod's shard comes from JOB_COMPLETION_INDEX, set by the Job controller.
  assert.equal(args[args.indexOf("--shards") + 1], String(spec.completions));
  assert.equal(args[args.indexOf("--start-at") + 1], "$(START_AT)");
  const startAt = container.env.find((e: { name: string }) => e.name === "START_AT");
  assert.match(startAt.value, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.ok(args.includes("--json"), "the report goes to stdout, for kubectl logs");
  // Every flag is one bench takes, with a value where it needs one.
  const parsed = parseCommand(
    expand(args.slice(1), { START_AT: startAt.value }),
    benchCommand.options,
  );
  assert.notEqual(parsed, "help");
  assert.ok(Number(args[args.indexOf("--connections") + 1]) >= spec.completions);
});

Deno.test("the Job's shards, run as local processes, merge into exactly the one schedule", async () => {
  const [deno, ...flags] = await imageCommand();
  assert.equal(deno, "deno");
  const shards: number = job.spec.completions;
  // Two connections a shard, each sending every 40 ms: a slot is lost (the run ends on time,
  // not when a late echo comes back) only if an echo near the end takes longer than that.
  const [rate, seconds] = [50 * shards, 1];
  await withServer({}, async ({ addr }) => {
    // Far enough ahead for every process to start and connect on a loaded machine.
    const startAt = Date.now() + 4000;
    let args = withOption(container.args, "--rate", String(rate));
    args = withOption(args, "--duration", String(seconds));
    args = withOption(args, "--workers", "1");
    args = withOption(args, "--connections", String(2 * shards));
    args = args.map((arg) => arg === container.args[1] ? `127.0.0.1:${addr.port}` : arg);
    const env = { START_AT: (startAt / 1000).toFixed(3) };
    const runs = await Promise.all(
      Array.from({ length: shards }, (_, index) =>
        outputOf(Deno.execPath(), {
          args: [...flags, ...expand(args, env)],
          env: { ...env, JOB_COMPLETION_INDEX: String(index), NO_COLOR: "1" },
          stdin: "null",
        })),
    );
    const dir = await Deno.makeTempDir();
    try {
      const files: string[] = [];
      const reports = await Promise.all(runs.map(async ({ code, stdout, stderr }, index) => {
        const text = new TextDecoder().decode(stdout);
        assert.equal(code, 0, new TextDecoder().decode(stderr));
        files.push(`${dir}/shard-${index}.json`);
        await Deno.writeTextFile(files[index], text);
        return JSON.parse(text);
      }));
      assert.deepEqual(reports.map((r) => r.shard.index), [...reports.keys()]);
      const skews = reports.map((report) => report.startTimeMs - startAt);
      assert.ok(skews.every((skew) => skew >= -1 && skew <= 20), `start skews ${skews} ms`);
      const merged = await runMain(["merge", ...files, "--json", "--expect", "shortfall<5"]);
      assert.equal(merged.code, EXIT.ok, merged.err.join("\n"));
      const total = JSON.parse(merged.out.join("\n"));
      assert.equal(total.operations, rate * seconds);
      const sum = new Histogram();
      reports.forEach((report) => sum.add(decodeHistogram(report.histogram)));
      assert.deepEqual([...decodeHistogram(total.histogram).counts], [...sum.counts]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});
