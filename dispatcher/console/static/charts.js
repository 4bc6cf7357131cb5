// Charts over Chart.js (vendored, loaded as a classic script before the modules). Every chart has
// its numbers in a table beside it too: for screen readers, for copying, and for the tests.
import { fill, fmt, h } from "./dom.js";

export const OUTCOME_COLOURS = {
  completed: "#2e7d32",
  no_answer: "#f9a825",
  busy: "#ef6c00",
  failed: "#c62828",
  invalid: "#6d4c41",
  blocked: "#5e35b1",
  cancelled: "#757575",
  unknown: "#ad1457",
  expired: "#90a4ae",
};
const DIALS_COLOUR = "#1565c0";

function chartLib() {
  return typeof window.Chart === "function" ? window.Chart : null;
}

function make(canvas, config) {
  const Chart = chartLib();
  if (!Chart) return null;
  return new Chart(canvas, {
    ...config,
    options: { animation: false, responsive: true, maintainAspectRatio: false, ...config.options },
  });
}

/** A doughnut of contacts by outcome (terminal states), with its table. */
export function outcomeChart() {
  const canvas = h("canvas", { id: "outcome-canvas", role: "img", "aria-label": "Outcomes" });
  const table = h("tbody", { id: "outcome-data" });
  let chart = null;
  const el = h("div", { class: "chart-box" },
    h("div", { class: "chart small" }, canvas),
    h("details", {}, h("summary", {}, "Outcome numbers"),
      h("table", { class: "compact" }, h("thead", {}, h("tr", {}, h("th", {}, "outcome"),
        h("th", {}, "contacts"))), table)));
  function update(counts) {
    const states = Object.keys(OUTCOME_COLOURS).filter((s) => counts[s]);
    fill(table, states.map((s) => h("tr", { dataset: { outcome: s } }, h("td", {}, s),
      h("td", { class: "n" }, fmt.number(counts[s])))));
    const data = {
      labels: states,
      datasets: [{
        data: states.map((s) => counts[s]),
        backgroundColor: states.map((s) => OUTCOME_COLOURS[s]),
      }],
    };
    if (!chart) {
      chart = make(canvas, {
        type: "doughnut",
        data,
        options: { plugins: { legend: { position: "right" } } },
      });
    } else {
      chart.data = data;
      chart.update();
    }
  }
  return { el, update, destroy: () => chart && chart.destroy() };
}

/** Dials (a line) and outcomes (stacked bars) per minute over the activity window. */
export function activityChart() {
  const canvas = h("canvas", { id: "activity-canvas", role: "img",
    "aria-label": "Dials and outcomes per minute" });
  const table = h("tbody", { id: "activity-data" });
  let chart = null;
  const el = h("div", { class: "chart-box" },
    h("div", { class: "chart wide" }, canvas),
    h("details", {}, h("summary", {}, "Per-minute numbers"),
      h("table", { class: "compact" }, h("thead", {}, h("tr", {}, h("th", {}, "minute"),
        h("th", {}, "dials"), h("th", {}, "outcomes"))), table)));

  function update(activity) {
    const start = activity.from_ms;
    const count = Math.max(1, Math.floor((activity.until_ms - start) / 60000) + 1);
    const byMinute = new Map(activity.minutes.map((m) => [m.minute_ms, m]));
    const minutes = Array.from({ length: count }, (_, i) => start + i * 60000);
    const outcomes = Object.keys(OUTCOME_COLOURS)
      .filter((s) => activity.minutes.some((m) => m.outcomes[s]));
    const data = {
      labels: minutes.map(fmt.clock),
      datasets: [
        {
          type: "line", label: "dials", borderColor: DIALS_COLOUR, backgroundColor: DIALS_COLOUR,
          data: minutes.map((m) => (byMinute.get(m) || { dials: 0 }).dials), pointRadius: 0,
          order: 0,
        },
        ...outcomes.map((s) => ({
          type: "bar", label: s, backgroundColor: OUTCOME_COLOURS[s], stack: "outcomes", order: 1,
          data: minutes.map((m) => ((byMinute.get(m) || { outcomes: {} }).outcomes[s] || 0)),
        })),
      ],
    };
    fill(table, activity.minutes.slice().reverse().map((m) => h("tr",
      { dataset: { minute: String(m.minute_ms), dials: String(m.dials) } },
      h("td", {}, fmt.clock(m.minute_ms)), h("td", { class: "n" }, fmt.number(m.dials)),
      h("td", {}, Object.entries(m.outcomes).map(([s, n]) => h("span",
        { class: "pair", dataset: { outcome: s, n: String(n) } }, `${s} ${n}`))))));
    if (!chart) {
      chart = make(canvas, {
        type: "bar",
        data,
        options: {
          scales: { x: { stacked: true, ticks: { maxTicksLimit: 12 } },
            y: { stacked: true, beginAtZero: true, title: { display: true, text: "per minute" } } },
          plugins: { legend: { position: "bottom" } },
        },
      });
    } else {
      chart.data = data;
      chart.update();
    }
  }
  return { el, update, destroy: () => chart && chart.destroy() };
}
