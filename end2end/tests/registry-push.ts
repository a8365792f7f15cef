import { createHash } from "node:crypto";

const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

async function pushBlob(registry: string, repo: string, data: Buffer): Promise<string> {
  const digest = sha(data);
  const start = await fetch(`${registry}/v2/${repo}/blobs/uploads/`, { method: "POST" });
  if (start.status !== 202) throw new Error(`blob upload start: ${start.status}`);
  const location = new URL(start.headers.get("location")!, registry);
  location.searchParams.set("digest", digest);
  const put = await fetch(location, { method: "PUT", body: data, headers: { "content-type": "application/octet-stream" } });
  if (put.status !== 201) throw new Error(`blob upload: ${put.status}`);
  return digest;
}

/** Pushes a one-layer OCI image to an anonymous registry with the Distribution API. */
export async function pushImage(registry: string, repo: string, tag: string, content: string, created: string) {
  const layer = Buffer.from(content);
  const config = Buffer.from(JSON.stringify({
    architecture: "amd64", os: "linux", created, rootfs: { type: "layers", diff_ids: [sha(layer)] }, config: {},
  }));
  const layerDigest = await pushBlob(registry, repo, layer);
  const configDigest = await pushBlob(registry, repo, config);
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: configDigest, size: config.length },
    layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: layerDigest, size: layer.length }],
  });
  const put = await fetch(`${registry}/v2/${repo}/manifests/${tag}`, {
    method: "PUT", body: manifest, headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" },
  });
  if (put.status !== 201) throw new Error(`manifest push: ${put.status} ${await put.text()}`);
}
