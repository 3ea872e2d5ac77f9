// A tiny DOM builder: API strings only ever become text nodes, never markup.

/** h("td", {class: "num"}, "1,234") -> <td class="num">1,234</td>; null children are skipped. */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function byId(id) {
  return document.getElementById(id);
}

/** Set an element's text (and keep the raw value in data-value for tests and tooling). */
export function setText(id, text, raw) {
  const el = byId(id);
  el.textContent = text;
  if (raw === undefined) delete el.dataset.value;
  else el.dataset.value = raw === null ? "" : String(raw);
  return el;
}

export function replaceChildren(id, ...children) {
  byId(id).replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined));
}
