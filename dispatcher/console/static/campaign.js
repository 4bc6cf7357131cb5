// One campaign: where it stands (counts by state, outcomes), how it went over time (dials and
// outcomes per minute), its pace against its limit, why it is paused, its last errors, and the
// controls its status and the token's scope allow. Reads only the campaign's counters, its
// per-minute series and its events: never its contacts.
import { api, errorBox } from "./api.js";
import { badge, confirmDialog, fill, fmt, h, progressBar, toast } from "./dom.js";
import { activityChart, outcomeChart, OUTCOME_COLOURS } from "./charts.js";

const REFRESH_MS = 2500;
const WINDOWS = [[0, "since it started"], [60, "last hour"], [180, "last 3 hours"],
  [720, "last 12 hours"], [1440, "last day"]];
const KEPT_MINUTES = 1440;
const STATES = ["pending", "sending", "sent", ...Object.keys(OUTCOME_COLOURS)];
const FINAL = ["finished", "cancelled"];
const ERROR_KINDS = ["rejected", "ambiguous", "lease_expired", "recording_refused"];

export function campaignView(el, ctx, campaignId) {
  const path = `/campaigns/${encodeURIComponent(campaignId)}`;
  let windowMinutes = 0; // 0: from the campaign's creation (at least 5 minutes, at most a day)
  let shownStatus = null;
  let stopped = false;

  const title = h("h1", { id: "campaign-name" }, campaignId);
  const status = h("span", { id: "campaign-status" });
  const meta = h("div", { class: "muted", id: "campaign-meta" });
  const reason = h("div", { id: "pause-reason", class: "reason-box", hidden: true });
  const actions = h("div", { id: "actions", class: "actions" });
  const actionStatus = h("div", { id: "action-status" });
  const summary = h("div", { id: "summary", class: "summary" });
  const counts = h("tbody", { id: "counts" });
  const outcomes = outcomeChart();
  const activity = activityChart();
  const pace = h("div", { id: "pace" });
  const events = h("ol", { id: "events", class: "events" });
  const problem = h("div", { id: "load-status" });
  const windowSelect = h("select", { id: "activity-window", "aria-label": "Window" },
    WINDOWS.map(([m, label]) => h("option", { value: String(m), selected: m === 0 }, label)));
  windowSelect.addEventListener("change", () => {
    windowMinutes = Number(windowSelect.value);
    refresh();
  });

  fill(el,
    h("p", {}, h("a", { href: "#/campaigns" }, "← Campaigns")),
    h("div", { class: "bar" }, h("div", {}, title, meta), status),
    problem, reason,
    h("div", { class: "card" }, actions, actionStatus),
    h("div", { class: "grid" },
      h("div", { class: "card" }, h("h2", {}, "Progress"), summary,
        h("table", { class: "compact counts" }, h("thead", {}, h("tr", {}, h("th", {}, "state"),
          h("th", {}, "contacts"))), counts)),
      h("div", { class: "card" }, h("h2", {}, "Outcomes"), outcomes.el)),
    h("div", { class: "card" },
      h("div", { class: "bar" }, h("h2", {}, "Dials and outcomes per minute"), windowSelect),
      activity.el),
    h("div", { class: "grid" },
      h("div", { class: "card" }, h("h2", {}, "Pace"), pace),
      h("div", { class: "card" }, h("h2", {}, "Last errors and events"), events)),
    h("p", { class: "muted" }, "Every contact's result: ",
      h("code", {}, `GET ${path}/results?format=csv`), " or ",
      h("code", {}, `dispatcher export ${campaignId}`), "."));

  async function refresh() {
    try {
      const progress = await api("GET", path);
      const [series, recent] = await Promise.all([
        api("GET", `${path}/activity`, { query: { minutes: minutesFor(progress.data) } }),
        api("GET", `${path}/events`, { query: { limit: 20 } }),
      ]);
      if (stopped) return;
      fill(problem);
      render(progress.data, series.data, recent.data);
    } catch (error) {
      if (!stopped) fill(problem, errorBox(error));
    }
  }

  function minutesFor(c) {
    if (windowMinutes) return windowMinutes;
    const end = c.finished_at_ms || Date.now();
    const since = Math.ceil((end - c.created_at_ms) / 60000) + 1;
    return Math.min(KEPT_MINUTES, Math.max(5, since));
  }

  function render(c, series, recent) {
    document.title = `${c.name} · effebot dispatcher`;
    fill(title, c.name || c.campaign_id);
    fill(status, badge(c.status));
    fill(meta, h("span", { class: "mono" }, c.campaign_id), ` · created ${fmt.time(c.created_at_ms)}`,
      c.finished_at_ms ? ` · finished ${fmt.time(c.finished_at_ms)}` : null,
      series.start_at ? ` · starts ${series.start_at}` : null);
    reason.hidden = !c.pause_reason;
    fill(reason, c.pause_reason ? [h("strong", {}, "Paused: "), h("span", { id: "pause-reason-text" }, c.pause_reason)] : []);
    if (c.status !== shownStatus) {
      shownStatus = c.status;
      renderActions(c);
    }
    fill(summary,
      progressBar(c.done, c.total),
      h("dl", {},
        h("dt", {}, "open"), h("dd", { id: "open" }, fmt.number(c.open)),
        h("dt", {}, "rate"), h("dd", { id: "rate" }, c.rate_per_s ? `${c.rate_per_s} contacts/s` : "–"),
        h("dt", {}, "time left"), h("dd", { id: "eta" }, c.status === "running" ? fmt.duration(c.eta_s) : "–")));
    fill(counts, STATES.filter((s) => c.counts[s]).map((s) => h("tr", { dataset: { state: s } },
      h("td", {}, s), h("td", { class: "n" }, fmt.number(c.counts[s])))),
    h("tr", { class: "total" }, h("td", {}, "total"), h("td", { class: "n", id: "total" }, fmt.number(c.total))));
    outcomes.update(c.counts);
    activity.update(series);
    renderPace(c, series);
    fill(events, recent.length ? recent.map(eventItem) : h("li", { class: "muted" }, "Nothing yet."));
  }

  function renderPace(c, series) {
    // The recent pace: dials in the last five minutes (this one included, so far) over the time
    // they cover, which is shorter for a campaign younger than that.
    const currentMinute = Math.floor(series.until_ms / 60000) * 60000;
    const from = Math.max(series.until_ms - 5 * 60000, c.created_at_ms);
    const recent = series.minutes.filter((m) => m.minute_ms >= Math.floor(from / 60000) * 60000);
    const spanMinutes = Math.max((series.until_ms - from) / 60000, 1 / 6);
    const recentDials = recent.reduce((sum, m) => sum + m.dials, 0) / spanMinutes;
    const thisMinute = series.minutes.find((m) => m.minute_ms === currentMinute);
    const p = series.pace;
    const providerCeiling = p.provider_rate_per_s * p.batch_size * 60;
    fill(pace,
      h("dl", {},
        h("dt", {}, FINAL.includes(c.status) ? "dials in its last minute" : "dials this minute"),
        h("dd", { id: "pace-this-minute" }, fmt.number(thisMinute ? thisMinute.dials : 0)),
        h("dt", {}, "recent pace (last 5 minutes)"),
        h("dd", { id: "pace-recent" }, `${fmt.number(Math.round(recentDials))} dials/min`),
        h("dt", {}, "the campaign's limit"),
        h("dd", { id: "pace-limit" }, p.dials_per_minute_limit ? `${fmt.number(p.dials_per_minute_limit)} dials/min` : "none of its own"),
        h("dt", {}, "the provider's limit"),
        h("dd", { id: "pace-provider" }, `${fmt.number(p.provider_rate_per_s)} requests/s for all campaigns `,
          `(at most ${fmt.number(providerCeiling)} dials/min with batches of ${p.batch_size})`)),
      p.dials_per_minute_limit
        ? h("meter", { id: "pace-meter", min: 0, max: p.dials_per_minute_limit, value: recentDials,
          high: p.dials_per_minute_limit * 0.95, title: "recent dials per minute against the limit" })
        : null);
  }

  function renderActions(c) {
    const operate = ctx.can("operate");
    const why = (allowed, statusText) => (!operate ? "needs a token with the operate scope"
      : allowed ? null : statusText);
    const open = !FINAL.includes(c.status);
    const button = (id, label, allowed, statusText, onclick, cls) => h("button", {
      type: "button", id, class: cls || null, disabled: !operate || !allowed,
      title: why(allowed, statusText), onclick,
    }, label);
    const form = h("div", { id: "action-form" });
    fill(actions,
      button("pause", "Pause", ["running", "scheduled"].includes(c.status),
        "only a running or scheduled campaign can be paused", () => pauseForm(form)),
      button("resume", "Resume", c.status === "paused", "only a paused campaign can be resumed",
        () => act("resume")),
      button("reschedule", "Reschedule", c.status === "scheduled",
        "only a scheduled campaign can be rescheduled", () => rescheduleForm(form)),
      button("cancel", "Cancel campaign", open, "the campaign has ended", async () => {
        const yes = await confirmDialog("Cancel this campaign?",
          `"${c.name}": contacts not dialled yet end cancelled and calls planned at the provider are removed. This cannot be undone.`,
          "Cancel the campaign");
        if (yes) act("cancel");
      }, "danger"),
      !operate ? h("span", { class: "muted", id: "read-only" }, "Read-only token: controls are off.") : null,
      form);
  }

  function pauseForm(form) {
    const input = h("input", { id: "pause-reason-input", maxlength: 500, placeholder: "Why (shown on this page)", size: 50 });
    const go = h("button", { type: "submit", id: "pause-confirm", class: "primary" }, "Pause now");
    const f = h("form", { class: "inline" }, h("label", { for: "pause-reason-input" }, "Reason "), input, go,
      h("button", { type: "button", onclick: () => fill(form) }, "Never mind"));
    f.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = input.value.trim();
      act("pause", text ? { reason: text } : undefined).then(() => fill(form));
    });
    fill(form, f);
    input.focus();
  }

  function rescheduleForm(form) {
    const input = h("input", { id: "reschedule-input", type: "datetime-local", required: true });
    const f = h("form", { class: "inline" }, h("label", { for: "reschedule-input" }, "New start (your time) "), input,
      h("button", { type: "submit", id: "reschedule-confirm", class: "primary" }, "Move the start"),
      h("button", { type: "button", onclick: () => fill(form) }, "Never mind"));
    f.addEventListener("submit", (event) => {
      event.preventDefault();
      const when = new Date(input.value);
      if (Number.isNaN(when.getTime())) return;
      act("reschedule", { start_at: when.toISOString() }).then(() => fill(form));
    });
    fill(form, f);
    input.focus();
  }

  async function act(name, body) {
    fill(actionStatus);
    try {
      await api("POST", `${path}/${name}`, body === undefined ? {} : { json: body });
      toast(`Campaign ${name === "cancel" ? "cancelled" : `${name}d`}.`);
    } catch (error) {
      fill(actionStatus, errorBox(error));
    }
    shownStatus = null;
    await refresh();
  }

  refresh();
  const timer = setInterval(() => {
    if (!FINAL.includes(shownStatus)) refresh();
  }, REFRESH_MS);
  return () => {
    stopped = true;
    clearInterval(timer);
    outcomes.destroy();
    activity.destroy();
  };
}

function eventItem(e) {
  const details = [];
  for (const key of ["reason", "error", "batch_no", "start_at", "record_id"]) {
    if (e[key] !== undefined && e[key] !== null) details.push(h("span", { class: "detail", dataset: { key } }, `${key.replace("_", " ")}: ${e[key]}`));
  }
  const bad = ERROR_KINDS.includes(e.kind) || (typeof e.reason === "string" && e.reason.startsWith("auto-paused"));
  return h("li", { class: bad ? "bad" : null, dataset: { kind: e.kind } },
    h("time", {}, fmt.time(e.at_ms)), " ", h("strong", {}, e.kind), " ", details);
}
