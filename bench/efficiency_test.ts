import assert from "node:assert/strict";
import { efficiencySection, measureLoaderEfficiency, parseEfficiency } from "./efficiency.ts";

const OUTPUT = `pingpong: C 93585.0, sockecho 71790.9 (p99 us: C 5554.2, sockecho 6368.2)
pingpong: C 155143.2, sockecho 99955.5 (p99 us: C 772.1, sockecho 4442.2)
pingpong: sockecho/C throughput 0.706, p99 latency 3.45x
bulk: C 1388.1, sockecho 673.8 (p99 us: C 0, sockecho 0)
bulk: sockecho/C throughput 0.508
`;

Deno.test("the loader-efficiency script's summary lines become rows with their rounds", () => {
  assert.deepEqual(parseEfficiency(OUTPUT), [
    {
      workload: "pingpong",
      throughput: 0.706,
      p99: 3.45,
      rounds: OUTPUT.split("\n").slice(0, 2),
    },
    { workload: "bulk", throughput: 0.508, rounds: [OUTPUT.split("\n")[3]] },
  ]);
});

Deno.test("the loader-efficiency section shows the table, or why there is none", async () => {
  const table = efficiencySection({ measured: true, rounds: 2, rows: parseEfficiency(OUTPUT) });
  assert.match(table, /^\| pingpong 50 × 64 B \| 0\.71× \| 3\.45× \|$/m);
  assert.match(table, /^\| bulk 1 connection, 64 KiB writes \| 0\.51× \| n\/a \|$/m);
  assert.match(table, /`\.\.\/shared\/perf\/loader-efficiency\.sh 2`/);
  // A project folder inside a fresh folder, so that no ../shared beside it can exist.
  const root = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${root}/project`);
    const missing = await measureLoaderEfficiency(`${root}/project/`, 1);
    const why = `${root}/project/../shared/perf/loader-efficiency.sh is not there`;
    assert.deepEqual(missing, { measured: false, why });
    assert.ok(efficiencySection(missing).endsWith(`\n\nNot measured: ${why}.\n`));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
