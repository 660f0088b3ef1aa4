// A plain-JavaScript driver of the installed package: no TypeScript and no loader. Its machines run
// this same file under plain node. It prints one line saying what its two machines answered, and
// exits non-zero if anything is not as it should be.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { isKind, registerService, start } from "bigmachine";

export class Where {
  /** Says where it runs: which process, under which node flags, running which program. */
  where(tag) {
    return { tag, pid: process.pid, execPath: process.execPath, execArgv: process.execArgv, program: process.argv[1] };
  }

  fail(path) {
    throw Object.assign(new Error(`no such file ${path}`), { code: "ENOENT" });
  }
}
const WhereService = registerService("Where", Where);

const session = await start();
try {
  const machines = await session.startMachines(2, { services: { [WhereService.name]: new Where() } });
  const replies = await Promise.all(machines.map((m, i) => m.service(WhereService).where(`machine ${i}`)));
  assert.deepEqual(replies.map((r) => r.tag), ["machine 0", "machine 1"]);
  assert.equal(new Set([process.pid, ...replies.map((r) => r.pid)]).size, 3, "each machine is a process of its own");
  for (const reply of replies) {
    assert.equal(reply.execPath, process.execPath, "machines run the driver's node");
    assert.ok(!reply.execArgv.some((flag) => /tsx|ts-node|--loader|--experimental-strip-types/.test(flag)), `no TypeScript loader: ${reply.execArgv.join(" ")}`);
  }
  // The errors of the installed package behave as documented.
  const err = await machines[0].service(WhereService).fail("/nowhere").then(
    () => assert.fail("the call should have failed"),
    (e) => e,
  );
  assert.equal(err.kind, "remote");
  assert.equal(isKind(err, "net"), false);
  assert.match(err.message, /no such file \/nowhere/);
  const resolved = fileURLToPath(import.meta.resolve("bigmachine"));
  console.log(`package driver: ${replies.length} machines answered under plain node (pids ${replies.map((r) => r.pid).join(", ")}), bigmachine from ${resolved}`);
} finally {
  await session.shutdown();
}
