/**
 * The documentation holds to the code: every relative link in README.md and
 * docs/ resolves (file and `#anchor`), every help text reproduced in docs/ is
 * the program's own, and what the README promises (the description, the
 * Deno version, the tasks, the commands of its examples, its length) and
 * docs/design.md's table of modules match the tree.
 *
 * @module
 */

import assert from "node:assert/strict";
import { runMain } from "../cli/test_util.ts";

const ROOT = new URL("../", import.meta.url);
const DOCS = new URL("./", import.meta.url);

const canRead = (await Deno.permissions.query({ name: "read", path: ROOT })).state === "granted";

/** README.md and every page of docs/, by path from the repository root. */
async function pages(): Promise<Map<string, string>> {
  const found = new Map([["README.md", await Deno.readTextFile(new URL("README.md", ROOT))]]);
  const names: string[] = [];
  for await (const entry of Deno.readDir(DOCS)) {
    if (entry.isFile && entry.name.endsWith(".md")) names.push(entry.name);
  }
  for (const name of names.sort()) {
    found.set(`docs/${name}`, await Deno.readTextFile(new URL(name, DOCS)));
  }
  return found;
}

const FENCE = /^```[^\n]*\n([\s\S]*?)^```$/gm;

/** The contents of a page's fenced code blocks. */
function codeBlocks(markdown: string): string[] {
  return [...markdown.matchAll(FENCE)].map((match) => match[1].replace(/\n$/, ""));
}

/** A page without its fenced blocks and inline code, where links are. */
function prose(markdown: string): string {
  return markdown.replace(FENCE, "").replace(/`[^`\n]*`/g, "");
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes. */
function slug(heading: string): string {
  return heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "")
    .replace(/ /g, "-");
}

/** Every anchor a page offers, a repeated heading numbered as GitHub does (`-1`, `-2`). */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  for (const [, text] of markdown.replace(FENCE, "").matchAll(/^#{1,6} +(.+?) *#* *$/gm)) {
    const base = slug(text);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    result.add(count === 0 ? base : `${base}-${count}`);
  }
  return result;
}

async function exists(url: URL): Promise<boolean> {
  try {
    await Deno.stat(url);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** What `sockecho ARGS` prints, as one text. */
async function printed(...args: string[]): Promise<string> {
  const { code, out, err } = await runMain(args);
  assert.deepEqual({ code, err }, { code: 0, err: [] }, args.join(" "));
  return out.join("\n");
}

/** The commands the general help lists (`serve`, `send`, …), `help` left out. */
async function commandNames(): Promise<string[]> {
  const help = await printed("--help");
  return [...help.matchAll(/^ {2}sockecho (\w+) /gm)].map((m) => m[1]).filter((c) => c !== "help");
}

Deno.test("slug makes GitHub's anchors, backquoted flags included", () => {
  assert.equal(
    slug("The JSON ledger: `serve --log-format json`"),
    "the-json-ledger-serve---log-format-json",
  );
  assert.equal(slug("`check --idle … --json`"), "check---idle----json");
  assert.equal(slug("UDP echo (RFC 862): `--udp`"), "udp-echo-rfc-862---udp");
});

Deno.test({
  name: "every relative link in README.md and docs/ reaches a file, and its #anchor a heading",
  ignore: !canRead,
  async fn() {
    const all = await pages();
    const broken: string[] = [];
    let checked = 0;
    for (const [path, markdown] of all) {
      const page = new URL(path, ROOT);
      for (const [, target] of prose(markdown).matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z][a-z+.-]*:/i.test(target)) continue; // https:, mailto:: not ours to check
        checked++;
        const [file, anchor] = target.split("#", 2);
        const url = file === "" ? page : new URL(file, page);
        if (!await exists(url)) {
          broken.push(`${path}: ${target} (no such file)`);
          continue;
        }
        if (anchor === undefined) continue;
        const text = await Deno.readTextFile(url);
        if (!anchors(text).has(anchor)) broken.push(`${path}: ${target} (no such heading)`);
      }
    }
    assert.deepEqual(broken, []);
    assert.ok(checked > 50, `only ${checked} links found: is the link pattern still right?`);
  },
});

Deno.test({
  name: "every help text in docs/ is the program's own, and each command's page has its help",
  ignore: !canRead,
  async fn() {
    const all = await pages();
    const mainHelp = await printed("--help");
    const copies = new Map<string, number>();
    for (const [path, markdown] of all) {
      for (const block of codeBlocks(markdown)) {
        const command = block.match(/^Usage: sockecho (\w+)/)?.[1];
        if (command !== undefined) {
          assert.equal(
            block,
            await printed("help", command),
            `${path}: paste in the output of deno run -N main.ts help ${command}`,
          );
          copies.set(`${path} ${command}`, (copies.get(`${path} ${command}`) ?? 0) + 1);
        } else if (block.startsWith(mainHelp.split("\n")[0])) {
          assert.equal(
            block,
            mainHelp,
            `${path}: paste in the output of deno run -N main.ts --help`,
          );
          copies.set(`${path} --help`, 1);
        }
      }
    }
    for (const command of await commandNames()) {
      assert.equal(copies.get(`docs/${command}.md ${command}`), 1, `docs/${command}.md`);
    }
    assert.equal(copies.get("docs/cli.md --help"), 1, "docs/cli.md: sockecho --help");
  },
});

Deno.test({
  name: "README opens with the description the general help gives",
  ignore: !canRead,
  async fn() {
    const readme = (await pages()).get("README.md")!;
    const description = (await printed("--help")).split("\n")[0].replace(/^sockecho \S+: /, "");
    const firstParagraph = readme.split("\n\n")[1];
    assert.equal(readme.split("\n")[0], "# sockecho");
    assert.ok(
      firstParagraph.startsWith(description[0].toUpperCase() + description.slice(1)),
      `README's first line: ${firstParagraph}`,
    );
  },
});

