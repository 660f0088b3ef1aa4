/**
 * @module
 * What the deploy tooling knows of `cloudbuild.yaml` at the repository root: where it is, its
 * substitutions, and the image it pushes. The test of `cloudbuild.yaml` holds the file to these.
 */
import { fileURLToPath } from "node:url";
import { WORKER_IMAGE_NAME } from "../src/systems/cloudrun/service-spec.ts";

/** The repository root: the build's source, holding `cloudbuild.yaml` and `worker/Dockerfile`. */
export const REPOSITORY_ROOT = fileURLToPath(new URL("..", import.meta.url));

/** The build config, relative to {@link REPOSITORY_ROOT}. */
export const CLOUDBUILD_CONFIG = "cloudbuild.yaml";

/** The worker's Dockerfile, relative to {@link REPOSITORY_ROOT} (its build context). */
export const WORKER_DOCKERFILE = "worker/Dockerfile";

/** The substitutions of `cloudbuild.yaml`, by what they set. */
export const SUBSTITUTIONS = {
  /** The region of the Artifact Registry repository and of the service. */
  region: "_REGION",
  /** The Artifact Registry repository (Docker format) the image goes to. */
  repository: "_REPOSITORY",
  /** The image's tag besides `$BUILD_ID`; the service runs this one. */
  tag: "_TAG",
  /** `true` to deploy the service after pushing; anything else only builds and pushes. */
  deploy: "_DEPLOY",
  /** The service's name. */
  service: "_SERVICE",
  /** The service's instance ceiling. */
  maxInstances: "_MAX_INSTANCES",
  /** CPUs per instance. */
  cpu: "_CPU",
  /** Memory per instance. */
  memory: "_MEMORY",
  /** The request timeout in seconds. */
  timeout: "_TIMEOUT",
} as const;

/** The default image tag: the one `defaultWorkerImage` names, so drivers with default settings run it. */
export const DEFAULT_TAG = "latest";

/**
 * The instance ceiling `bigmachine deploy` and `cloudbuild.yaml` give a service unless told another:
 * Cloud Run's own default. A ceiling costs nothing until instances run.
 */
export const DEFAULT_DEPLOY_MAX_INSTANCES = 100;

/** The worker image `cloudbuild.yaml` pushes: `REGION-docker.pkg.dev/PROJECT/REPOSITORY/worker:TAG`. */
export function workerImage(project: string, region: string, repository: string, tag: string): string {
  return `${region}-docker.pkg.dev/${project}/${repository}/${WORKER_IMAGE_NAME}:${tag}`;
}
