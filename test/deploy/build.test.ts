/**
 * `bigmachine build` with a stub gcloud first on PATH (gcloud never really runs): the Cloud Build
 * submission it makes, and its failures (gcloud failing, gcloud missing, bad flags, no project).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runBuildCommand } from "../../deploy/build.ts";
import { REPOSITORY_ROOT } from "../../deploy/cloudbuild-config.ts";
import { capturedIO, stubGcloud, type StubGcloud } from "./helpers.ts";

describe("bigmachine build", () => {
  let gcloud: StubGcloud;

  beforeAll(async () => {
    gcloud = await stubGcloud();
  });

  afterAll(async () => {
    await gcloud?.remove();
  });

  it("submits cloudbuild.yaml from the repository root, building and pushing without deploying", async () => {
    const io = capturedIO({ env: { ...(await gcloud.env()), GOOGLE_CLOUD_PROJECT: "my-project" } });
    expect(await runBuildCommand(["--region", "europe-west4"], io)).toBe(0);
    const [call, ...more] = await gcloud.calls();
    expect(more).toEqual([]);
    expect(call!.cwd).toBe(REPOSITORY_ROOT.replace(/\/$/, ""));
    expect(call!.argv).toEqual([
      "builds",
      "submit",
      "--project=my-project",
      "--config=cloudbuild.yaml",
      "--substitutions=_REGION=europe-west4,_REPOSITORY=bigmachine,_TAG=latest,_DEPLOY=false",
      ".",
    ]);
    const image = "europe-west4-docker.pkg.dev/my-project/bigmachine/worker:latest";
    expect(io.out()).toContain(`building ${image} with Cloud Build`);
    // The default image is the one drivers ask for: deploy needs no --image.
    expect(io.out()).toContain(`pushed ${image}; deploy it with: bigmachine deploy\n`);
  });

  it("passes the project, repository and tag given, and names the image to deploy", async () => {
    const io = capturedIO({ env: await gcloud.env() });
    expect(await runBuildCommand(["--project", "other-project", "--repository", "images", "--tag", "v1.2"], io)).toBe(0);
    const call = (await gcloud.calls()).at(-1)!;
    expect(call.argv).toContain("--project=other-project");
    expect(call.argv).toContain("--substitutions=_REGION=us-central1,_REPOSITORY=images,_TAG=v1.2,_DEPLOY=false");
    expect(io.out()).toContain("deploy it with: bigmachine deploy --image us-central1-docker.pkg.dev/other-project/images/worker:v1.2\n");
  });

  it("fails with gcloud's exit code named when the build fails", async () => {
    const io = capturedIO({ env: { ...(await gcloud.env({ exitCode: 3 })), GOOGLE_CLOUD_PROJECT: "my-project" } });
    expect(await runBuildCommand([], io)).toBe(1);
    expect(io.err()).toBe("bigmachine build: gcloud builds submit failed (exit code 3); its output above says why\n");
  });

  it("says so when gcloud is not installed", async () => {
    const io = capturedIO({ env: { PATH: "/nonexistent", GOOGLE_CLOUD_PROJECT: "my-project" } });
    expect(await runBuildCommand([], io)).toBe(1);
    expect(io.err()).toContain("gcloud is not on PATH: install the Google Cloud CLI");
  });

  it("refuses bad flags and a missing project before running anything", async () => {
    const before = (await gcloud.calls()).length;
    const env = await gcloud.env();
    const badTag = capturedIO({ env: { ...env, GOOGLE_CLOUD_PROJECT: "my-project" } });
    expect(await runBuildCommand(["--tag", "no spaces"], badTag)).toBe(2);
    expect(badTag.err()).toContain("is not an image tag");
    expect(badTag.err()).toContain("usage: bigmachine build");
    const badRepository = capturedIO({ env: { ...env, GOOGLE_CLOUD_PROJECT: "my-project" } });
    expect(await runBuildCommand(["--repository", "Images"], badRepository)).toBe(2);
    const noProject = capturedIO({ env });
    expect(await runBuildCommand([], noProject)).toBe(1);
    expect(noProject.err()).toContain("no Google Cloud project");
    const notHere = capturedIO({ env: { ...env, GOOGLE_CLOUD_PROJECT: "my-project" } });
    expect(await runBuildCommand([], { ...notHere, sourceDir: "/nonexistent" })).toBe(1);
    expect(notHere.err()).toContain("cloudbuild.yaml is not in /nonexistent");
    expect((await gcloud.calls()).length).toBe(before);
  });
});
