/**
 * A manifest's container as the kubelet would start it, for the tests in
 * `deploy/` that run it as a local process: the image's entrypoint (from
 * `deploy/Dockerfile`, with `/app/main.ts` the checkout's), `$(NAME)` in the
 * arguments expanded from the environment, and options changed for a local run.
 *
 * @example
 * ```ts
 * import { expand, imageCommand, withOption } from "./container.ts";
 *
 * const [deno, ...flags] = await imageCommand();
 * const args = withOption(expand(["serve", "--instance", "$(POD_NAME)", "-p", "4321"], {
 *   POD_NAME: "echo-0",
 * }), "-p", "0");
 * // deno run --cached-only -N … main.ts serve --instance echo-0 -p 0
 * ```
 *
 * @module
 */

const DOCKERFILE = new URL("./Dockerfile", import.meta.url);
const MAIN = new URL("../main.ts", import.meta.url).pathname;

/**
 * The image's ENTRYPOINT (`deno run … /app/main.ts`), with the checkout's
 * `main.ts` for the image's: the arguments a container's `args` follow.
 *
 * @example
 * ```ts
 * import { imageCommand } from "./container.ts";
 *
 * const [deno] = await imageCommand(); // "deno"
 * ```
 */
export async function imageCommand(): Promise<string[]> {
  const line = (await Deno.readTextFile(DOCKERFILE)).match(/^ENTRYPOINT (\[.*\])$/m);
  if (!line) throw new SyntaxError("deploy/Dockerfile has no ENTRYPOINT [...] line");
  return (JSON.parse(line[1]) as string[]).map((word) => word === "/app/main.ts" ? MAIN : word);
}

/**
 * `args` with `$(NAME)` replaced by `env`'s value, as the kubelet expands a
 * container's arguments; a name `env` lacks is left as written, as there.
 *
 * @example
 * ```ts
 * import { expand } from "./container.ts";
 *
 * expand(["--start-at", "$(START_AT)"], { START_AT: "1893499200" }); // ["--start-at", "1893499200"]
 * ```
 */
export function expand(args: string[], env: Record<string, string>): string[] {
  return args.map((arg) =>
    arg.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name) => env[name] ?? whole)
  );
}

/**
 * `args` with the value after `flag` set to `value` (a local, shorter run);
 * throws if `flag` is not there with a value.
 *
 * @example
 * ```ts
 * import { withOption } from "./container.ts";
 *
 * withOption(["serve", "-p", "4321"], "-p", "0"); // ["serve", "-p", "0"]
 * ```
 */
export function withOption(args: string[], flag: string, value: string): string[] {
  const at = args.indexOf(flag);
  if (at === -1 || at === args.length - 1) throw new Error(`no ${flag} VALUE in ${args.join(" ")}`);
  return args.toSpliced(at + 1, 1, value);
}
