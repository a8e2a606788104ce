/**
 * The YAML the manifests in `deploy/` are written in, and only that, so the
 * tests can check their fields without a YAML package: block mappings and
 * sequences by indentation, `---` between documents, comments on lines of
 * their own, plain, double-quoted, numeric and `true`/`false` scalars.
 * Anything else throws a `SyntaxError` rather than be misread.
 *
 * @example
 * ```ts
 * import { parseYaml } from "./yaml.ts";
 *
 * parseYaml('spec:\n  replicas: 3\n  args:\n    - serve\n    - "--http"\n');
 * // { spec: { replicas: 3, args: ["serve", "--http"] } }
 * ```
 *
 * @module
 */

/** A YAML value as {@linkcode parseYaml} reads it. */
export type Yaml = string | number | boolean | Yaml[] | { [key: string]: Yaml };

/**
 * Reads one YAML document of the subset described above.
 *
 * @example
 * ```ts
 * import { parseYaml } from "./yaml.ts";
 *
 * parseYaml("a:\n  - 1\n  - b: x\n"); // { a: [1, { b: "x" }] }
 * ```
 */
export function parseYaml(text: string): Yaml {
  const lines = text.split("\n").filter((line) => !/^\s*(#.*)?$/.test(line)).map((line) => {
    if (/\t|^\s*[&*!|>]|: [&*!|>]|^---/.test(line)) throw new SyntaxError(`unsupported: ${line}`);
    return { indent: line.search(/\S/), text: line.trim() };
  });
  let at = 0;
  const scalar = (text: string): Yaml =>
    text.startsWith('"')
      ? JSON.parse(text)
      : /^-?\d+$/.test(text)
      ? Number(text)
      : text === "true" || text === "false"
      ? text === "true"
      : text;
  const block = (indent: number): Yaml => {
    const list = lines[at].text.startsWith("- ");
    const out: Yaml = list ? [] : {};
    while (at < lines.length && lines[at].indent === indent) {
      const line = lines[at];
      if (list !== line.text.startsWith("- ")) throw new SyntaxError(`mixed block: ${line.text}`);
      if (list) {
        const item = line.text.slice(2);
        if (/^[\w./-]+:( |$)/.test(item)) {
          lines[at] = { indent: indent + 2, text: item }; // a mapping inside the item
          (out as Yaml[]).push(block(indent + 2));
        } else {
          at++;
          (out as Yaml[]).push(scalar(item));
        }
        continue;
      }
      const [, key, value] = line.text.match(/^([\w./-]+):(?: (.*))?$/) ??
        (() => {
          throw new SyntaxError(`not key: value: ${line.text}`);
        })();
      at++;
      (out as Record<string, Yaml>)[key] = value !== undefined
        ? scalar(value)
        : at < lines.length && lines[at].indent > indent
        ? block(lines[at].indent)
        : "";
    }
    return out;
  };
  const document = block(0);
  if (at !== lines.length) throw new SyntaxError(`unexpected indent: ${lines[at].text}`);
  return document;
}

/**
 * Reads a stream of documents separated by `---` lines (as `kubectl apply -f`
 * takes a Deployment and its Service in one file).
 *
 * @example
 * ```ts
 * import { parseYamlDocuments } from "./yaml.ts";
 *
 * parseYamlDocuments("kind: Deployment\n---\nkind: Service\n"); // [{ kind: "Deployment" }, { kind: "Service" }]
 * ```
 */
export function parseYamlDocuments(text: string): Yaml[] {
  const blank = (part: string) => part.split("\n").every((line) => /^\s*(#.*)?$/.test(line));
  return text.split(/^---[ \t]*$/m).filter((part) => !blank(part)).map(parseYaml);
}
