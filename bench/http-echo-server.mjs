/**
 * The container of the Cloud Run benchmark's plain HTTP service: a stateless function as a request
 * executor would deploy it. It answers every POST with the request's body (JSON in, the same JSON out)
 * on 0.0.0.0:$PORT (Cloud Run's contract, which the emulators hold containers to), with keep-alive,
 * and exits on SIGTERM as a container does. It also takes WebSocket upgrades and sends every message
 * back as it came: the benchmark's raw WebSocket, through the front end and straight to the instance.
 */
import { createServer } from "node:http";
import { WebSocketServer } from "ws";

const server = createServer((req, res) => {
  const chunks = [];
  req.on("data", (chunk) => chunks.push(chunk));
  req.on("end", () => {
    const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
    res.writeHead(req.method === "POST" ? 200 : 405, { "content-type": "application/json", "content-length": body.byteLength });
    res.end(body);
  });
});
server.keepAliveTimeout = 60_000;
const sockets = new WebSocketServer({ server, perMessageDeflate: false });
sockets.on("connection", (ws) => ws.on("message", (data, binary) => ws.send(data, { binary })));
server.listen(Number(process.env.PORT ?? 8080), "0.0.0.0");
// A container outlives nothing: if the emulators' process is gone without stopping it, exit.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(0);
}, 1_000).unref();
process.once("SIGTERM", () => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
});
