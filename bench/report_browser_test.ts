/**
 * The HTML report in a real browser: Debian's headless Chromium, driven over
 * the DevTools protocol with Deno's own WebSocket (no puppeteer), opens
 * pages from file:// and reports what rendered and every request the page
 * made. A page of two real loads (1 and 4 connections against a loopback
 * server) must show its plot, labels and a point per percentile step, and
 * ask for nothing but itself; a hostile run name must render as text; and a
 * page that does fetch something proves the request detector sees it.
 *
 * `UPDATE_REPORT_PNG=1` also saves the page's screenshot as docs/report.png
 * (what the README shows); without it the screenshot is only checked.
 */
import assert from "node:assert/strict";
import { decodeHistogram } from "./histogram_codec.ts";
import { parseReport } from "./merge.ts";
import { percentileSteps, renderReport, type ReportRun } from "./report.ts";
import { EXIT } from "../main.ts";
import { runMain, WAIT_MS, withServer, withTempDir, withTimeout } from "../cli/test_util.ts";
import { canRun, needs, skipped } from "../cli/test_util_process.ts";

const CHROMIUM = "/usr/bin/chromium";
const haveChromium = canRun && await Deno.stat(CHROMIUM).then(() => true, () => false);
const SCREENSHOT = new URL("../docs/report.png", import.meta.url);

/** A DevTools protocol message: a reply to a command (id) or an event (method). */
interface Message {
  id?: number;
  method?: string;
  sessionId?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { message: string };
}

/** A headless Chromium with no profile of its own, and its DevTools connection. */
class Browser {
  #next = 0;
  #replies = new Map<number, (message: Message) => void>();
  #listeners = new Set<(message: Message) => void>();

  private constructor(
    readonly child: Deno.ChildProcess,
    readonly socket: WebSocket,
    readonly profile: string,
    readonly stderr: Promise<string>,
  ) {
    socket.onmessage = (event) => {
      const message: Message = JSON.parse(event.data);
      if (message.id !== undefined) this.#replies.get(message.id)?.(message);
      else this.#listeners.forEach((listener) => listener(message));
    };
  }

