/**
 * @module
 * A stand-in serving plane for the Admin API emulator's tests: it records every deploy and removal,
 * can hold deployments until released (to observe services mid-rollout), and can be told to reject
 * the next deployment with a given error. It runs nothing.
 */
import type { Deployment, RunService, ServingBackend } from "../contracts.ts";

/** One call the fake received. */
export type ServingCall = { kind: "deploy"; service: RunService } | { kind: "remove"; name: string };

/** A {@link ServingBackend} that records calls instead of running services. */
export class FakeServing implements ServingBackend {
  readonly calls: ServingCall[] = [];
  /** Services currently "deployed", by name. */
  readonly deployed = new Map<string, RunService>();
  #nextFailure: Error | undefined;
  #hold: Promise<void> | undefined;
  #port = 40_000;
  readonly #ports = new Map<string, number>();

  async deploy(service: RunService): Promise<Deployment> {
    this.calls.push({ kind: "deploy", service: structuredClone(service) });
    await this.#hold;
    const failure = this.#nextFailure;
    this.#nextFailure = undefined;
    if (failure) throw failure;
    this.deployed.set(service.name, service);
    if (!this.#ports.has(service.name)) this.#ports.set(service.name, this.#port++);
    const revision = String(service.latestCreatedRevision).split("/").at(-1)!;
    return { uri: `http://127.0.0.1:${this.#ports.get(service.name)}`, revision };
  }

  async remove(serviceName: string): Promise<void> {
    this.calls.push({ kind: "remove", name: serviceName });
    this.deployed.delete(serviceName);
  }

  /** Makes the next deployment reject with `error`. */
  failNextDeploy(error: Error): void {
    this.#nextFailure = error;
  }

  /** Holds every deployment from now until the returned function is called. */
  hold(): () => void {
    let release!: () => void;
    this.#hold = new Promise((resolve) => (release = resolve));
    return () => {
      this.#hold = undefined;
      release();
    };
  }

  /** The deploy calls for service `name`, oldest first. */
  deploysOf(name: string): RunService[] {
    return this.calls.flatMap((call) => (call.kind === "deploy" && call.service.name === name ? [call.service] : []));
  }
}
