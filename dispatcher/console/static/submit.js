// Submit a campaign: a spec (JSON) and a contacts file. The dry run comes first and its report is
// shown; the real submission is offered only for the inputs that dry run was made of.
import { api, errorBox } from "./api.js";
import { fill, fmt, h } from "./dom.js";

const EXAMPLE_SPEC = {
  name: "Appointment reminders",
  batch_size: 50,
  dials_per_minute: 600,
  call: {
    dutyPhone: 1,
    lang: "en-US",
    record: { text: "Hello, this is a reminder of your appointment tomorrow. Press 1 to confirm." },
    ivrs: [{ digit: 1, smsText: "Thank you, your appointment is confirmed." }],
  },
};

export function submitView(el, ctx) {
  const allowed = ctx.can("operate");
  const spec = h("textarea", { id: "spec", rows: 16, cols: 80, spellcheck: "false" },
    JSON.stringify(EXAMPLE_SPEC, null, 2));
  const specFile = h("input", { type: "file", id: "spec-file", accept: ".json,application/json" });
  const contacts = h("input", { type: "file", id: "contacts-file", accept: ".csv,.jsonl,.txt,text/csv" });
  const strict = h("input", { type: "checkbox", id: "strict" });
  const check = h("button", { type: "button", id: "dry-run", class: "primary", disabled: !allowed }, "Check (dry run)");
  const submit = h("button", { type: "button", id: "submit", class: "primary", disabled: true },
    "Submit the campaign");
  const report = h("div", { id: "dry-run-report" });
  const result = h("div", { id: "submit-status" });
  let checked = null; // the inputs the last clean dry run was made of

  const reset = () => {
    checked = null;
    submit.disabled = true;
    fill(result);
  };
  for (const input of [spec, contacts, strict]) input.addEventListener("input", reset);
  contacts.addEventListener("change", reset);
  specFile.addEventListener("change", async () => {
    const file = specFile.files[0];
    if (file) spec.value = await file.text();
    reset();
  });

  fill(el,
    h("h1", {}, "New campaign"),
    allowed ? null : h("div", { class: "error", id: "submit-not-allowed" },
      "This token cannot submit campaigns (it needs the operate scope)."),
    h("div", { class: "card" },
      h("label", { for: "spec" }, "Campaign spec (JSON; the same fields as the CLI's TOML or JSON spec)"),
      spec,
      h("div", { class: "row" }, h("label", { for: "spec-file" }, "…or load a JSON file: "), specFile),
      h("div", { class: "row" }, h("label", { for: "contacts-file" }, "Contacts (CSV with a phone column, or JSON Lines): "), contacts),
      h("div", { class: "row" }, strict, h("label", { for: "strict" }, " Strict: refuse everything if any row is rejected")),
      h("div", { class: "actions" }, check, submit)),
    report, result);

  function inputs() {
    let parsed;
    try {
      parsed = JSON.parse(spec.value);
    } catch (error) {
      throw new Error(`The spec is not JSON: ${error.message}`);
    }
    const file = contacts.files[0];
    if (!file) throw new Error("Choose a contacts file.");
    const form = new FormData();
    form.append("spec", JSON.stringify(parsed));
    form.append("file", file, file.name);
    return { form, strict: strict.checked, key: `${spec.value}\u0000${file.name}\u0000${file.size}\u0000${file.lastModified}\u0000${strict.checked}` };
  }

  check.addEventListener("click", async () => {
    reset();
    fill(report);
    let request;
    try {
      request = inputs();
    } catch (error) {
      fill(report, h("div", { class: "error", role: "alert" }, error.message));
      return;
    }
    check.disabled = true;
    try {
      const { data } = await api("POST", "/campaigns", {
        form: request.form, query: { dry_run: "true", strict: request.strict ? "true" : "" },
      });
      fill(report, dryRunReport(data));
      if (!data.would_be_refused_because) {
        checked = request.key;
        submit.disabled = false;
      }
    } catch (error) {
      fill(report, errorBox(error));
    } finally {
      check.disabled = !allowed;
    }
  });

  submit.addEventListener("click", async () => {
    let request;
    try {
      request = inputs();
    } catch (error) {
      fill(result, h("div", { class: "error" }, error.message));
      return;
    }
    if (request.key !== checked) {
      reset();
      fill(result, h("div", { class: "error" }, "The inputs changed since the dry run: check again."));
      return;
    }
    submit.disabled = true;
    try {
      const { data } = await api("POST", "/campaigns", {
        form: request.form, query: { strict: request.strict ? "true" : "" },
      });
      window.location.hash = `#/campaigns/${encodeURIComponent(data.campaign_id)}`;
    } catch (error) {
      fill(result, errorBox(error));
    }
  });
  return null;
}

function dryRunReport(r) {
  const row = (label, value, id) => h("tr", {}, h("th", {}, label), h("td", { id, class: "n" }, value));
  const rejected = Object.entries(r.rejected_by_reason || {});
  const zones = Object.entries(r.batches_by_zone || {});
  return h("div", { class: "card", id: "dry-run-card" },
    h("h2", {}, "Dry run: what the submission would do"),
    r.would_be_refused_because
      ? h("div", { class: "error", id: "would-be-refused" }, `It would be refused: ${r.would_be_refused_because}`)
      : h("div", { class: "ok" }, "Nothing was written. Submit to start it."),
    h("table", { class: "compact" }, h("tbody", {},
      row("would dial", fmt.number(r.would_dial), "dry-would-dial"),
      row("duplicates dropped", fmt.number(r.duplicates), "dry-duplicates"),
      row("blocked (do-not-call)", fmt.number(r.blocked), "dry-blocked"),
      row("rejected", fmt.number(r.rejected), "dry-rejected"),
      row("batches", fmt.number(r.batches), "dry-batches"),
      row("text-to-speech generations", fmt.number(r.generated_audio_requests), "dry-tts"),
      row("estimated duration", fmt.duration(r.estimated_duration_s), "dry-duration"),
      row("estimated cost", fmt.number(r.estimated_cost), "dry-cost"))),
    zones.length ? h("div", {}, h("h3", {}, "Batches per time zone"), h("ul", { id: "dry-zones" },
      zones.map(([zone, n]) => h("li", {}, `${zone}: ${n}`)))) : null,
    rejected.length ? h("div", {}, h("h3", {}, "Rejected rows"),
      h("ul", {}, rejected.map(([reason, n]) => h("li", {}, `${reason}: ${n}`))),
      h("table", { class: "compact", id: "dry-rejected-rows" },
        h("thead", {}, h("tr", {}, h("th", {}, "row"), h("th", {}, "reason"), h("th", {}, "value"))),
        h("tbody", {}, (r.rejected_rows || []).map((x) => h("tr", {}, h("td", {}, x.row),
          h("td", {}, x.reason), h("td", { class: "mono" }, x.value)))))) : null);
}
