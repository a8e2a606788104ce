import assert from "node:assert/strict";
import { ConnectError, MissingPermissionError } from "../net/errors.ts";
import { missingPermission } from "./permission.ts";

Deno.test("missingPermission names the flag to add, from Deno's refusal or a cause of it", () => {
  const refusal = new Deno.errors.NotCapable(
    'Requires read access to "cert.pem", run again with the --allow-read flag',
  );
  const found = missingPermission(refusal);
  assert.ok(found instanceof MissingPermissionError);
  assert.equal(found.message, 'no read permission for "cert.pem": run with -R (--allow-read)');
  const wrapped = new ConnectError("cannot connect to 127.0.0.1:4321: …", {
    cause: new Deno.errors.NotCapable(
      'Requires net access to "127.0.0.1:4321", run again with the --allow-net flag',
    ),
  });
  assert.equal(
    missingPermission(wrapped)?.message,
    'no net permission for "127.0.0.1:4321": run with -N (--allow-net)',
  );
});

Deno.test("missingPermission passes other errors by", () => {
  assert.equal(missingPermission(new ConnectError("connection refused")), undefined);
  assert.equal(missingPermission("not an error"), undefined);
});
