/**
 * @module
 * The program the Cloud Run benchmark ships to its machines (bundled, as any driver's program is) and
 * runs, from the same bundle, on its local-system machines: it registers the benchmark's services and
 * serves them. The driver (`bench/cloudrun.ts`) never runs this file itself.
 */
import "./cloudrun-services.ts";
import { start } from "../src/index.ts";

await start();
