/**
 * @module
 * A stand-in for the metadata server a Cloud Run instance reaches at `metadata.google.internal`: the
 * project and instance facts under `/computeMetadata/v1/`, and the attached service account's access
 * and ID tokens. Like Google's, it answers only requests that carry `Metadata-Flavor: Google` and are
 * not forwarded, and stamps that header on every reply (google-auth-library checks it).
 */
import { randomBytes } from "node:crypto";
import { Hono, type Context } from "hono";
import type { TokenIssuer } from "./token-issuer.ts";

/** Options for {@link createMetadataApp}. */
export interface MetadataAppOptions {
  projectId: string;
  projectNumber: string;
  region: string;
  /** The attached service account; its tokens are minted by `issuer`. */
  serviceAccountEmail: string;
  issuer: TokenIssuer;
  /** The instance id reported at `instance/id`; a random one otherwise. */
  instanceId?: string;
}

/** The metadata server's base path. */
export const METADATA_BASE_PATH = "/computeMetadata/v1";
const FLAVOR_HEADER = "Metadata-Flavor";
const FLAVOR = "Google";
const CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform";

/** A random instance id in the form Cloud Run uses: a long lowercase hex string. */
export function newInstanceId(): string {
  return `00${randomBytes(40).toString("hex")}`;
}

/** A static metadata tree: leaves are values, objects are directories. */
type MetadataTree = { [name: string]: string | MetadataTree };

// Endpoints that compute their answer per request; listed in their directory, absent from recursive JSON.
const TOKEN_ENDPOINTS = ["identity", "token"];

function buildTree(options: MetadataAppOptions, instanceId: string): MetadataTree {
  const account: MetadataTree = {
    aliases: "default",
    email: options.serviceAccountEmail,
    scopes: CLOUD_PLATFORM_SCOPE,
  };
  return {
    project: { "project-id": options.projectId, "numeric-project-id": options.projectNumber },
    instance: {
      id: instanceId,
      region: `projects/${options.projectNumber}/regions/${options.region}`,
      // Cloud Run reports one zone per region, named REGION-1.
      zone: `projects/${options.projectNumber}/zones/${options.region}-1`,
      "service-accounts": { default: account, [options.serviceAccountEmail]: account },
    },
  };
}

function lookup(tree: MetadataTree, segments: string[]): string | MetadataTree | undefined {
  let node: string | MetadataTree | undefined = tree;
  for (const segment of segments) {
    if (typeof node !== "object") return undefined;
    node = Object.hasOwn(node, segment) ? node[segment] : undefined;
  }
  return node;
}

function listing(directory: MetadataTree, withTokenEndpoints: boolean): string {
  const names = Object.entries(directory).map(([name, child]) => (typeof child === "object" ? `${name}/` : name));
  if (withTokenEndpoints) names.push(...TOKEN_ENDPOINTS);
  return names.sort().map((name) => `${name}\n`).join("");
}

/** The `?recursive=true` form: a JSON object with camelCase keys, as Google's server returns. */
function recursiveJson(directory: MetadataTree): Record<string, unknown> {
  const camel = (name: string) => name.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());
  return Object.fromEntries(
    Object.entries(directory).map(([name, child]) => [camel(name), typeof child === "object" ? recursiveJson(child) : child]),
  );
}

function text(c: Context, body: string, status: 200 | 400 | 403 | 404 | 405 = 200): Response {
  return c.body(body, status, { "Content-Type": "application/text" });
}

/**
 * A hono app serving the metadata server's paths for one instance: `project/project-id`,
 * `project/numeric-project-id`, `instance/id`, `instance/region` (`projects/NUM/regions/REGION`),
 * `instance/zone`, `instance/service-accounts/{default|EMAIL}/{email,aliases,scopes,token,identity}`,
 * directory listings (and `?recursive=true` JSON), and `GET /`. Unknown paths get 404; requests without
 * the flavor header, or with `X-Forwarded-For`, get 403.
 */
export function createMetadataApp(options: MetadataAppOptions): Hono {
  const instanceId = options.instanceId ?? newInstanceId();
  const tree = buildTree(options, instanceId);
  const { issuer, serviceAccountEmail } = options;
  const app = new Hono();

  app.use("*", async (c, next) => {
    await next();
    c.res.headers.set(FLAVOR_HEADER, FLAVOR);
  });
  app.notFound((c) => text(c, `Not Found: ${new URL(c.req.url).pathname}\n`, 404));
  app.onError((err, c) => text(c, `metadata server error: ${err.message}\n`, 400));

  app.get("/", (c) => text(c, "computeMetadata/\n"));
  app.all("/computeMetadata/*", async (c, next) => {
    if (c.req.method !== "GET" && c.req.method !== "HEAD") return text(c, "Method Not Allowed\n", 405);
    const flavored = c.req.header(FLAVOR_HEADER) === FLAVOR || c.req.header("X-Google-Metadata-Request") === "True";
    if (!flavored) return text(c, `Missing ${FLAVOR_HEADER}:${FLAVOR} header.\n`, 403);
    // Google refuses proxied requests, so a metadata token cannot be fetched through an open proxy.
    if (c.req.header("X-Forwarded-For") !== undefined) return text(c, "Request with X-Forwarded-For refused.\n", 403);
    await next();
  });

  app.get("/computeMetadata/", (c) => text(c, "v1/\n"));
  app.get(`${METADATA_BASE_PATH}/*`, (c) => {
    const path = new URL(c.req.url).pathname.slice(METADATA_BASE_PATH.length + 1);
    const segments = path.split("/").filter((segment) => segment !== "");
    const node = lookup(tree, segments);
    const isAccount = segments.length >= 3 && segments[0] === "instance" && segments[1] === "service-accounts";
    const account = isAccount ? lookup(tree, segments.slice(0, 3)) : undefined;

    if (segments.length === 4 && typeof account === "object") {
      if (segments[3] === "token") {
        return c.json(issuer.accessToken(serviceAccountEmail));
      }
      if (segments[3] === "identity") {
        const audience = c.req.query("audience");
        if (!audience) return text(c, "non-empty audience parameter required\n", 400);
        const format = c.req.query("format") ?? "standard";
        if (format !== "standard" && format !== "full") return text(c, `invalid format ${format}\n`, 400);
        return text(c, issuer.signIdToken({ aud: audience, email: serviceAccountEmail }));
      }
    }
    if (node === undefined) return c.notFound();
    if (typeof node === "string") return text(c, node);
    if (c.req.query("recursive") === "true") return c.json(recursiveJson(node));
    return text(c, listing(node, segments.length === 3 && isAccount));
  });
  app.get(METADATA_BASE_PATH, (c) => text(c, listing(tree, false)));
  return app;
}