  static async launch(): Promise<Browser> {
    const profile = await Deno.makeTempDir();
    const child = new Deno.Command(CHROMIUM, {
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        // Without these Chromium makes connections of its own (updates, sync, field trials).
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        `--user-data-dir=${profile}`,
        "--remote-debugging-port=0",
        "about:blank",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    // Read all of stderr, so that a full pipe never stalls the browser.
    let seen = "";
    const listening = Promise.withResolvers<string>();
    const stderr = (async () => {
      for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
        seen += chunk;
        const url = seen.match(/DevTools listening on (ws:\/\/\S+)/)?.[1];
        if (url) listening.resolve(url);
      }
      listening.reject(new Error(`chromium ended without DevTools: ${seen}`));
      return seen;
    })();
    try {
      const url = await withTimeout(listening.promise, WAIT_MS, "chromium's DevTools");
      const socket = new WebSocket(url);
      await withTimeout(
        new Promise((open, fail) => {
          socket.onopen = open;
          socket.onerror = () => fail(new Error(`cannot reach ${url}`));
        }),
        WAIT_MS,
        "the DevTools connection",
      );
      return new Browser(child, socket, profile, stderr);
    } catch (error) {
      child.kill("SIGKILL");
      await Promise.allSettled([child.status, stderr]);
      await Deno.remove(profile, { recursive: true });
      throw error;
    }
  }

  /** Sends a command (to a page's session, if given) and resolves with its result. */
  send(method: string, params: object = {}, sessionId?: string): Promise<Message["result"]> {
    const id = ++this.#next;
    const reply = new Promise<Message>((resolve) => this.#replies.set(id, resolve));
    this.socket.send(JSON.stringify({ id, method, params, sessionId }));
    return withTimeout(reply, WAIT_MS, method).then((message) => {
      this.#replies.delete(id);
      if (message.error) throw new Error(`${method}: ${message.error.message}`);
      return message.result;
    });
  }

  /**
   * Opens `url` in a new tab, network events on, and resolves once it has
   * loaded: the tab's session and every URL it requested so far.
   */
  async open(url: string): Promise<{ session: string; requests: string[] }> {
    const { targetId } = (await this.send("Target.createTarget", { url: "about:blank" }))!;
    const { sessionId } = (await this.send("Target.attachToTarget", { targetId, flatten: true }))!;
    const session = sessionId as string;
    const requests: string[] = [];
    const loaded = Promise.withResolvers<void>();
    const listener = (message: Message) => {
      if (message.sessionId !== session) return;
      if (message.method === "Network.requestWillBeSent") {
        requests.push((message.params!.request as { url: string }).url);
      }
      if (message.method === "Page.loadEventFired") loaded.resolve();
    };
    this.#listeners.add(listener);
    await this.send("Network.enable", {}, session);
    await this.send("Page.enable", {}, session);
    await this.send("Page.navigate", { url }, session);
    await withTimeout(loaded.promise, WAIT_MS, `${url} to load`);
    return { session, requests };
  }

  /** The value of `expression` in the page. */
  async evaluate<T>(session: string, expression: string): Promise<T> {
    const reply = await this.send("Runtime.evaluate", { expression, returnByValue: true }, session);
    if (reply!.exceptionDetails) throw new Error(JSON.stringify(reply!.exceptionDetails));
    return (reply!.result as { value: T }).value;
  }

  async close(): Promise<void> {
    const closed = new Promise((done) => this.socket.onclose = done);
    this.socket.close();
    await withTimeout(closed, WAIT_MS, "the DevTools connection to close");
    this.child.kill("SIGTERM");
    await withTimeout(this.child.status, WAIT_MS, "chromium to exit");
    await this.stderr;
    await Deno.remove(this.profile, { recursive: true });
  }
}

/** What the percentile plot of the open page shows. */
interface Rendered {
  labels: string[];
  curves: { declared: number; drawn: number; width: number }[];
  legend: string[];
  scripts: number;
}

const RENDERED = `(() => {
  const svg = document.querySelector("svg.percentiles");
  if (!svg || svg.getBoundingClientRect().width < 500) return null;
  return {
    labels: [...svg.querySelectorAll(".tick-x text")].map((text) => text.textContent),
    curves: [...svg.querySelectorAll("polyline.run")].map((line) => ({
      declared: Number(line.dataset.points),
      drawn: line.points.numberOfItems,
      width: line.getBBox().width,
    })),
    legend: [...svg.querySelectorAll(".legend .run-name")].map((name) => name.textContent),
    scripts: document.scripts.length,
  };
})()`;

/** Two real loads on loopback, 1 and 4 connections, as `bench --json` reports them. */
async function twoRuns(): Promise<ReportRun[]> {
  const runs: ReportRun[] = [];
  await withServer({}, async ({ addr }) => {
    for (const connections of [1, 4]) {
      const load = ["-c", `${connections}`, "-d", "3", "--warmup", "1", "--json"];
      const run = await runMain(["bench", "127.0.0.1", "-p", `${addr.port}`, ...load]);
      assert.equal(run.code, EXIT.ok, run.err.join("\n"));
      const name = connections === 1 ? "1 connection" : `${connections} connections`;
      runs.push({ name, report: parseReport(run.out.join("\n"), name).report });
    }
  });
  return runs;
}

/**
 * Takes the screenshot the README shows: the page 1000 px wide, from its top
 * to the counters (the plots and the percentile table).
 */
async function screenshot(browser: Browser, session: string): Promise<void> {
  const metrics = (height: number) =>
    browser.send("Emulation.setDeviceMetricsOverride", {
      width: 1000,
      height,
      deviceScaleFactor: 1,
      mobile: false,
    }, session);
  await browser.send("Emulation.setScrollbarsHidden", { hidden: true }, session);
  // Measured at the final width: the plots scale with it.
  await metrics(800);
  const height = await browser.evaluate<number>(
    session,
    `Math.ceil(document.querySelectorAll("section")[2].getBoundingClientRect().top)`,
  );
  await metrics(height);
  const { data } = (await browser.send("Page.captureScreenshot", { format: "png" }, session))!;
  const png = Uint8Array.fromBase64(data as string);
  // The PNG signature, then IHDR's width and height.
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const view = new DataView(png.buffer, png.byteOffset);
  assert.deepEqual([view.getUint32(16), view.getUint32(20)], [1000, height]);
  if (Deno.env.get("UPDATE_REPORT_PNG") === "1") await Deno.writeFile(SCREENSHOT, png);
}

Deno.test({
  name: "Chromium renders the report with no request but its own, and runs nothing in it" +
    skipped(needs(haveChromium, `chromium (${CHROMIUM})`)),
  ignore: !haveChromium,
  sanitizeOps: true,
  async fn(t) {
    const runs = await twoRuns();
    const browser = await Browser.launch();
    await withTempDir(async (dir) => {
      await t.step(
        "two loads overlaid: the plot, its labels, a point per percentile step",
        async () => {
          const page = `${dir}/report.html`;
          await Deno.writeTextFile(
            page,
            renderReport(runs, { title: "sockecho bench: 1 vs 4 connections" }),
          );
          const { session, requests } = await browser.open(`file://${page}`);
          const rendered = await browser.evaluate<Rendered | null>(session, RENDERED);
          assert.ok(rendered, "an svg.percentiles at least 500 px wide");
          for (const label of ["50%", "90%", "99%", "99.9%"]) {
            assert.ok(rendered.labels.includes(label), `${label} in ${rendered.labels}`);
          }
          const steps = runs.map(({ report }) =>
            percentileSteps(decodeHistogram(report.histogram!))
              .filter((step) => step.percentile < 100).length
          );
          assert.deepEqual(rendered.curves.map((curve) => curve.drawn), steps);
          assert.deepEqual(rendered.curves.map((curve) => curve.declared), steps);
          assert.ok(rendered.curves.every((curve) => curve.width > 300), JSON.stringify(rendered));
          assert.deepEqual(rendered.legend, ["1 connection", "4 connections"]);
          assert.deepEqual(requests, [`file://${page}`]);
          await screenshot(browser, session);
        },
      );

      await t.step("a hostile run name renders as text and runs nothing", async () => {
        const [run] = runs;
        const hostile = "<script>alert(1)</script>";
        const page = `${dir}/hostile.html`;
        await Deno.writeTextFile(
          page,
          renderReport([{ ...run, name: hostile }], { title: hostile }),
        );
        const { session, requests } = await browser.open(`file://${page}`);
        const rendered = await browser.evaluate<Rendered>(session, RENDERED);
        assert.deepEqual([rendered.legend, rendered.scripts], [[hostile], 0]);
        assert.equal(await browser.evaluate(session, "document.title"), hostile);
        assert.deepEqual(requests, [`file://${page}`]);
      });

      await t.step("the request detector sees a page that does fetch", async () => {
        const page = `${dir}/fetching.html`;
        await Deno.writeTextFile(page, '<!DOCTYPE html><img src="http://127.0.0.1:9/x.png">');
        const { requests } = await browser.open(`file://${page}`);
        assert.deepEqual(requests, [`file://${page}`, "http://127.0.0.1:9/x.png"]);
      });
    }).finally(() => browser.close());
  },
});
