// The campaigns, a page at a time (newest first), filtered by status, each with a progress bar.
// Pages follow the API's cursors (`X-Next-Cursor`): nothing ever asks for every campaign.
import { api, errorBox } from "./api.js";
import { badge, fill, fmt, h, progressBar } from "./dom.js";

const STATUSES = ["draft", "scheduled", "running", "paused", "finished", "cancelled"];
const PAGE_SIZES = [25, 50, 100];
const REFRESH_MS = 5000;

/** The cursors of the pages seen, per filter, so "Newer" can go back without asking again. */
const trail = new Map();

export function campaignsView(el, ctx, query) {
  const params = new URLSearchParams(query);
  const status = STATUSES.includes(params.get("status")) ? params.get("status") : "";
  const limit = PAGE_SIZES.includes(Number(params.get("limit"))) ? Number(params.get("limit")) : 50;
  const cursor = params.get("cursor") || "";
  const trailKey = `${status}|${limit}`;
  const pages = trail.get(trailKey) || [""];
  trail.set(trailKey, pages);
  let index = pages.indexOf(cursor);
  if (index < 0) {
    pages.length = 1; // opened from a link: the trail starts again here
    pages.push(cursor);
    index = 1;
  }

  const link = (changes) => {
    const next = new URLSearchParams({ status, limit: String(limit), cursor, ...changes });
    for (const [key, value] of [...next.entries()]) if (!value) next.delete(key);
    const text = next.toString();
    return `#/campaigns${text ? `?${text}` : ""}`;
  };

  const filter = h("select", { id: "status-filter", "aria-label": "Status" },
    h("option", { value: "" }, "every status"),
    STATUSES.map((s) => h("option", { value: s, selected: s === status }, s)));
  filter.addEventListener("change", () => {
    window.location.hash = link({ status: filter.value, cursor: "" });
  });
  const size = h("select", { id: "page-size", "aria-label": "Campaigns per page" },
    PAGE_SIZES.map((n) => h("option", { value: String(n), selected: n === limit }, `${n} per page`)));
  size.addEventListener("change", () => {
    window.location.hash = link({ limit: size.value, cursor: "" });
  });
  const newer = h("button", { type: "button", id: "page-newer", disabled: index === 0 }, "← Newer");
  newer.addEventListener("click", () => {
    window.location.hash = link({ cursor: pages[index - 1] || "" });
  });
  const older = h("button", { type: "button", id: "page-older", disabled: true }, "Older →");
  const pageLabel = h("span", { id: "page-number", class: "muted" }, `page ${index + 1}`);
  const body = h("tbody", { id: "campaign-rows" });
  const problem = h("div", { id: "list-status" });
  const table = h("table", { class: "campaigns" },
    h("thead", {}, h("tr", {}, h("th", {}, "Campaign"), h("th", {}, "Status"),
      h("th", {}, "Progress"), h("th", {}, "Rate"), h("th", {}, "Created"))),
    body);

  fill(el,
    h("div", { class: "bar" },
      h("h1", {}, "Campaigns"),
      h("div", { class: "tools" }, filter, size),
      ctx.can("operate") ? h("a", { class: "button primary", href: "#/submit" }, "New campaign") : null),
    problem, table,
    h("div", { class: "pager" }, newer, pageLabel, older));

  let nextCursor = null;
  older.addEventListener("click", () => {
    if (!nextCursor) return;
    pages.length = index + 1;
    pages.push(nextCursor);
    window.location.hash = link({ cursor: nextCursor });
  });

  async function load() {
    try {
      const { data, headers } = await api("GET", "/campaigns", {
        query: { limit, status, cursor },
      });
      nextCursor = headers.get("X-Next-Cursor");
      older.disabled = !nextCursor;
      fill(problem);
      // With a status, the API may answer a short (even empty) page that still has a next one.
      fill(body, data.length ? data.map(row) : h("tr", {}, h("td", { colspan: 5, class: "empty" },
        status ? `No ${status} campaigns on this page.` : "No campaigns yet.")));
    } catch (error) {
      fill(problem, errorBox(error));
    }
  }

  load();
  const timer = setInterval(load, REFRESH_MS);
  return () => clearInterval(timer);
}

function row(c) {
  return h("tr", { dataset: { campaignId: c.campaign_id, status: c.status } },
    h("td", {},
      h("a", { href: `#/campaigns/${encodeURIComponent(c.campaign_id)}`, class: "name" },
        c.name || c.campaign_id),
      h("div", { class: "muted mono" }, c.campaign_id),
      c.pause_reason ? h("div", { class: "reason" }, c.pause_reason) : null),
    h("td", {}, badge(c.status)),
    h("td", { class: "progress-cell" }, progressBar(c.done, c.total)),
    h("td", {}, c.rate_per_s ? `${c.rate_per_s}/s` : "–"),
    h("td", {}, fmt.time(c.created_at_ms)));
}
