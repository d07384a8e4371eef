import assert from "node:assert/strict";
import { createApp } from "../../routes/app.ts";
import { fakeGpu } from "./_probe.ts";

Deno.test("GET /docs is Swagger UI whose assets are all served by the process", async () => {
  const app = createApp({ gpu: fakeGpu, token: "t" });
  const res = await app.request("/docs");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /text\/html/);
  const html = await res.text();
  assert.match(html, /id="swagger-ui"/);

  const urls = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
  assert.ok(urls.length >= 3, `asset URLs in ${html}`);
  for (const url of urls) {
    assert.ok(url.startsWith("/docs/assets/"), `${url} must be local`);
    const asset = await app.request(url);
    assert.equal(asset.status, 200, url);
    const bytes = new Uint8Array(await asset.arrayBuffer());
    assert.ok(bytes.length > 0, url);
  }
  const bundle = await app.request("/docs/assets/swagger-ui-bundle.js");
  assert.match(bundle.headers.get("content-type") ?? "", /javascript/);
  assert.match(await bundle.text(), /SwaggerUIBundle/);
  const init = await (await app.request("/docs/assets/init.js")).text();
  assert.match(init, /"\/openapi.json"/);
});

Deno.test("unknown or sneaky docs asset names -> 404 JSON", async () => {
  const app = createApp({ gpu: fakeGpu });
  for (const name of ["nope.js", "..%2Fpackage.json", "swagger-ui.js.map"]) {
    const res = await app.request(`/docs/assets/${name}`);
    assert.equal(res.status, 404, name);
    assert.equal((await res.json()).error.code, "not_found");
  }
});
