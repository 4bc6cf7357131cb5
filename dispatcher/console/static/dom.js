// Building the page with DOM calls only: text always goes in as text, never parsed as HTML, so a
// campaign's name, a pause reason or a provider's error message cannot become markup or script.

/** An element: `h("a", {href: "#/x", class: "y"}, "text", child)`. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (typeof value !== "string" && key in el) el[key] = value; // disabled, value, max...
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

/** Append children (nodes, or anything else as text), skipping null, undefined and false. */
export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** Replace an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

export const fmt = {
  number(n) {
    return n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US");
  },
  percent(part, whole) {
    return whole > 0 ? `${Math.floor((100 * part) / whole)}%` : "–";
  },
  time(ms) {
    if (!ms) return "–";
    const d = new Date(ms);
    const pad = (n) => String(n).padStart(2, "0");
    return (
      `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
      `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
    );
  },
  clock(ms) {
    const d = new Date(ms);
    return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
  },
  duration(s) {
    if (s === null || s === undefined) return "–";
    if (s < 60) return `${Math.round(s)} s`;
    if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
    return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
  },
};

/** A status badge whose class (and so colour) follows the status. */
export function badge(status) {
  const known = ["draft", "scheduled", "running", "paused", "finished", "cancelled"];
  const cls = known.includes(status) ? status : "other";
  return h("span", { class: `badge badge-${cls}`, dataset: { status } }, status);
}

/** A progress bar with its caption: done of total. */
export function progressBar(done, total) {
  return h(
    "div",
    { class: "progress" },
    h("progress", { max: Math.max(total, 1), value: done }),
    h("span", { class: "progress-text" }, `${fmt.number(done)} / ${fmt.number(total)}`,
      ` (${fmt.percent(done, total)})`),
  );
}

/** A short message at the bottom of the screen. */
export function toast(message) {
  const el = document.getElementById("toast");
  fill(el, message);
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, 4000);
}

/** Ask for a confirmation in a modal dialog; resolves true when confirmed. */
export function confirmDialog(title, text, confirmLabel) {
  return new Promise((resolve) => {
    const yes = h("button", { type: "button", class: "danger", id: "confirm-yes" }, confirmLabel);
    const no = h("button", { type: "button", id: "confirm-no" }, "Keep it");
    const dialog = h("dialog", { class: "confirm", id: "confirm" },
      h("h2", {}, title), h("p", {}, text), h("div", { class: "actions" }, no, yes));
    const close = (answer) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    yes.addEventListener("click", () => close(true));
    no.addEventListener("click", () => close(false));
    dialog.addEventListener("cancel", () => close(false));
    document.body.append(dialog);
    dialog.showModal();
    no.focus();
  });
}
