// The do-not-call list: search it (a bounded part of the list per request), add and remove
// numbers, and import a file in chunks the API takes (10,000 numbers per request). Adding needs
// the operate scope, removing the admin scope; the page offers only what the token allows.
import { api, ApiError, errorBox } from "./api.js";
import { confirmDialog, fill, fmt, h, toast } from "./dom.js";

const CHUNK = 10000;

export function dncView(el, ctx) {
  const canAdd = ctx.can("operate");
  const canRemove = ctx.can("admin");

  // --- search ---
  const q = h("input", { id: "dnc-q", placeholder: "a number, or some of its digits", size: 30 });
  const results = h("ul", { id: "dnc-results", class: "numbers" });
  const more = h("button", { type: "button", id: "dnc-more", hidden: true }, "Search further");
  const searchStatus = h("div", { id: "dnc-search-status" });
  let cursor = null;
  let found = 0;
  const searchForm = h("form", { class: "inline", id: "dnc-search" }, q,
    h("button", { type: "submit", class: "primary" }, "Search"));
  async function search(fresh) {
    if (fresh) {
      cursor = null;
      found = 0;
      fill(results);
    }
    fill(searchStatus);
    try {
      const { data, headers } = await api("GET", "/dnc/search", { query: { q: q.value.trim(), cursor } });
      cursor = headers.get("X-Next-Cursor");
      found += data.length;
      for (const phone of data) results.append(numberItem(phone));
      more.hidden = !cursor;
      fill(searchStatus, h("span", { class: "muted", id: "dnc-found" },
        `${fmt.number(found)} found${cursor ? " so far (the list is large: search further)" : ""}.`));
    } catch (error) {
      fill(searchStatus, errorBox(error));
    }
  }
  searchForm.addEventListener("submit", (event) => {
    event.preventDefault();
    search(true);
  });
  more.addEventListener("click", () => search(false));

  function numberItem(phone) {
    const remove = h("button", {
      type: "button", class: "quiet danger", disabled: !canRemove,
      title: canRemove ? null : "needs a token with the admin scope", dataset: { phone },
    }, "Remove");
    const item = h("li", { dataset: { phone } }, h("span", { class: "mono" }, phone), " ", remove);
    remove.addEventListener("click", async () => {
      if (await removeNumbers([phone])) item.remove();
    });
    return item;
  }

  // --- add and remove ---
  const numbers = h("textarea", { id: "dnc-numbers", rows: 4, cols: 30, placeholder: "one number per line" });
  const editStatus = h("div", { id: "dnc-edit-status" });
  const add = h("button", { type: "button", id: "dnc-add", class: "primary", disabled: !canAdd,
    title: canAdd ? null : "needs a token with the operate scope" }, "Add to the list");
  const remove = h("button", { type: "button", id: "dnc-remove", class: "danger", disabled: !canRemove,
    title: canRemove ? null : "needs a token with the admin scope" }, "Remove from the list");
  const typed = () => numbers.value.split(/\r?\n/).map((s) => s.trim()).filter(Boolean);
  add.addEventListener("click", async () => {
    fill(editStatus);
    const phones = typed();
    if (!phones.length) return;
    try {
      const { data } = await api("POST", "/dnc", { json: { phones } });
      fill(editStatus, h("div", { class: "ok", id: "dnc-added" }, `${fmt.number(data.added)} added (${fmt.number(phones.length - data.added)} were on the list already).`));
      numbers.value = "";
    } catch (error) {
      fill(editStatus, errorBox(error, (field) => numberOf(field, phones)));
    }
  });
  remove.addEventListener("click", async () => {
    fill(editStatus);
    const phones = typed();
    if (phones.length && (await removeNumbers(phones))) numbers.value = "";
  });

  async function removeNumbers(phones) {
    const yes = await confirmDialog("Remove from the do-not-call list?",
      `${phones.length === 1 ? phones[0] : `${phones.length} numbers`} may be called again by campaigns submitted after this.`,
      "Remove");
    if (!yes) return false;
    try {
      const { data } = await api("DELETE", "/dnc", { json: { phones } });
      fill(editStatus, h("div", { class: "ok", id: "dnc-removed" }, `${fmt.number(data.removed)} removed.`));
      toast(`${data.removed} removed from the do-not-call list.`);
      return true;
    } catch (error) {
      fill(editStatus, errorBox(error, (field) => numberOf(field, phones)));
      return false;
    }
  }

  // --- import ---
  const file = h("input", { type: "file", id: "dnc-file", accept: ".csv,.txt,text/csv,text/plain" });
  const importButton = h("button", { type: "button", id: "dnc-import", class: "primary", disabled: !canAdd,
    title: canAdd ? null : "needs a token with the operate scope" }, "Import");
  const importStatus = h("div", { id: "dnc-import-status" });
  importButton.addEventListener("click", async () => {
    const chosen = file.files[0];
    if (!chosen) return;
    importButton.disabled = true;
    try {
      await importFile(chosen, importStatus);
    } finally {
      importButton.disabled = !canAdd;
    }
  });

  fill(el,
    h("h1", {}, "Do-not-call list"),
    h("p", { class: "muted" }, "Numbers on this list are never dialled: checked when a campaign is submitted and again just before each dial."),
    h("div", { class: "grid" },
      h("div", { class: "card" }, h("h2", {}, "Search"), searchForm, searchStatus, results, more),
      h("div", { class: "card" }, h("h2", {}, "Add or remove numbers"), numbers,
        h("div", { class: "actions" }, add, remove), editStatus,
        h("h2", {}, "Import a file"),
        h("p", { class: "muted" }, "A CSV with a phone column, or one number per line. Invalid numbers are reported by line and left out."),
        h("div", { class: "row" }, file, importButton), importStatus)));
  q.focus();
  return null;
}

