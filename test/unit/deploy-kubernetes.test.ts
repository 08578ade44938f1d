/**
 * deploy/kubernetes: every manifest of the kustomization validated against
 * the Kubernetes (and KEDA) schemas with kubernetes-models — helm,
 * kubeconform and a cluster for `kubectl --dry-run` are not on these
 * machines — and held against Claw itself: the probes are the gateway's
 * public health routes, the container runs as the image's user on a
 * read-only root with /tmp writable, stops within its grace period, the
 * disruption budget and the scaler point at the Deployment, and the scaler's
 * query reads a metric the node exposes.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { Service } from "kubernetes-models/v1/Service";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { ScaledObject } from "@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject";
import { ROUTES } from "../../src/gateway/api-routes.js";

const DIR = fileURLToPath(new URL("../../deploy/kubernetes/", import.meta.url));
const read = (f: string) => parse(readFileSync(`${DIR}${f}`, "utf8")) as any;
const kustomization = read("kustomization.yaml") as { resources: string[] };
const byKind = Object.fromEntries(kustomization.resources.map((f) => [read(f).kind as string, read(f)]));
const MODELS: Record<string, new (o: any) => { validate(): void }> = { Deployment, Service, PodDisruptionBudget, ScaledObject };

describe("the Kubernetes manifests", () => {
  it("are valid Kubernetes and KEDA objects", () => {
    expect(Object.keys(byKind).sort()).toEqual(["Deployment", "PodDisruptionBudget", "ScaledObject", "Service"]);
    for (const [kind, o] of Object.entries(byKind)) expect(() => new MODELS[kind]!(o).validate(), kind).not.toThrow();
    // and a broken one is caught (the validation can fail)
    const broken = structuredClone(byKind.Deployment);
    broken.spec.replicas = "three";
    expect(() => new Deployment(broken).validate()).toThrow();
  });

  it("fit Claw: health probes, the image's user, a read-only root, the grace period, the targets, the metric", () => {
    const pod = byKind.Deployment.spec.template.spec;
    const c = pod.containers[0];
    const publicGets = ROUTES.filter((r) => r.public && r.method === "GET").map((r) => r.path);
    expect(publicGets).toContain(c.readinessProbe.httpGet.path);
    expect(c.readinessProbe.httpGet.path).toBe("/readyz");
    expect(c.livenessProbe.httpGet.path).toBe("/healthz");
    const dockerfile = readFileSync(fileURLToPath(new URL("../../Dockerfile", import.meta.url)), "utf8");
    expect(dockerfile).toContain(`USER ${pod.securityContext.runAsUser}:${pod.securityContext.runAsGroup}`);
    expect(c.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(c.volumeMounts).toContainEqual({ name: "tmp", mountPath: "/tmp" });
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(30);
    expect(c.env.find((e: { name: string }) => e.name === "CLAW_REPLICAS").value).toBe("3");
    const labels = byKind.Deployment.spec.template.metadata.labels;
    expect(byKind.PodDisruptionBudget.spec.selector.matchLabels).toEqual(labels);
    expect(byKind.Service.spec.selector).toEqual(labels);
    expect(byKind.ScaledObject.spec.scaleTargetRef.name).toBe(byKind.Deployment.metadata.name);
    expect(byKind.ScaledObject.spec.triggers[0].metadata.query).toContain("claw_consumer_pending");
    expect(byKind.Deployment.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
  });
});