Deno.test({
  name: "README stays a short page: at most 250 lines",
  ignore: !canRead,
  async fn() {
    const readme = (await pages()).get("README.md")!;
    const lines = readme.split("\n").length - 1;
    assert.ok(lines <= 250, `README.md has ${lines} lines: move the detail into docs/`);
  },
});

Deno.test({
  name: "the Deno version the docs install is the one CI installs",
  ignore: !canRead,
  async fn() {
    const ci = await Deno.readTextFile(new URL(".ci/run", ROOT));
    const version = ci.match(/^DENO_VERSION=(\S+)$/m)?.[1];
    assert.ok(version, ".ci/run sets DENO_VERSION");
    const all = await pages();
    const named = [...all.values()].flatMap((markdown) =>
      [...markdown.matchAll(/deno@(\d+\.\d+\.\d+)/g)].map((m) => m[1])
    );
    assert.ok(named.length > 0, "the docs say which Deno to install");
    assert.deepEqual(new Set(named), new Set([version]));
  },
});

Deno.test({
  name: "every `deno task` the docs name is a task in deno.json",
  ignore: !canRead,
  async fn() {
    const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT)));
    const tasks = new Set(Object.keys(config.tasks));
    const named = new Set(
      [...(await pages()).values()].flatMap((markdown) =>
        [...markdown.matchAll(/deno task ([\w:-]+)/g)].map((m) => m[1])
      ),
    );
    assert.ok(named.has("test"), "the docs say how to run the tests");
    assert.deepEqual([...named].filter((task) => !tasks.has(task)), []);
  },
});

Deno.test({
  name: "README's examples and its table of commands use commands sockecho has",
  ignore: !canRead,
  async fn() {
    const readme = (await pages()).get("README.md")!;
    const commands = new Set([...await commandNames(), "help"]);
    const used = [
      ...readme.matchAll(/^\$ sockecho (\S+)/gm),
      ...readme.matchAll(/^\| `sockecho (\S+)/gm),
    ].map((m) => m[1]);
    assert.ok(used.length > 5, "README has examples");
    assert.deepEqual(used.filter((command) => !commands.has(command)), []);
    for (const command of commands) assert.ok(used.includes(command), `README shows ${command}`);
  },
});

/** Every source file of the program and its tools, by path from the root; tests left out. */
async function modules(dir = ROOT, prefix = ""): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.name.startsWith(".") || ["node_modules", "dist"].includes(entry.name)) continue;
    const path = prefix + entry.name;
    if (entry.isDirectory) {
      found.push(...await modules(new URL(`${entry.name}/`, dir), `${path}/`));
    } else if (/\.(ts|mjs|c)$/.test(entry.name) && !entry.name.endsWith("_test.ts")) {
      found.push(path);
    }
  }
  return found.sort();
}

Deno.test({
  name: "docs/design.md names every folder and module of the tree, and nothing that is not there",
  ignore: !canRead,
  async fn() {
    const design = await Deno.readTextFile(new URL("design.md", DOCS));
    const rows = [...design.matchAll(/^\| `([^`]+)` +\|/gm)].map((m) => m[1]);
    const named = new Set(rows);
    const tree = await modules();
    assert.deepEqual(tree.filter((path) => !named.has(path)), [], "modules missing a row");
    const folders = new Set(tree.map((path) => path.replace(/[^/]*$/, "") || "./"));
    assert.deepEqual([...folders].filter((folder) => !named.has(folder)), [], "folders missing");
    const gone: string[] = [];
    for (const path of rows) if (!await exists(new URL(path, ROOT))) gone.push(path);
    assert.deepEqual(gone, [], "rows naming what is not in the tree");
  },
});