/** An error's field `phones.3` as the number it names: "number 4 (202-555)". */
function numberOf(field, phones) {
  const match = /^(?:body\.)?phones\.(\d+)$/.exec(field);
  if (!match) return field;
  const index = Number(match[1]);
  return `number ${index + 1} (${phones[index]})`;
}

/** The numbers of a file, each with its line number: a `phone` column, or the first column. */
export function numbersOf(text) {
  const lines = text.split(/\r?\n/);
  const split = (line) => line.split(",").map((cell) => cell.trim().replace(/^"|"$/g, ""));
  const header = split(lines[0] || "").map((cell) => cell.toLowerCase());
  const column = header.indexOf("phone");
  const start = column >= 0 ? 1 : 0;
  const out = [];
  for (let i = start; i < lines.length; i += 1) {
    if (!lines[i].trim()) continue;
    const value = split(lines[i])[column >= 0 ? column : 0];
    if (value) out.push({ phone: value, line: i + 1 });
  }
  return out;
}

async function importFile(file, status) {
  const rows = numbersOf(await file.text());
  let added = 0;
  const rejected = [];
  const progress = h("div", { id: "dnc-import-progress" });
  fill(status, progress);
  for (let start = 0; start < rows.length; start += CHUNK) {
    let chunk = rows.slice(start, start + CHUNK);
    // A chunk with invalid numbers is refused whole (nothing changed): drop the numbers the
    // answer names, remember them with their lines, and send the rest again.
    for (let attempt = 0; attempt < 2 && chunk.length; attempt += 1) {
      try {
        const { data } = await api("POST", "/dnc", { json: { phones: chunk.map((r) => r.phone) } });
        added += data.added;
        chunk = [];
      } catch (error) {
        if (!(error instanceof ApiError) || error.status !== 422 || !error.body.errors || attempt > 0) {
          fill(status, errorBox(error));
          return;
        }
        const bad = new Set();
        for (const e of error.body.errors) {
          const match = /^(?:body\.)?phones\.(\d+)$/.exec(e.field);
          if (match) {
            bad.add(Number(match[1]));
            rejected.push({ ...chunk[Number(match[1])], reason: e.message });
          }
        }
        if (!bad.size) {
          fill(status, errorBox(error));
          return;
        }
        chunk = chunk.filter((_, i) => !bad.has(i));
      }
    }
    fill(progress, `${fmt.number(Math.min(start + CHUNK, rows.length))} of ${fmt.number(rows.length)} numbers sent…`);
  }
  fill(status,
    h("div", { class: "ok", id: "dnc-imported", dataset: { added: String(added), rejected: String(rejected.length) } },
      `${fmt.number(added)} added, ${fmt.number(rejected.length)} rejected (${fmt.number(rows.length)} numbers read).`),
    rejected.length ? h("ul", { id: "dnc-import-rejected" }, rejected.slice(0, 100).map((r) =>
      h("li", {}, `line ${r.line}: `, h("span", { class: "mono" }, r.phone), ` (${r.reason})`))) : null);
}
