/** deploy/container.ts: a container's command line as the kubelet would make it. */
import assert from "node:assert/strict";
import { expand, imageCommand, withOption } from "./container.ts";

Deno.test("$(NAME) in a container's args is expanded from its env, an unknown name left as written", () => {
  assert.deepEqual(
    expand(["--instance", "$(POD_NAME)", "x$(A)y$(A)", "$(MISSING)", "$(9X)"], {
      POD_NAME: "echo-7c9d",
      A: "1",
    }),
    ["--instance", "echo-7c9d", "x1y1", "$(MISSING)", "$(9X)"],
  );
});

Deno.test("withOption changes the value after a flag, and refuses a flag that is not there", () => {
  assert.deepEqual(withOption(["serve", "-p", "4321", "-q"], "-p", "0"), [
    "serve",
    "-p",
    "0",
    "-q",
  ]);
  assert.throws(() => withOption(["serve", "-q"], "-p", "0"), /no -p VALUE in serve -q/);
  assert.throws(() => withOption(["serve", "-p"], "-p", "0"), /no -p VALUE/);
});

Deno.test("the image's entrypoint runs this checkout's main.ts with deno", async () => {
  const command = await imageCommand();
  assert.equal(command[0], "deno");
  assert.equal(command.at(-1), new URL("../main.ts", import.meta.url).pathname);
  assert.ok(command.includes("-N") && command.includes("--cached-only"), command.join(" "));
});
