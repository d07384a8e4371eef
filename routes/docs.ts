// GET /openapi.json and GET /docs (Swagger UI). The UI's files come from the installed
// swagger-ui-dist package and are served by this process: servers are often offline.

import { join } from "node:path";
import swaggerUiDir from "swagger-ui-dist/absolute-path.js";
import type { OpenAPIObject } from "openapi3-ts/oas31";
import { z } from "zod";
import { ApiError, ErrorBody } from "../lib/http/errors.ts";
import { ApiRouter, defineRoute } from "../lib/http/route.ts";

/** The files of swagger-ui-dist this page uses, with their media types. */
const PACKAGE_ASSETS: Record<string, string> = {
  "swagger-ui.css": "text/css; charset=utf-8",
  "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
  "favicon-32x32.png": "image/png",
  "favicon-16x16.png": "image/png",
};

const INIT_JS = `window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    persistAuthorization: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
`;

const DOCS_HTML = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>memcap API</title>
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png" sizes="32x32">
  <link rel="icon" type="image/png" href="/docs/assets/favicon-16x16.png" sizes="16x16">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/docs/assets/init.js"></script>
</body>
</html>
`;

export const getOpenApi = defineRoute({
  method: "get",
  path: "/openapi.json",
  summary: "This API as an OpenAPI 3.1 document",
  tags: ["docs"],
  public: true,
  responses: {
    200: {
      schema: z.looseObject({ openapi: z.string(), info: z.unknown(), paths: z.unknown() }),
      description: "OpenAPI 3.1 document listing every route and schema",
    },
  },
});

export const getDocs = defineRoute({
  method: "get",
  path: "/docs",
  summary: "Swagger UI for this API",
  tags: ["docs"],
  public: true,
  responses: { 200: { contentType: "text/html", description: "HTML page" } },
});

export const getDocsAsset = defineRoute({
  method: "get",
  path: "/docs/assets/:file",
  summary: "Static files of the Swagger UI page",
  tags: ["docs"],
  public: true,
  params: z.object({
    file: z.string().meta({
      description: `One of ${[...Object.keys(PACKAGE_ASSETS), "init.js"].join(", ")}`,
    }),
  }),
  responses: {
    200: { contentType: "application/octet-stream", description: "The file" },
    404: { schema: ErrorBody, description: "No such asset" },
  },
});

/** Serves the document that `document()` returns (built once, on first use). */
export function docsRouter(document: () => OpenAPIObject): ApiRouter {
  let cachedDoc: string | undefined;
  const files = new Map<string, Uint8Array>();
  const dir = swaggerUiDir();

  return new ApiRouter()
    .add(getOpenApi, (c) => {
      cachedDoc ??= JSON.stringify(document());
      return c.body(cachedDoc, 200, { "content-type": "application/json; charset=utf-8" });
    })
    .add(getDocs, (c) => c.html(DOCS_HTML))
    .add(getDocsAsset, async (c, { params }) => {
      const headers = { "cache-control": "public, max-age=86400" };
      if (params.file === "init.js") {
        return c.body(INIT_JS, 200, {
          ...headers,
          "content-type": "text/javascript; charset=utf-8",
        });
      }
      const type = Object.hasOwn(PACKAGE_ASSETS, params.file)
        ? PACKAGE_ASSETS[params.file]
        : undefined;
      if (!type) throw ApiError.notFound(`No docs asset named ${params.file}`);
      let bytes = files.get(params.file);
      if (!bytes) {
        bytes = await Deno.readFile(join(dir, params.file));
        files.set(params.file, bytes);
      }
      return c.body(bytes as Uint8Array<ArrayBuffer>, 200, { ...headers, "content-type": type });
    });
}
