/**
 * The floor of the start benchmark (`bench/start.ts`): a bare node process that does only what every
 * machine process must, listen on a loopback port with an HTTP server and report the port over its IPC
 * channel. It exits when its parent disconnects.
 */
import { createServer } from "node:http";

const server = createServer((_req, res) => res.end());
server.listen(0, "127.0.0.1", () => process.send({ type: "bench:listening", port: server.address().port }));
process.once("disconnect", () => process.exit(0));
