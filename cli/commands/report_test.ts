/**
 * `sockecho report` and `bench --html`, in-process through `main`: the page
 * written (or printed), a run per file, merge's output accepted, and each
 * bad input's line and exit code; as a real process, the permissions asked
 * for before anything is run. (The page itself is tested in
 * bench/report_test.ts and, in a browser, bench/report_browser_test.ts.)
 */
import assert from "node:assert/strict";
import { decodeHistogram } from "../../bench/histogram_codec.ts";
import { percentileSteps } from "../../bench/report.ts";
import { EXIT } from "../../main.ts";
import { runMain, withServer, withTempDir } from "../test_util.ts";
import { canRun, sockecho } from "../test_util_process.ts";

/** The data-points of each curve of a page's percentile plot. */
const curvePoints = (page: string) =>
  [...page.matchAll(/<polyline class="run" [^>]*data-points="(\d+)"/g)].map((m) => Number(m[1]));

/** Steps of a `--json` report's histogram the plot draws (those below 100 %). */
const stepsOf = (report: { histogram: string }) =>
  percentileSteps(decodeHistogram(report.histogram)).filter((step) => step.percentile < 100)
    .length;

Deno.test("bench --html writes this run's page, with --json printing the report too", async () => {
  await withTempDir(async (dir) => {
    await withServer({}, async ({ addr }) => {
      const page = `${dir}/run.html`;
      const args = ["bench", "127.0.0.1", "-p", `${addr.port}`, "-n", "500", "--warmup", "0"];
      const run = await runMain([...args, "-c", "2", "--json", "--html", page]);
      assert.equal(run.code, EXIT.ok, run.err.join("\n"));
      const report = JSON.parse(run.out.join("\n"));
      const html = await Deno.readTextFile(page);
      assert.deepEqual(curvePoints(html), [stepsOf(report)]);
      assert.ok(html.includes(`<code>sockecho bench 127.0.0.1 -p ${addr.port} -n 500`));
      assert.ok(html.includes(`<span style="color:#0072B2">127.0.0.1:${addr.port}</span>`));
      // A folder that is not there: the table is printed, then the one line and exit 20.
      const lost = await runMain([...args, "--html", `${dir}/no/such/run.html`]);
      assert.equal(lost.code, EXIT.badReport);
      assert.match(lost.out[0], /^mode {9}pingpong$/);
      assert.deepEqual(lost.err, [`cannot write ${dir}/no/such/run.html: no such folder`]);
    });
  });
});

Deno.test("report draws every file as a run, merge's output too, to a file or stdout", async () => {
  await withTempDir(async (dir) => {
    const files = [`${dir}/one.json`, `${dir}/four.json`];
    await withServer({}, async ({ addr }) => {
      for (const [i, connections] of ["1", "4"].entries()) {
        const load = ["-c", connections, "-n", "400", "--warmup", "0", "--json"];
        const run = await runMain(["bench", "127.0.0.1", "-p", `${addr.port}`, ...load]);
        assert.equal(run.code, EXIT.ok, run.err.join("\n"));
        await Deno.writeTextFile(files[i], run.out.join("\n"));
      }
    });
    const merged = await runMain(["merge", ...files, "--json"]);
    assert.equal(merged.code, EXIT.ok, merged.err.join("\n"));
    await Deno.writeTextFile(`${dir}/merged.json`, merged.out.join("\n"));
    const page = `${dir}/report.html`;
    const written = await runMain(["report", ...files, `${dir}/merged.json`, "-o", page]);
    assert.deepEqual(written, { code: EXIT.ok, out: [], err: [] });
    const html = await Deno.readTextFile(page);
    const reports = await Promise.all(
      [...files, `${dir}/merged.json`].map(async (file) =>
        JSON.parse(await Deno.readTextFile(file))
      ),
    );
    assert.deepEqual(curvePoints(html), reports.map(stepsOf));
    assert.match(html, /<dt>merged from<\/dt><dd><ul><li><b>[^<]*\/one\.json<\/b>/);
    const printed = await runMain(["report", files[0], "--title", "before <the fix>"]);
    assert.equal(printed.code, EXIT.ok);
    assert.match(printed.out.join("\n"), /^<!DOCTYPE html>\n[^]*<h1>before &lt;the fix&gt;<\/h1>/);
    assert.ok(printed.out.join("\n").endsWith("</body>\n</html>"));
  });
});

Deno.test("report refuses a missing, cut or foreign file with one line naming it", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/cut.json`, '{"mode":"ping');
    await Deno.writeTextFile(`${dir}/other.json`, '{"name":"k6 summary"}');
    const cases: [string[], number, RegExp][] = [
      [[], EXIT.usage, /^report needs at least one FILE \(try: sockecho report --help\)$/],
      [[`${dir}/missing.json`], EXIT.badReport, /^cannot read \S+\/missing\.json: no such file$/],
      [[`${dir}/cut.json`], EXIT.badReport, /^cannot plot \S+\/cut\.json: not JSON, or cut short/],
      [
        [`${dir}/other.json`],
        EXIT.badReport,
        /^cannot plot \S+\/other\.json: not a sockecho bench --json report \(no "mode" in it\)$/,
      ],
      [[dir], EXIT.badReport, /^cannot read \S+: is a directory$/],
    ];
    for (const [files, code, line] of cases) {
      const run = await runMain(["report", ...files, "-o", `${dir}/page.html`]);
      assert.equal(run.code, code, files.join(" "));
      assert.equal(run.err.length, 1, run.err.join("\n"));
      assert.match(run.err[0], line);
    }
    await assert.rejects(Deno.stat(`${dir}/page.html`), Deno.errors.NotFound);
  });
});

Deno.test({
  name: "cli: report and bench --html ask for -R and -W before reading or loading anything",
  ignore: !canRun,
  async fn() {
    const read = await sockecho("report", "run.json");
    assert.equal(read.code, EXIT.missingPermission);
    assert.match(read.stderr, /-R \(--allow-read\)/);
    const write = await sockecho("report", "run.json", "-o", "page.html");
    assert.deepEqual([write.code, write.stderr.trim()], [
      EXIT.missingPermission,
      'sockecho: no write permission for "page.html": run with -W (--allow-write)',
    ]);
    // No server listens on port 9: a load that ran would fail to connect (exit 4) instead.
    const bench = await sockecho("bench", "127.0.0.1", "-p", "9", "--html", "page.html");
    assert.deepEqual([bench.code, bench.stderr.trim()], [
      EXIT.missingPermission,
      'sockecho: no write permission for "page.html": run with -W (--allow-write)',
    ]);
  },
});
