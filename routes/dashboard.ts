// GET /: the dashboard, one self-contained page (no CDN: servers are often offline) that
// lists the sweeps and runs with live status and progress, and shows a sweep's answer and
// figure. It reads the JSON API like any client; a token, when the service needs one, is
// typed into the page and kept in the tab.
import { ApiRouter, defineRoute } from "../lib/http/route.ts";

const PAGE = await Deno.readTextFile(new URL("./dashboard.html", import.meta.url));

export const getDashboard = defineRoute({
  method: "get",
  path: "/",
  summary: "The dashboard: jobs with live progress, a sweep's answer and figure",
  tags: ["docs"],
  public: true,
  responses: { 200: { contentType: "text/html", description: "An HTML page" } },
});

export function dashboardRouter(): ApiRouter {
  return new ApiRouter().add(
    getDashboard,
    (c) => c.body(PAGE, 200, { "content-type": "text/html; charset=utf-8" }),
  );
}
