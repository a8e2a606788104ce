/** deploy/yaml.ts: the manifests' YAML subset is read exactly, and the rest refused. */
import assert from "node:assert/strict";
import { parseYaml, parseYamlDocuments } from "./yaml.ts";

Deno.test("the manifests' YAML reader reads mappings, sequences and scalars by indentation", () => {
  assert.deepEqual(parseYaml('a:\n  - 1\n  - b: "x"\n    c: y\n'), { a: [1, { b: "x", c: "y" }] });
  assert.deepEqual(
    parseYaml('# note\nspec:\n  on: true\n  off: false\n  port: 8080\n  name: "8080"\n  v: -1\n'),
    { spec: { on: true, off: false, port: 8080, name: "8080", v: -1 } },
  );
  assert.deepEqual(
    parseYaml(
      "env:\n  - name: A\n    valueFrom:\n      fieldRef:\n        fieldPath: metadata.name\n",
    ),
    {
      env: [{ name: "A", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } }],
    },
  );
});

Deno.test("the manifests' YAML reader takes documents separated by ---", () => {
  assert.deepEqual(
    parseYamlDocuments("# head\n---\nkind: A\n---\n# only a comment\n---\nkind: B\n"),
    [
      { kind: "A" },
      { kind: "B" },
    ],
  );
});

Deno.test("the manifests' YAML reader refuses what it does not read", () => {
  for (
    const text of [
      "a: &anchor 1",
      "a: |\n  text",
      "a:\n\t- 1",
      "- a\nb: c",
      "a: 1\n---\nb: 2",
      "a:\n b: 1\n  c: 2",
    ]
  ) {
    assert.throws(() => parseYaml(text), SyntaxError, text);
  }
});
